import { mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parse, stringify, TomlDate, TomlError } from 'smol-toml';
import { ProvError } from '../errors/index.js';
import { expandHome, type UserDirs } from '../config/paths.js';

/**
 * The workspace registry `<config home>/workspaces.toml` (spec/config.md §11): which
 * workspaces exist, where, and which is active. Written only atomically under a lock;
 * a damaged file stops the command and is never rewritten.
 */

export interface RegistryEntry {
  path: string;
  last_used?: string;
  default_infra?: string;
  default_environment?: string;
}

export interface WorkspaceRegistry {
  version: 1;
  active?: string;
  workspaces: Record<string, RegistryEntry>;
}

export function registryFile(dirs: UserDirs): string {
  return join(dirs.configHome, 'workspaces.toml');
}

function invalid(file: string, message: string, line?: number, column?: number): ProvError {
  return new ProvError('REGISTRY_INVALID', `workspace registry is damaged: ${message}`, {
    location: { file, line, column },
    hint: `fix or move the file by hand (it is never rewritten while damaged); \`provisioning workspace register <name> <path>\` re-adds entries to a fresh one`,
  });
}

export function readRegistry(dirs: UserDirs): WorkspaceRegistry {
  const file = registryFile(dirs);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, workspaces: {} };
    throw e;
  }
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) throw invalid(file, e.message.split('\n')[0]!, e.line, e.column);
    throw e;
  }
  const allowed = new Set(['version', 'active', 'workspaces']);
  for (const k of Object.keys(doc)) if (!allowed.has(k)) throw invalid(file, `unknown key \`${k}\``);
  if (doc.version !== undefined && doc.version !== 1) throw invalid(file, `unsupported version ${String(doc.version)} (expected 1)`);
  if (doc.active !== undefined && typeof doc.active !== 'string') throw invalid(file, '`active` must be a string');
  const ws = (doc.workspaces ?? {}) as Record<string, unknown>;
  if (typeof ws !== 'object' || Array.isArray(ws)) throw invalid(file, '`workspaces` must be a table');
  const out: WorkspaceRegistry = { version: 1, workspaces: {} };
  if (typeof doc.active === 'string') out.active = doc.active;
  for (const [name, raw] of Object.entries(ws)) {
    const e = raw as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || typeof e.path !== 'string') throw invalid(file, `[workspaces.${name}] needs a string \`path\``);
    const entry: RegistryEntry = { path: e.path };
    if (e.last_used !== undefined) entry.last_used = e.last_used instanceof Date ? e.last_used.toISOString().replace(/\.000Z$/, 'Z') : String(e.last_used);
    for (const k of ['default_infra', 'default_environment'] as const) {
      if (e[k] !== undefined) {
        if (typeof e[k] !== 'string') throw invalid(file, `[workspaces.${name}].${k} must be a string`);
        entry[k] = e[k] as string;
      }
    }
    for (const k of Object.keys(e)) {
      if (!['path', 'last_used', 'default_infra', 'default_environment'].includes(k)) throw invalid(file, `unknown key \`${k}\` in [workspaces.${name}]`);
    }
    out.workspaces[name] = entry;
  }
  if (out.active !== undefined && !out.workspaces[out.active]) throw invalid(file, `active workspace '${out.active}' has no [workspaces.${out.active}] entry`);
  return out;
}

/** `last_used` in whole seconds, as spec/config.md §11 shows it (TomlDate always writes milliseconds). */
class SecondsDate extends TomlDate {
  override toISOString(): string {
    return super.toISOString().replace(/\.000Z$/, 'Z');
  }
}

function serialize(reg: WorkspaceRegistry): string {
  const workspaces: Record<string, Record<string, unknown>> = {};
  for (const name of Object.keys(reg.workspaces).sort()) {
    const e = reg.workspaces[name]!;
    const t: Record<string, unknown> = { path: e.path };
    if (e.last_used) t.last_used = new SecondsDate(e.last_used);
    if (e.default_infra) t.default_infra = e.default_infra;
    if (e.default_environment) t.default_environment = e.default_environment;
    workspaces[name] = t;
  }
  const doc: Record<string, unknown> = { version: 1 };
  if (reg.active) doc.active = reg.active;
  doc.workspaces = workspaces;
  return '# Written by provisioning; edit with `provisioning workspace …` commands.\n' + stringify(doc) + '\n';
}

/**
 * Read-modify-write under the registry lock. The change function may throw to abort;
 * nothing is written then. The new file replaces the old one by rename, so a crash
 * leaves either the old or the new registry, never half of one.
 */
export async function updateRegistry<T>(dirs: UserDirs, change: (reg: WorkspaceRegistry) => T): Promise<T> {
  const file = registryFile(dirs);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const { default: lockfile } = await import('proper-lockfile'); // only writers pay for it
  const release = await lockfile.lock(file, {
    realpath: false, stale: 10_000, retries: { retries: 50, minTimeout: 20, maxTimeout: 200 },
    lockfilePath: `${file}.lock`,
  }).catch((e: unknown) => {
    throw new ProvError('LOCKED', `workspace registry is locked by another provisioning process (${file}.lock)`, {
      hint: 'wait for the other command to finish; a lock left by a crashed process expires after 10 s', cause: e,
    });
  });
  try {
    const reg = readRegistry(dirs);
    const result = change(reg);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, serialize(reg), { mode: 0o600 });
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    return result;
  } finally {
    await release();
  }
}

// ── paths and times of entries ──────────────────────────────────────────────────

type Env = Record<string, string | undefined>;

/** Symlinks resolved where the path exists, so `/tmp/x` and its real path compare equal. */
export function canonicalPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** The absolute directory of an entry (`~` expanded). */
export function entryPath(entry: RegistryEntry, env: Env): string {
  return resolve(expandHome(entry.path, env));
}

/** How a directory is written into the registry: `~/…` below the home directory, else absolute. */
export function storedPath(abs: string, env: Env): string {
  const home = env.HOME;
  if (home) {
    const rel = relative(resolve(home), abs);
    if (rel && !rel.startsWith('..') && !rel.startsWith(sep) && !rel.includes(`..${sep}`)) return `~/${rel.split(sep).join('/')}`;
  }
  return abs;
}

/** The registered name of a directory, if any (names and paths are unique). */
export function nameOfPath(reg: WorkspaceRegistry, abs: string, env: Env): string | undefined {
  const want = canonicalPath(abs);
  return Object.entries(reg.workspaces).find(([, e]) => canonicalPath(entryPath(e, env)) === want)?.[0];
}

/** `last_used` values: UTC, whole seconds. */
export function registryNow(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}
