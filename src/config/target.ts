import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ProvError } from '../errors/index.js';
import { nameProblem } from '../model/names.js';
import { readRegistry, type RegistryEntry } from '../workspace/registry.js';
import { expandHome, type UserDirs } from './paths.js';

/**
 * Which workspace, environment and infra a command acts on (spec/config.md §2.4,
 * cli.md §1 "Target resolution"). Resolved before any layer file is read.
 */

export interface ResolvedWorkspace {
  /** the registry name, else undefined until the workspace file names it */
  name?: string;
  path: string;
  registered: boolean;
  entry?: RegistryEntry;
  /** how it was found: `--workspace`, `PROVISIONING_WORKSPACE`, `cwd`, `registry` */
  source: string;
  /** the `:infra` suffix of a selector */
  infra?: string;
}

export const WORKSPACE_FILE = 'provisioning.toml';

const isDir = (p: string) => { try { return statSync(p).isDirectory(); } catch { return false; } };
const real = (p: string) => { try { return realpathSync(p); } catch { return resolve(p); } };

function noWorkspace(message: string, hint = '`provisioning workspace init <name>` creates one; `provisioning workspace activate <name>` selects a registered one; `provisioning workspace list` shows them'): ProvError {
  return new ProvError('NO_WORKSPACE', message, { hint });
}

/** `name`, `name:infra`, a path, or `path:infra`. */
function splitSelector(sel: string): { ws: string; infra?: string } {
  const i = sel.lastIndexOf(':');
  if (i > 0 && !nameProblem(sel.slice(i + 1)) && !sel.slice(i + 1).includes('/')) return { ws: sel.slice(0, i), infra: sel.slice(i + 1) };
  return { ws: sel };
}

const looksLikePath = (s: string) => s.includes('/') || s.includes(sep) || s.startsWith('.') || s.startsWith('~');

export function resolveWorkspace(
  select: string | undefined, env: Record<string, string | undefined>, cwd: string, dirs: UserDirs,
): ResolvedWorkspace | undefined {
  const reg = readRegistry(dirs);
  const byPath = (path: string, source: string, infra?: string): ResolvedWorkspace => {
    const abs = real(path);
    const entry = Object.entries(reg.workspaces).find(([, e]) => real(expandHome(e.path, env)) === abs);
    return { name: entry?.[0], path: abs, registered: Boolean(entry), entry: entry?.[1], source, infra };
  };
  const fromSelector = (raw: string, source: string): ResolvedWorkspace => {
    const { ws, infra } = splitSelector(raw);
    if (looksLikePath(ws)) {
      const p = resolve(cwd, expandHome(ws, env));
      if (!existsSync(join(p, WORKSPACE_FILE))) {
        throw noWorkspace(`${source} ${raw}: no ${WORKSPACE_FILE} in ${p}`, `\`provisioning workspace init <name> ${ws}\` creates a workspace there`);
      }
      return byPath(p, source, infra);
    }
    const entry = reg.workspaces[ws];
    if (!entry) {
      throw noWorkspace(`workspace '${ws}' is not registered (${source})`,
        `\`provisioning workspace list\` shows the registered ones; \`provisioning workspace register ${ws} <path>\` adds an existing directory; pass ./${ws} to mean a path`);
    }
    const p = real(expandHome(entry.path, env));
    if (!existsSync(join(p, WORKSPACE_FILE))) {
      throw noWorkspace(`workspace '${ws}' is registered at ${entry.path}, but ${isDir(p) ? `it has no ${WORKSPACE_FILE}` : 'the directory is gone'}`,
        `\`provisioning workspace remove ${ws}\` forgets it; \`provisioning workspace register ${ws} <path>\` points it elsewhere`);
    }
    return { name: ws, path: p, registered: true, entry, source, infra };
  };

  if (select) return fromSelector(select, '--workspace');
  if (env.PROVISIONING_WORKSPACE) return fromSelector(env.PROVISIONING_WORKSPACE, 'PROVISIONING_WORKSPACE');
  for (let d = resolve(cwd); ; d = dirname(d)) {
    if (existsSync(join(d, WORKSPACE_FILE))) return byPath(d, 'cwd');
    if (dirname(d) === d) break;
  }
  if (reg.active) return fromSelector(reg.active, 'registry');
  return undefined;
}

export function requireWorkspaceError(): ProvError {
  return noWorkspace('no workspace: this command needs one, and none was selected, found above the current directory or active in the registry');
}

/** `config/<env>.toml` files of a workspace, without `local-overrides`. */
export function listEnvironments(wsPath: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(join(wsPath, 'config')).filter((f) => f.endsWith('.toml')).map((f) => f.slice(0, -5)).filter((n) => n !== 'local-overrides');
  } catch { /* no config/ directory: no environment files */ }
  return names.sort();
}

export function listInfras(wsPath: string): string[] {
  try {
    return readdirSync(join(wsPath, 'infra'), { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

export function checkEnvironmentName(name: string, source: string): void {
  const why = name === 'local-overrides' ? '`local-overrides` is reserved for personal overrides' : nameProblem(name, 32);
  if (why) throw new ProvError('INVALID_ARGUMENT', `environment '${name}' (${source}) is not valid: ${why}`, { hint: 'environment names are like dev, staging, prod' });
}

export function resolveEnvironment(
  flag: string | undefined, env: Record<string, string | undefined>, ws: ResolvedWorkspace | undefined, fileDefault: string | undefined,
): { name: string; source: string } {
  const candidates: [string | undefined, string][] = [
    [flag, '--environment'], [env.PROVISIONING_ENV, 'PROVISIONING_ENV'],
    [ws?.entry?.default_environment, 'registry default_environment'], [fileDefault, 'workspace.default_environment'],
  ];
  const hit = candidates.find(([v]) => v);
  const [name, source] = hit ? [hit[0]!, hit[1]] : ['dev', 'default'];
  checkEnvironmentName(name, source);
  if (ws && name !== 'dev' && !existsSync(join(ws.path, 'config', `${name}.toml`))) {
    const available = ['dev', ...listEnvironments(ws.path).filter((e) => e !== 'dev')];
    throw new ProvError('ENV_NOT_CONFIGURED', `environment '${name}' is not configured; available: ${available.join(', ')}`, {
      location: { file: join(ws.path, 'config', `${name}.toml`) },
      hint: `create config/${name}.toml (\`provisioning config init --environment ${name}\`), or pick one of: ${available.join(', ')} (selected by ${source})`,
    });
  }
  return { name, source };
}

export interface InfraResolution { name?: string; source?: string; warnings: string[] }

export function resolveInfra(
  flag: string | undefined, env: Record<string, string | undefined>, cwd: string, ws: ResolvedWorkspace, fileDefault: string | undefined, require: boolean,
): InfraResolution {
  const infras = listInfras(ws.path);
  const warnings: string[] = [];
  const missing = (name: string, source: string) => new ProvError('NOT_FOUND', `infra '${name}' (${source}) does not exist in workspace ${ws.name ?? ws.path}`, {
    hint: infras.length ? `infras: ${infras.join(', ')}` : '`provisioning infra create <name>` adds one (infra definitions arrive with issue #3)',
  });
  const explicit: [string | undefined, string][] = [[flag, '--infra'], [ws.infra, 'the :infra suffix of the workspace selector'], [env.PROVISIONING_INFRA, 'PROVISIONING_INFRA']];
  for (const [v, source] of explicit) {
    if (!v) continue;
    if (!infras.includes(v)) throw missing(v, source);
    return { name: v, source, warnings };
  }
  const rel = relative(ws.path, real(cwd));
  if (rel && !rel.startsWith('..') && !isAbsolute(rel)) {
    const parts = rel.split(sep);
    if (parts[0] === 'infra' && parts[1] && infras.includes(parts[1])) return { name: parts[1], source: 'cwd', warnings };
  }
  for (const [v, source] of [[ws.entry?.default_infra, 'registry default_infra'], [fileDefault, 'workspace.default_infra']] as const) {
    if (!v) continue;
    if (infras.includes(v)) return { name: v, source, warnings };
    warnings.push(`${source} names infra '${v}', which does not exist in ${ws.path}/infra; ignored`);
  }
  if (infras.length === 1) return { name: infras[0], source: 'the only infra', warnings };
  if (require) {
    throw new ProvError('INFRA_REQUIRED', infras.length ? `which infra? workspace ${ws.name ?? basename(ws.path)} has ${infras.length}: ${infras.join(', ')}` : `workspace ${ws.name ?? basename(ws.path)} has no infra yet`, {
      hint: infras.length ? `pass --infra <name> (one of: ${infras.join(', ')}), or set workspace.default_infra` : 'create infra/<name>/ with a settings file (infra commands arrive with issue #3)',
    });
  }
  return { warnings };
}
