/**
 * Layered configuration (spec/config.md): nine layers merged low → high, environment
 * variables, interpolation, validation against one key table, and the origin of every value.
 *
 * PUBLIC API (used by the CLI dispatcher and the workspace commands; keep these names):
 *   loadConfig(opts: LoadOptions): Promise<Config>
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ProvError } from '../errors/index.js';
import { expandHome, userDirs, type UserDirs } from './paths.js';
import { collectProblems, type Problem } from './problems.js';
import { buildState, type LayerName } from './load.js';

export type { Problem } from './problems.js';
export type { LayerName } from './load.js';

export interface LoadOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  /** --workspace (name, path or name:infra), --infra, --environment */
  select: { workspace?: string; infra?: string; environment?: string };
  /** the CLI layer: raw `--set k=v` strings, and keys set by global flags (`--out` → output.format) */
  cli: { set: string[]; flags: { key: string; value: unknown; flag: string }[] };
  /** fail with NO_WORKSPACE when no workspace resolves (default false: layers 1–3, 8, 9 only) */
  requireWorkspace?: boolean;
  /** fail with INFRA_REQUIRED when no infra resolves */
  requireInfra?: boolean;
  /** file path → text to use instead of the file on disk (`config set` validates before writing) */
  overrides?: Record<string, string>;
  /** check one file as the given layer, on top of the defaults only (`validate config <file>`) */
  isolate?: { file: string; layer: LayerName; name?: string };
  /** frozen clock for now.* (tests) */
  now?: Date;
}

/** Where a value came from (spec/config.md §9). */
export interface Origin {
  /** default, mode, computed, system, user, workspace, env, infra, local, envvar, cli */
  layer: string;
  /** the environment, infra or mode name: `env:prod` has layer `env`, name `prod` */
  name?: string;
  file?: string;
  line?: number;
  column?: number;
  variable?: string;
  flag?: string;
}

export interface Target {
  workspace?: { name: string; path: string; registered: boolean };
  environment: string;
  infra?: string;
}

export interface LayerInfo {
  layer: string;
  /** `env:prod`, `infra:web`, `mode:solo`, else the layer */
  label: string;
  file?: string;
  exists: boolean;
  /** how many values the layer set */
  values: number;
}

export interface Leaf {
  key: string;
  value: unknown;
  origin: Origin;
  /** every layer that set the key, lowest first; the last one wins */
  history: { origin: Origin; value: unknown }[];
}

export interface Config {
  target: Target;
  dirs: UserDirs;
  mode: string;
  /** merged, interpolated, frozen values */
  values: Readonly<Record<string, unknown>>;
  get(key: string): unknown;
  origin(key: string): Origin | undefined;
  /** every layer that set a key, lowest first; the last one wins */
  history(key: string): { origin: Origin; value: unknown }[];
  /** every leaf, sorted by key */
  leaves(): Leaf[];
  /** what one layer set, as written (uninterpolated): `config show --scope` */
  layerLeaves(layer: string): Leaf[];
  layers: LayerInfo[];
  /** keys left unset because they depend on workspace data and there is no workspace */
  unresolved: Readonly<Record<string, string>>;
  warnings: { code: string; message: string }[];
}

export const originLabel = (o: Origin): string => (o.name ? `${o.layer}:${o.name}` : o.layer);

/**
 * Resolve the target, read and check every layer, merge, interpolate and validate.
 * Throws CONFIG_INVALID with every problem found (spec/config.md §10), or the resolution
 * errors of §2.4 (NO_WORKSPACE, ENV_NOT_CONFIGURED, INFRA_REQUIRED, …).
 */
export async function loadConfig(opts: LoadOptions): Promise<Config> {
  const state = buildState(opts);
  const errors = state.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) throw configInvalid(errors, state.problems.filter((p) => p.severity === 'warning'), state.config.layers);
  return state.config;
}

/** The CONFIG_INVALID error: at most 50 problems, sorted by layer, then line (§10). */
export function configInvalid(errors: Problem[], warnings: Problem[], layers: LayerInfo[]): ProvError {
  const list = collectProblems(errors);
  const n = errors.length;
  return new ProvError('CONFIG_INVALID', `${n} error${n === 1 ? '' : 's'} in configuration`, {
    hint: 'fix the values above; `provisioning config show --origin` shows which layer sets what',
    details: { errors: list, warnings: collectProblems(warnings), layers: layers.filter((l) => l.exists).length, ...(n > list.length ? { total: n } : {}) },
  });
}

/** The file of a writable layer (`config set/unset/edit/init --scope`). */
export function layerFile(scope: string, dirs: UserDirs, target: Target): string {
  const ws = target.workspace?.path;
  const needWs = () => {
    if (!ws) throw new ProvError('NO_WORKSPACE', `--scope ${scope} needs a workspace, and none is selected`, { hint: 'run inside a workspace, pass --workspace <name>, or use --scope user' });
    return ws;
  };
  switch (scope) {
    case 'user': return join(dirs.configHome, 'config.user.toml');
    case 'system':
      if (!dirs.systemFile) throw new ProvError('INVALID_ARGUMENT', 'there is no system file: PROVISIONING_HOME hides it and PROVISIONING_SYSTEM_CONFIG is not set');
      return dirs.systemFile;
    case 'workspace': return join(needWs(), 'provisioning.toml');
    case 'env': return join(needWs(), 'config', `${target.environment}.toml`);
    case 'local': return join(needWs(), 'config', 'local-overrides.toml');
    case 'infra':
      if (!target.infra) throw new ProvError('INFRA_REQUIRED', '--scope infra needs an infra, and none is selected', { hint: 'pass --infra <name>' });
      return join(needWs(), 'infra', target.infra, 'config.toml');
    default:
      throw new ProvError('INVALID_ARGUMENT', `--scope ${scope} has no file; writable scopes are user, workspace, env, infra, local`);
  }
}

/** Which layer a config file belongs to, from where it lives (`validate config <file>`). */
export function layerOfFile(file: string, dirs: UserDirs, wsPath: string | undefined): { layer: LayerName; name?: string } {
  const abs = resolve(file);
  if (abs === resolve(dirs.configHome, 'config.user.toml')) return { layer: 'user' };
  if (dirs.systemFile && abs === resolve(dirs.systemFile)) return { layer: 'system' };
  const root = wsPath ?? (existsSync(join(dirname(abs), 'provisioning.toml')) ? dirname(abs) : undefined);
  if (abs.endsWith(`${'/'}provisioning.toml`)) return { layer: 'workspace' };
  if (root) {
    if (abs === join(root, 'config', 'local-overrides.toml')) return { layer: 'local' };
    const m = /\/config\/([^/]+)\.toml$/.exec(abs);
    if (m && dirname(abs) === join(root, 'config')) return { layer: 'env', name: m[1] };
    const i = /\/infra\/([^/]+)\/config\.toml$/.exec(abs);
    if (i) return { layer: 'infra', name: i[1] };
  }
  return { layer: 'workspace' };
}

/** Home expansion and relative paths for `path` keys (§0). */
export function resolvePath(v: string, origin: Origin, ctx: { env: Record<string, string | undefined>; cwd: string; wsPath?: string }): string {
  if (v === '') return v;
  const p = expandHome(v, ctx.env);
  if (isAbsolute(p)) return p;
  if (origin.file && (origin.layer === 'user' || origin.layer === 'system')) return resolve(dirname(origin.file), p);
  if (ctx.wsPath && ['workspace', 'env', 'infra', 'local'].includes(origin.layer)) return resolve(ctx.wsPath, p);
  return resolve(ctx.wsPath ?? ctx.cwd, p);
}

export function readLayerText(file: string, overrides?: Record<string, string>): string | undefined {
  if (overrides && file in overrides) return overrides[file];
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

export { userDirs };
