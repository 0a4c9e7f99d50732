import { ACTION_SHORTCUTS, AREAS, SHORTCUTS } from './areas.js';
import { COMMANDS } from './commands.js';
import { GLOBAL_FLAGS } from './flags.js';
import type { AreaSpec, CommandDecl, CommandSpec } from './types.js';

export { AREAS, SHORTCUTS, ACTION_SHORTCUTS, GLOBAL_FLAGS };
export type * from './types.js';
export { CATEGORIES } from './types.js';

/** Fill the metadata a declaration leaves implicit (spec/cli.md §10). */
function complete(decl: CommandDecl, area: AreaSpec): CommandSpec {
  const side = decl.side_effect ?? 'read';
  const [areaName, ...rest] = decl.command.split(' ');
  const verb = rest.join('-') || 'run';
  const resource = areaName === 'taskserv' || areaName === 'server' || areaName === 'cluster' ? areaName : areaName!;
  const readVerb = side === 'read' || side === 'none';
  return {
    command: decl.command,
    aliases: decl.aliases ?? [],
    summary: decl.summary,
    category: decl.category ?? area.category,
    phase: decl.phase ?? area.phase,
    requires_auth: decl.requires_auth ?? side !== 'none',
    side_effect: side,
    min_permission: decl.min_permission ?? (readVerb ? 'read' : 'write'),
    requires_mfa: decl.requires_mfa ?? false,
    confirm: decl.confirm ?? side === 'delete',
    supports_check: side === 'write' || side === 'delete',
    long_running: decl.long_running ?? false,
    interactive: decl.interactive ?? false,
    audit_action: decl.audit_action ?? `${resource}:${readVerb && verb === 'list' ? 'read' : verb}`,
    args: decl.args ?? [],
    flags: decl.flags ?? [],
    examples: decl.examples ?? [],
    handler: decl.handler,
    pending: decl.pending,
  };
}

export interface Registry {
  areas: Map<string, AreaSpec>;
  /** area alias → canonical area */
  areaAliases: Map<string, string>;
  /** canonical area → subcommand word (canonical or alias) → spec */
  subs: Map<string, Map<string, CommandSpec>>;
  commands: CommandSpec[];
}

let cached: Registry | undefined;

export function registry(): Registry {
  if (cached) return cached;
  const areas = new Map(AREAS.map((a) => [a.name, a]));
  const areaAliases = new Map<string, string>();
  const claim = (word: string, owner: string) => {
    const prior = areaAliases.get(word);
    if (prior && prior !== owner) throw new Error(`command table: '${word}' names both '${prior}' and '${owner}'`);
    areaAliases.set(word, owner);
  };
  for (const a of AREAS) {
    claim(a.name, a.name);
    for (const al of a.aliases) claim(al, a.name);
  }
  // A shortcut that would shadow an area or alias is rejected at registration (§4).
  for (const sc of Object.keys(SHORTCUTS)) {
    if (areaAliases.has(sc)) throw new Error(`command table: shortcut '${sc}' shadows area '${areaAliases.get(sc)}'`);
  }
  const subs = new Map<string, Map<string, CommandSpec>>();
  const commands: CommandSpec[] = [];
  for (const decl of COMMANDS) {
    const [areaName, sub] = decl.command.split(' ');
    const area = areas.get(areaName!);
    if (!area || !sub) throw new Error(`command table: '${decl.command}' has no known area`);
    const spec = complete(decl, area);
    commands.push(spec);
    let m = subs.get(area.name);
    if (!m) subs.set(area.name, (m = new Map()));
    for (const word of [sub, ...spec.aliases]) {
      if (m.has(word)) throw new Error(`command table: '${area.name} ${word}' registered twice`);
      if (word in ACTION_SHORTCUTS) throw new Error(`command table: '${area.name} ${word}' shadows an action shortcut`);
      m.set(word, spec);
    }
  }
  cached = { areas, areaAliases, subs, commands };
  return cached;
}

/** The canonical subcommand words of an area (no aliases), in declaration order. */
export function subcommandsOf(area: string): CommandSpec[] {
  const m = registry().subs.get(area);
  return m ? [...new Set(m.values())] : [];
}

export function subName(spec: CommandSpec): string {
  return spec.command.split(' ').slice(1).join(' ');
}
