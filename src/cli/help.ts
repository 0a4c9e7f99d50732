import { ProvError } from '../errors/index.js';
import { usageLine } from './parse.js';
import { ACTION_SHORTCUTS, CATEGORIES, GLOBAL_FLAGS, SHORTCUTS, registry, subcommandsOf, subName } from './registry/index.js';
import type { AreaSpec, Category, CommandSpec, FlagSpec } from './registry/index.js';
import { closest } from './suggest.js';

/**
 * Help pages, all generated from the command table (spec/cli.md §5). Forms that mean the
 * same page resolve to the same topic before they get here.
 */

export type HelpTopic =
  | { kind: 'index' }
  | { kind: 'all' }
  | { kind: 'category'; category: Category }
  | { kind: 'area'; area: AreaSpec }
  | { kind: 'command'; spec: CommandSpec };

export function resolveTopic(words: string[], all = false): HelpTopic {
  if (all) return { kind: 'all' };
  if (words.length === 0) return { kind: 'index' };
  const reg = registry();
  let [first, ...rest] = words;
  if (SHORTCUTS[first!] && first !== 'oci-registry') [first, ...rest] = [...SHORTCUTS[first!]!.filter((w) => !w.startsWith('-')), ...rest];
  const area = reg.areaAliases.get(first!);
  // A word that names both an area and a category shows the area page (§5).
  if (!area) {
    if ((CATEGORIES as string[]).includes(first!)) return { kind: 'category', category: first as Category };
    const near = closest(first!, [...reg.areaAliases.keys(), ...CATEGORIES]);
    throw new ProvError('UNKNOWN_COMMAND', `no help topic '${words.join(' ')}'`, {
      hint: near.length ? `closest: ${near.join(', ')}` : 'run `provisioning help` for the list of areas and categories',
    });
  }
  const areaSpec = reg.areas.get(area)!;
  if (rest.length === 0) return { kind: 'area', area: areaSpec };
  const subs = reg.subs.get(area)!;
  const word = ACTION_SHORTCUTS[rest[0]!] && subs.has(ACTION_SHORTCUTS[rest[0]!]!) ? ACTION_SHORTCUTS[rest[0]!]! : rest[0]!;
  const spec = subs.get(word);
  if (!spec) {
    const near = closest(word, subs.keys());
    throw new ProvError('UNKNOWN_COMMAND', `no help topic '${area} ${word}'`, {
      hint: near.length ? `closest: ${near.map((n) => `${area} ${n}`).join(', ')}` : `run \`provisioning help ${area}\``,
    });
  }
  return { kind: 'command', spec };
}

const pad = (rows: [string, string][], indent = '  '): string[] => {
  const w = Math.max(0, ...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `${indent}${a.padEnd(w)}  ${b}`.trimEnd());
};

const flagLabel = (f: FlagSpec) =>
  `${f.short ? `-${f.short}, ` : '    '}--${f.type === 'boolean' && f.name === 'color' ? '[no-]color' : f.name}${f.value ? ` ${f.value}` : ''}`;

const areaLabel = (a: AreaSpec) => (a.aliases.length ? `${a.name} (${a.aliases.join(', ')})` : a.name);

function status(spec: CommandSpec): string {
  return spec.pending ? `  [not yet: ${spec.pending.replace(/ \(.*\)$/, '')}]` : '';
}

export function renderHelp(topic: HelpTopic): string {
  const reg = registry();
  const out: string[] = [];
  switch (topic.kind) {
    case 'index': {
      out.push('provisioning — infrastructure automation: definitions → plan → verified deploy', '',
        'Usage: provisioning [global flags] <area> [<subcommand>] [<args>...] [flags] [-- <passthrough>...]', '');
      for (const cat of CATEGORIES) {
        const areas = [...reg.areas.values()].filter((a) => a.category === cat);
        out.push(`${cat[0]!.toUpperCase()}${cat.slice(1)}:`, ...pad(areas.map((a) => [areaLabel(a), a.summary + (a.phase === 'phase_2' ? ' (phase 2)' : '')])), '');
      }
      out.push('Global flags:', ...pad(GLOBAL_FLAGS.map((f) => [flagLabel(f), f.summary])), '',
        'More: `provisioning help <area>`, `provisioning help <category>`, `provisioning help --all`,',
        '      `provisioning guide quickstart`, `provisioning guide shortcuts` (alias `sc`).');
      break;
    }
    case 'all': {
      out.push(...pad(reg.commands.map((c) => [c.command, c.summary + status(c)])));
      break;
    }
    case 'category': {
      out.push(`${topic.category} commands`, '');
      for (const a of [...reg.areas.values()].filter((x) => x.category === topic.category)) {
        out.push(`${areaLabel(a)} — ${a.summary}`, ...pad(subcommandsOf(a.name).map((c) => [subName(c), c.summary + status(c)])), '');
      }
      break;
    }
    case 'area': {
      const a = topic.area;
      const subs = subcommandsOf(a.name);
      out.push(`provisioning ${a.name} — ${a.summary}`, '', `Usage: provisioning ${a.name} <subcommand> [<args>...] [flags]`);
      if (a.default) out.push(`       provisioning ${a.name} [<args>...]   (runs \`${a.name} ${a.default}\`)`);
      out.push('', 'Subcommands:', ...pad(subs.map((c) => [subName(c) + (c.aliases.length ? ` (${c.aliases.join(', ')})` : ''), c.summary + status(c)])));
      if (a.aliases.length) out.push('', `Aliases: ${a.aliases.join(', ')}`);
      const shortcuts = Object.entries(SHORTCUTS).filter(([, exp]) => exp[0] === a.name).map(([s, exp]) => `${s} = ${exp.join(' ')}`);
      if (shortcuts.length) out.push(`Shortcuts: ${shortcuts.join(', ')}`);
      const others = [...reg.areas.values()].filter((x) => x.category === a.category && x.name !== a.name).map((x) => x.name);
      out.push('', `Run \`provisioning help ${a.name} <subcommand>\` for details.`, `Also in ${a.category}: ${others.join(', ')}`);
      break;
    }
    case 'command': {
      const c = topic.spec;
      out.push(`provisioning ${c.command} — ${c.summary}`, '', `Usage: ${usageLine(c)}`);
      if (c.pending) out.push('', `Not available yet: arrives with ${c.pending}.`);
      if (c.args.length) out.push('', 'Arguments:', ...pad(c.args.map((x) => [`<${x.name}>${x.variadic ? '...' : ''}`, `${x.required ? 'required' : 'optional'}${x.summary ? ` — ${x.summary}` : ''}`])));
      if (c.flags.length) {
        out.push('', 'Flags:', ...pad(c.flags.map((f) => [flagLabel(f) + (f.aliases?.length ? ` (also --${f.aliases.join(', --')})` : ''), f.summary + (f.choices ? ` [${f.choices.join('|')}]` : '')])));
      }
      out.push('', 'Global flags: see `provisioning help` (e.g. --check, --yes, --out, --infra, --workspace).');
      if (c.examples.length) out.push('', 'Examples:', ...c.examples.map((e) => `  ${e}`));
      if (c.aliases.length) out.push('', `Aliases: ${c.aliases.map((al) => `${c.command.split(' ')[0]} ${al}`).join(', ')}`);
      out.push('', `auth: ${c.requires_auth ? 'required in team modes' : 'none'} · side effect: ${c.side_effect} · permission: ${c.min_permission}` +
        ` · check mode: ${c.supports_check ? 'yes' : 'n/a'} · confirm: ${c.confirm ? 'yes' : 'no'} · phase: ${c.phase}`);
      break;
    }
  }
  return out.join('\n');
}

/** `help --out json`: the whole tree with metadata (used by completion and, later, MCP). */
export function helpDocument(): Record<string, unknown> {
  const reg = registry();
  return {
    global_flags: GLOBAL_FLAGS,
    shortcuts: SHORTCUTS,
    action_shortcuts: ACTION_SHORTCUTS,
    areas: [...reg.areas.values()].map((a) => ({ ...a, subcommands: subcommandsOf(a.name).map(subName) })),
    commands: reg.commands.map((c) => {
      const { handler: _h, pending, ...meta } = c;
      return { ...meta, available: !pending, ...(pending ? { arrives_with: pending } : {}) };
    }),
  };
}
