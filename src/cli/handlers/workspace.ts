import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { loadConfig, type Config } from '../../config/index.js';
import { expandHome, userDirs } from '../../config/paths.js';
import { listEnvironments, listInfras, requireWorkspaceError, resolveWorkspace } from '../../config/target.js';
import { ProvError } from '../../errors/index.js';
import { nameProblem, suggestName } from '../../model/names.js';
import { openStateDb } from '../../store/sqlite/open.js';
import { recordWorkspaceMigration } from '../../store/sqlite/workspace-migrations.js';
import { applyRestore, createBackup, defaultBackupPath, listBackups as listBackupArchives, planRestore } from '../../workspace/backup.js';
import { checkFormat, CURRENT_FORMAT, readWorkspaceFile, type FormatStatus } from '../../workspace/format.js';
import { committedFiles, createStateDirs, GITIGNORE_ENTRIES, stateDir, treeSize, WORKSPACE_FILE } from '../../workspace/layout.js';
import { withWorkspaceLock } from '../../workspace/lock.js';
import { applyMigration, planMigration, type FileChange } from '../../workspace/migrate.js';
import {
  canonicalPath, entryPath, nameOfPath, readRegistry, registryFile, registryNow, storedPath, updateRegistry,
  type RegistryEntry, type WorkspaceRegistry,
} from '../../workspace/registry.js';
import { renderWorkspace, SCHEMA_DIR, type WorkspaceTemplate } from '../../workspace/templates.js';
import type { Invocation, Result, View } from '../context.js';
import { cliVersion } from '../main.js';
import { didYouMean } from '../suggest.js';

/**
 * `workspace …` (spec/cli.md §11, config.md §1.3, §11, §12): create, register, switch,
 * validate, back up, restore and migrate workspaces. Registry writes go through
 * updateRegistry (atomic, locked); check mode computes the change and writes nothing.
 */

type Env = Record<string, string | undefined>;

interface Ws {
  name: string;
  path: string;
  registered: boolean;
  entry?: RegistryEntry;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function requireName(raw: string, what: string): void {
  const why = nameProblem(raw);
  if (!why) return;
  const fixed = suggestName(raw);
  throw new ProvError('INVALID_ARGUMENT', `invalid ${what} '${raw}': ${why}`, {
    hint: fixed && !nameProblem(fixed) ? `use '${fixed}'` : 'for example: demo, shop-prod, team-a',
  });
}

function notRegistered(name: string, reg: WorkspaceRegistry): ProvError {
  const close = didYouMean(name, Object.keys(reg.workspaces), (s) => `did you mean '${s}'? `) ?? '';
  return new ProvError('NO_WORKSPACE', `workspace '${name}' is not registered`, {
    hint: `${close}\`provisioning workspace list\` shows the registered workspaces; \`provisioning workspace register ${name} <path>\` adds an existing directory`,
  });
}

/** A workspace named on the command line: it must be registered and its directory must exist. */
function registered(inv: Invocation, name: string, opts: { mayBeGone?: boolean } = {}): Ws & { reg: WorkspaceRegistry; entry: RegistryEntry } {
  const reg = readRegistry(userDirs(inv.io.env));
  const entry = reg.workspaces[name];
  if (!entry) throw notRegistered(name, reg);
  const path = entryPath(entry, inv.io.env);
  if (!opts.mayBeGone && !existsSync(path)) {
    throw new ProvError('NO_WORKSPACE', `workspace '${name}' is registered at ${entry.path}, but the directory is gone`, {
      hint: `\`provisioning workspace remove ${name}\` forgets it; \`provisioning workspace register ${name} <path>\` after removing points it elsewhere`,
    });
  }
  return { name, path, registered: true, entry, reg };
}

/** `[<name>]` commands: the named workspace, else the selected one (--workspace, env, cwd, active). */
function selected(inv: Invocation, name: string | undefined): Ws {
  if (name) return registered(inv, name);
  const ws = resolveWorkspace(inv.globals.workspace, inv.io.env, inv.io.cwd, userDirs(inv.io.env));
  if (!ws) throw requireWorkspaceError();
  let fileName: string | undefined;
  try { fileName = readWorkspaceFile(ws.path).name; } catch { /* reported by the command itself */ }
  return { name: ws.name ?? fileName ?? basename(ws.path), path: ws.path, registered: ws.registered, entry: ws.entry };
}

/**
 * The configuration of one workspace as its own commands see it: that workspace selected,
 * its default environment and infra (selector variables of the caller do not apply).
 */
function workspaceConfig(inv: Invocation, wsPath: string): Promise<Config> {
  const env: Env = { ...inv.io.env };
  for (const k of ['PROVISIONING_WORKSPACE', 'PROVISIONING_ENV', 'PROVISIONING_INFRA']) delete env[k];
  return loadConfig({ cwd: wsPath, env, select: { workspace: wsPath }, cli: { set: [], flags: [] }, requireWorkspace: true });
}

const changeRows = (changes: FileChange[]) => changes.map((c) => [c.action, c.to ? `${c.path} → ${c.to}` : c.path, c.details]);

function planView(title: string, columns: string[], rows: unknown[][]): View {
  return { kind: 'text', text: `${title}\n\n${renderRows(columns, rows)}` };
}

/** A small aligned table inside a text view (for plans that carry a title line). */
function renderRows(columns: string[], rows: unknown[][]): string {
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => r.map((c) => (c === undefined || c === null ? '' : String(c))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

// ── init ─────────────────────────────────────────────────────────────────────────

function assertUnregistered(reg: WorkspaceRegistry, name: string, path: string, env: Env): void {
  const existing = reg.workspaces[name];
  if (existing) {
    throw new ProvError('ALREADY_EXISTS', `workspace '${name}' is already registered (at ${existing.path})`, {
      hint: `pick another name, or \`provisioning workspace remove ${name}\` first`,
    });
  }
  const other = nameOfPath(reg, path, env);
  if (other) {
    throw new ProvError('ALREADY_EXISTS', `${path} is already registered as workspace '${other}'`, {
      hint: `\`provisioning workspace activate ${other}\` uses it; \`provisioning workspace remove ${other}\` first to register it under another name`,
    });
  }
}

/** A validation error about the staging copy, re-pointed at the files the user will look for. */
function atTarget(e: unknown, staging: string, path: string): unknown {
  if (!(e instanceof ProvError)) return e;
  const fix = (v: unknown): unknown => {
    if (typeof v === 'string') return v.split(staging).join(path);
    if (Array.isArray(v)) return v.map(fix);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fix(x)]));
    return v;
  };
  return new ProvError(e.code, fix(e.message) as string, {
    hint: `${e.hint ? `${fix(e.hint) as string}; ` : ''}nothing was written`,
    location: fix(e.location) as ProvError['location'], details: fix(e.details) as Record<string, unknown>, cause: e,
  });
}

export async function init(inv: Invocation): Promise<Result> {
  const env = inv.io.env;
  const name = String(inv.args.name);
  requireName(name, 'workspace name');
  const template = (inv.flags.template as WorkspaceTemplate | undefined) ?? 'minimal';
  const provider = (inv.flags.provider as string | undefined) ?? 'local';
  requireName(provider, 'provider name');
  const path = resolve(inv.io.cwd, expandHome(String(inv.args.path ?? name), env));
  const activate = inv.flags.activate !== false;
  const dirs = userDirs(env);
  const reg = readRegistry(dirs);
  assertUnregistered(reg, name, path, env);

  const dirExists = existsSync(path);
  if (dirExists) {
    if (!statSync(path).isDirectory()) throw new ProvError('INVALID_ARGUMENT', `${path} exists and is not a directory`, { hint: 'give another <path>' });
    const entries = readdirSync(path);
    if (entries.length > 0 && inv.flags.overwrite !== true) {
      throw new ProvError('ALREADY_EXISTS', `${path} is not empty (${plural(entries.length, 'entry')})`, {
        hint: '--overwrite writes the workspace files into it (other files stay); or give another <path>',
      });
    }
  }

  const files = renderWorkspace(template, { name, provider, created: new Date().toISOString().slice(0, 10), cli_version: cliVersion() });
  const actions = [
    ...(dirExists ? [] : [{ action: 'create', kind: 'directory', name: path }]),
    ...files.map((f) => ({ action: existsSync(join(path, f.path)) ? 'update' : 'create', kind: 'file', name: f.path })),
    { action: 'create', kind: 'directory', name: '.provisioning/ (locks logs cache tmp backups; mode 0700)' },
    { action: 'create', kind: 'file', name: `${SCHEMA_DIR}/*.json (JSON Schemas for editors)` },
  ];
  const entry = { name, path: storedPath(path, env), active: activate };

  if (inv.globals.check) {
    return {
      data: { check: true, workspace: name, path, template, provider, actions, registry: { file: registryFile(dirs), entry } },
      view: planView(`Check mode — nothing will be changed   workspace ${name} · template ${template}`, ['action', 'kind', 'name'],
        [...actions.map((a) => [a.action, a.kind, a.name]), ['create', 'registry', `${name} → ${entry.path}${activate ? ' (active)' : ''}`]]),
    };
  }

  // Render into a staging directory next to the target and validate the result there, so a
  // template that does not pass `validate config` never leaves half a workspace behind.
  mkdirSync(dirname(path), { recursive: true });
  const staging = mkdtempSync(join(dirname(path), `.${basename(path)}.init-`));
  try {
    for (const f of files) {
      mkdirSync(dirname(join(staging, f.path)), { recursive: true });
      writeFileSync(join(staging, f.path), f.content);
    }
    await workspaceConfig(inv, staging).catch((e: unknown) => { throw atTarget(e, staging, path); });
    mkdirSync(path, { recursive: true });
    for (const f of files) {
      mkdirSync(dirname(join(path, f.path)), { recursive: true });
      renameSync(join(staging, f.path), join(path, f.path));
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  createStateDirs(path);
  // The schemas the editor files (.taplo.toml, .vscode/settings.json) point at.
  const { writeSchemas } = await import('../../infra/schemas.js');
  writeSchemas(join(path, SCHEMA_DIR));

  await updateRegistry(dirs, (r) => {
    assertUnregistered(r, name, path, env);
    r.workspaces[name] = { path: storedPath(path, env), ...(activate ? { last_used: registryNow() } : {}) };
    if (activate) r.active = name;
  });
  inv.info(`workspace '${name}' created from template '${template}'${activate ? ' and activated' : ''}; next: cd ${path} && provisioning config show --origin`);
  const data = { workspace: name, path, template, provider, active: activate, files: files.map((f) => f.path) };
  return { data, view: { kind: 'kv', entries: [['workspace', name], ['path', path], ['template', template], ['provider', provider], ['active', activate], ['files', files.length]] } };
}

// ── list, active, info ───────────────────────────────────────────────────────────

export async function list(inv: Invocation): Promise<Result> {
  const env = inv.io.env;
  const reg = readRegistry(userDirs(env));
  const rows = Object.keys(reg.workspaces).sort().map((name) => {
    const e = reg.workspaces[name]!;
    const abs = entryPath(e, env);
    const missing = !existsSync(join(abs, WORKSPACE_FILE));
    let fileInfra: string | undefined;
    if (!missing) {
      try {
        const ws = readWorkspaceFile(abs).doc.workspace as Record<string, unknown> | undefined;
        if (typeof ws?.default_infra === 'string' && ws.default_infra) fileInfra = ws.default_infra;
      } catch { /* a damaged workspace file shows up in `workspace validate`, not here */ }
    }
    return {
      name, path: e.path, active: reg.active === name, default_infra: e.default_infra ?? fileInfra ?? null,
      default_environment: e.default_environment ?? null, last_used: e.last_used ?? null, missing,
    };
  });
  return {
    data: rows,
    view: { kind: 'table', columns: ['', 'name', 'path', 'default infra', 'last used', 'status'],
      rows: rows.map((r) => [r.active ? '*' : '', r.name, r.path, r.default_infra ?? '', r.last_used ?? '', r.missing ? 'missing' : '']) },
  };
}

export async function active(inv: Invocation): Promise<Result> {
  const reg = readRegistry(userDirs(inv.io.env));
  if (!reg.active) {
    throw new ProvError('NO_WORKSPACE', 'no workspace is active', {
      hint: '`provisioning workspace activate <name>` selects one; `provisioning workspace list` shows them; `provisioning workspace init <name>` creates one',
    });
  }
  return { data: { name: reg.active, path: reg.workspaces[reg.active]!.path }, view: { kind: 'text', text: reg.active } };
}

/** The format check as a status instead of an error, for commands that report rather than refuse. */
function formatState(wsPath: string): { status: FormatStatus | undefined; problem?: ProvError } {
  try {
    return { status: checkFormat(wsPath) };
  } catch (e) {
    if (e instanceof ProvError && (e.code === 'WORKSPACE_MIGRATION_REQUIRED' || e.code === 'WORKSPACE_TOO_NEW')) return { status: undefined, problem: e };
    throw e;
  }
}

export async function info(inv: Invocation): Promise<Result> {
  const ws = selected(inv, inv.args.name as string | undefined);
  const reg = readRegistry(userDirs(inv.io.env));
  const wf = readWorkspaceFile(ws.path);
  const fmt = formatState(ws.path);
  let cfg: Config | undefined;
  let configError: string | undefined;
  if (fmt.status) {
    try {
      cfg = await workspaceConfig(inv, ws.path);
    } catch (e) {
      if (!(e instanceof ProvError)) throw e;
      configError = `${e.code}: ${e.message}`;
      inv.warn(`the configuration of '${ws.name}' does not validate (${e.message}); \`provisioning workspace validate ${ws.name}\` lists the problems`);
    }
  }
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const fileWs = (wf.doc.workspace ?? {}) as Record<string, unknown>;
  const fileProviders = (wf.doc.providers ?? {}) as Record<string, unknown>;
  const defaultProvider = str(cfg?.get('providers.default')) ?? str(fileProviders.default) ?? 'local';
  const providers = [...new Set([defaultProvider, ...Object.keys(fileProviders).filter((k) => k !== 'default' && typeof fileProviders[k] === 'object')])].sort();
  const data = {
    name: ws.name, path: ws.path, registered: ws.registered, active: reg.active === ws.name && ws.registered,
    description: str(fileWs.description) ?? '',
    infras: listInfras(ws.path),
    environments: [...new Set(['dev', ...listEnvironments(ws.path)])].sort(),
    default_infra: ws.entry?.default_infra ?? str(cfg?.get('workspace.default_infra')) ?? str(fileWs.default_infra) ?? null,
    default_environment: ws.entry?.default_environment ?? str(cfg?.get('workspace.default_environment')) ?? str(fileWs.default_environment) ?? 'dev',
    mode: cfg?.mode ?? str(wf.doc.mode) ?? 'solo',
    providers,
    default_provider: defaultProvider,
    format_version: wf.formatVersion,
    format_status: fmt.problem ? fmt.problem.code.toLowerCase() : fmt.status?.migrationAvailable ? 'migration_available' : 'current',
    state_size_bytes: treeSize(stateDir(ws.path)),
    ...(configError ? { config_error: configError } : {}),
  };
  if (fmt.problem) inv.warn(fmt.problem.message);
  return {
    data,
    view: { kind: 'kv', entries: [
      ['name', data.name], ['path', data.path], ['active', data.active], ['infras', data.infras], ['default infra', data.default_infra ?? ''],
      ['environments', data.environments], ['default environment', data.default_environment], ['mode', data.mode], ['providers', data.providers],
      ['format version', `${data.format_version} (${data.format_status.replace(/_/g, ' ')})`], ['state size', `${data.state_size_bytes} bytes`],
    ] },
  };
}

// ── activate, register, remove, delete ───────────────────────────────────────────

export async function activate(inv: Invocation): Promise<Result> {
  const raw = String(inv.args['name[:infra]']);
  const colon = raw.indexOf(':');
  const name = colon === -1 ? raw : raw.slice(0, colon);
  const infra = colon === -1 ? undefined : raw.slice(colon + 1);
  requireName(name, 'workspace name');
  if (infra !== undefined) requireName(infra, 'infra name');
  const ws = registered(inv, name);
  const status = checkFormat(ws.path);
  await workspaceConfig(inv, ws.path);
  if (infra !== undefined) {
    const infras = listInfras(ws.path);
    if (!infras.includes(infra)) {
      throw new ProvError('NOT_FOUND', `infra '${infra}' does not exist in workspace '${name}' (no ${join(ws.path, 'infra', infra)}/)`, {
        hint: infras.length ? `infras: ${infras.join(', ')}${didYouMean(infra, infras, (s) => `; did you mean '${s}'?`) ?? ''}` : 'the workspace has no infra yet',
      });
    }
  }
  if (status.migrationAvailable) inv.warn(`workspace '${name}' uses format ${status.version}; \`provisioning workspace migrate ${name}\` upgrades it to ${status.current}`);
  const changes = [
    { key: 'active', from: ws.reg.active ?? null, to: name },
    { key: `workspaces.${name}.last_used`, from: ws.entry.last_used ?? null, to: '<now>' },
    ...(infra !== undefined ? [{ key: `workspaces.${name}.default_infra`, from: ws.entry.default_infra ?? null, to: infra }] : []),
  ];
  if (inv.globals.check) {
    return { data: { check: true, registry: registryFile(userDirs(inv.io.env)), changes },
      view: planView('Check mode — nothing will be changed', ['key', 'from', 'to'], changes.map((c) => [c.key, c.from ?? '(unset)', c.to])) };
  }
  await updateRegistry(userDirs(inv.io.env), (r) => {
    const e = r.workspaces[name];
    if (!e) throw notRegistered(name, r);
    r.active = name;
    e.last_used = registryNow();
    if (infra !== undefined) e.default_infra = infra;
  });
  const defaultInfra = infra ?? ws.entry.default_infra ?? null;
  inv.info(`active workspace: ${name}${defaultInfra ? ` (default infra ${defaultInfra})` : ''}`);
  return { data: { active: name, path: ws.path, default_infra: defaultInfra, previous: ws.reg.active ?? null }, view: { kind: 'text', text: name } };
}

export async function register(inv: Invocation): Promise<Result> {
  const env = inv.io.env;
  const name = String(inv.args.name);
  requireName(name, 'workspace name');
  const path = resolve(inv.io.cwd, expandHome(String(inv.args.path), env));
  const wf = readWorkspaceFile(path);
  if (wf.name !== name) {
    throw new ProvError('INVALID_ARGUMENT', wf.name === undefined
      ? `${wf.file} sets no workspace.name; it must be '${name}' to register the directory under that name`
      : `${wf.file} says workspace.name = '${wf.name}', not '${name}'`, {
      location: { file: wf.file },
      hint: wf.name === undefined ? `add \`name = "${name}"\` under [workspace]` : `register it as '${wf.name}' (\`provisioning workspace register ${wf.name} ${path}\`), or change workspace.name`,
    });
  }
  const dirs = userDirs(env);
  assertUnregistered(readRegistry(dirs), name, path, env);
  const fmt = formatState(path);
  if (fmt.problem) inv.warn(fmt.problem.message);
  const makeActive = inv.flags.activate === true;
  const entry = { path: storedPath(canonicalPath(path), env) };
  if (inv.globals.check) {
    return { data: { check: true, registry: registryFile(dirs), changes: [{ action: 'create', name, path: entry.path, active: makeActive }] },
      view: planView('Check mode — nothing will be changed', ['action', 'name', 'path'], [['create', name, `${entry.path}${makeActive ? ' (active)' : ''}`]]) };
  }
  await updateRegistry(dirs, (r) => {
    assertUnregistered(r, name, path, env);
    r.workspaces[name] = { ...entry, ...(makeActive ? { last_used: registryNow() } : {}) };
    if (makeActive) r.active = name;
  });
  return { data: { registered: name, path: entry.path, active: makeActive }, view: { kind: 'kv', entries: [['registered', name], ['path', entry.path], ['active', makeActive]] } };
}

/** `workspace remove` (unregister) and `workspace delete` (unregister and delete the directory). */
export async function remove(inv: Invocation): Promise<Result> {
  const name = String(inv.args.name);
  const deleting = inv.spec.command === 'workspace delete';
  const ws = registered(inv, name, { mayBeGone: true });
  const dirs = userDirs(inv.io.env);
  const gone = !existsSync(ws.path);

  if (!deleting) {
    if (inv.globals.check) {
      return { data: { check: true, registry: registryFile(dirs), changes: [{ action: 'delete', name, path: ws.entry.path, was_active: ws.reg.active === name }] },
        view: planView('Check mode — nothing will be changed', ['action', 'name', 'path'], [['delete', name, `${ws.entry.path} (files stay)`]]) };
    }
    await inv.confirm(`Unregister workspace '${name}' (${ws.entry.path})? Its files stay.`);
    await unregister(inv, name);
    return { data: { removed: name, path: ws.path, files_kept: !gone, was_active: ws.reg.active === name }, view: { kind: 'text', text: `unregistered ${name}; files kept at ${ws.path}` } };
  }

  // Deleting a directory the registry merely points at is refused unless it really is this workspace.
  if (!gone) {
    let fileName: string | undefined;
    try { fileName = readWorkspaceFile(ws.path).name; } catch { /* refused below */ }
    if (fileName !== name) {
      throw new ProvError('WORKSPACE_INVALID', `refusing to delete ${ws.path}: it holds no ${WORKSPACE_FILE} with workspace.name = '${name}'`, {
        hint: `\`provisioning workspace remove ${name}\` only unregisters it; delete the directory by hand if you mean it`,
      });
    }
  }
  const count = gone ? 0 : countFiles(ws.path);
  const size = gone ? 0 : treeSize(ws.path);
  const actions = [
    { action: 'delete', kind: 'workspace', name, path: ws.path, files: count, bytes: size },
    { action: 'delete', kind: 'registry_entry', name, path: ws.entry.path },
  ];
  if (inv.globals.check) {
    return { data: { check: true, actions },
      view: planView('Check mode — nothing will be changed', ['action', 'kind', 'name', 'details'],
        [['delete', 'directory', ws.path, gone ? 'already gone' : `${plural(count, 'file')}, ${size} bytes`], ['delete', 'registry', name, ws.entry.path]]) };
  }
  await inv.confirm(`This deletes ${ws.path} (${plural(count, 'file')}, ${size} bytes) and unregisters workspace '${name}'.`, { typeName: name });
  await unregister(inv, name);
  rmSync(ws.path, { recursive: true, force: true });
  return { data: { deleted: name, path: ws.path, files: count }, view: { kind: 'text', text: `deleted workspace ${name} (${ws.path})` } };
}

function unregister(inv: Invocation, name: string): Promise<void> {
  return updateRegistry(userDirs(inv.io.env), (r) => {
    if (!r.workspaces[name]) throw notRegistered(name, r);
    delete r.workspaces[name];
    if (r.active === name) delete r.active;
  });
}

function countFiles(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : 1;
  return n;
}

// ── validate ─────────────────────────────────────────────────────────────────────

interface Finding {
  severity: 'error' | 'warning';
  code: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  hint?: string;
}


function fromError(e: ProvError, severity: Finding['severity'] = 'error'): Finding[] {
  const listed = e.details.errors as Record<string, unknown>[] | undefined;
  if (Array.isArray(listed) && listed.length > 0) {
    return listed.map((p) => ({
      severity, code: String(p.code), message: String(p.message),
      file: p.file as string | undefined, line: p.line as number | undefined, column: p.column as number | undefined, hint: p.hint as string | undefined,
    }));
  }
  return [{ severity, code: e.code, message: e.message, file: e.location?.file, line: e.location?.line, column: e.location?.column, hint: e.hint }];
}

/** Each infra: a valid directory name, exactly one settings file, and a definition that loads and validates. */
async function definitionFindings(wsPath: string, name: string, environment: string, env: Env): Promise<Finding[]> {
  const { listInfras: discoverInfras, loadInfra } = await import('../../model/discover.js');
  const out: Finding[] = [];
  for (const infra of await discoverInfras(wsPath)) {
    const why = nameProblem(infra.name);
    if (why) out.push({ severity: 'error', code: 'DEF_NAME', message: `infra directory '${infra.name}': ${why}`, file: infra.dir, hint: `rename it to '${suggestName(infra.name)}'` });
    if (infra.problem) {
      out.push(...fromError(new ProvError('DEFINITION_INVALID', infra.problem.message, { details: { errors: [infra.problem] } })));
      continue;
    }
    try {
      await loadInfra({ workspaceRoot: wsPath, infra: infra.name, env, context: { workspace: name, infra: infra.name, environment } });
    } catch (e) {
      if (!(e instanceof ProvError)) throw e;
      out.push(...fromError(e));
    }
  }
  return out;
}

function layoutFindings(wsPath: string, formatVersion: number): Finding[] {
  const out: Finding[] = [];
  for (const e of listEnvironments(wsPath)) {
    const why = nameProblem(e, 32);
    if (why) out.push({ severity: 'error', code: 'CONFIG_PATTERN', message: `environment file config/${e}.toml: ${why}`, file: join(wsPath, 'config', `${e}.toml`), hint: `rename it to config/${suggestName(e)}.toml` });
  }
  if (formatVersion >= 1 && existsSync(join(wsPath, 'config', 'local.toml'))) {
    out.push({ severity: 'warning', code: 'WORKSPACE_LAYOUT', message: 'config/local.toml is read as the environment \'local\', not as personal overrides', file: join(wsPath, 'config', 'local.toml'), hint: 'personal overrides belong in config/local-overrides.toml' });
  }
  const gi = join(wsPath, '.gitignore');
  const lines = existsSync(gi) ? new Set(readFileOr(gi).split(/\r?\n/).map((l) => l.trim())) : new Set<string>();
  const missing = GITIGNORE_ENTRIES.filter((e) => !lines.has(e) && !lines.has(e.replace(/\/$/, '')) && !lines.has(`/${e}`));
  if (missing.length > 0) out.push({ severity: 'warning', code: 'WORKSPACE_LAYOUT', message: `.gitignore does not ignore ${missing.join(', ')}`, file: gi, hint: 'state, personal overrides and decrypted files must stay out of git' });
  return out;
}

function readFileOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export async function validate(inv: Invocation): Promise<Result> {
  const ws = selected(inv, inv.args.name as string | undefined);
  const findings: Finding[] = [];
  let formatVersion: number | undefined;
  let configLayers = 0;
  try {
    const wf = readWorkspaceFile(ws.path);
    formatVersion = wf.formatVersion;
    if (wf.name === undefined) findings.push({ severity: 'error', code: 'CONFIG_REQUIRED', message: 'workspace.name is not set', file: wf.file, hint: `add \`name = "${ws.name}"\` under [workspace]` });
    else if (ws.registered && wf.name !== ws.name) {
      findings.push({ severity: 'error', code: 'WORKSPACE_NAME', message: `registered as '${ws.name}', but workspace.name = '${wf.name}'`, file: wf.file, hint: `set workspace.name = "${ws.name}", or re-register the directory as '${wf.name}'` });
    }
    findings.push(...layoutFindings(ws.path, wf.formatVersion));
    const fmt = formatState(ws.path);
    if (fmt.problem) findings.push(...fromError(fmt.problem));
    else if (fmt.status?.migrationAvailable) findings.push({ severity: 'warning', code: 'WORKSPACE_MIGRATION_AVAILABLE', message: `format ${fmt.status.version}; ${fmt.status.current} is current`, hint: `provisioning workspace migrate ${ws.name}` });
    if (fmt.status) {
      let environment = 'dev';
      try {
        const cfg = await workspaceConfig(inv, ws.path);
        configLayers = cfg.layers.filter((l) => l.exists).length;
        environment = cfg.target.environment;
        findings.push(...cfg.warnings.map((w) => ({ severity: 'warning' as const, code: w.code, message: w.message })));
      } catch (e) {
        if (!(e instanceof ProvError)) throw e;
        findings.push(...fromError(e));
        const warnings = e.details.warnings as Record<string, unknown>[] | undefined;
        if (Array.isArray(warnings)) findings.push(...warnings.map((w) => ({ severity: 'warning' as const, code: String(w.code), message: String(w.message), file: w.file as string | undefined, line: w.line as number | undefined })));
      }
      findings.push(...await definitionFindings(ws.path, ws.name, environment, inv.io.env));
    }
  } catch (e) {
    if (!(e instanceof ProvError)) throw e;
    findings.push(...fromError(e));
  }
  if (inv.flags.strict === true) for (const f of findings) f.severity = 'error';
  const errors = findings.filter((f) => f.severity === 'error');
  const warnings = findings.filter((f) => f.severity === 'warning');
  const strip = ({ severity: _s, ...f }: Finding) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined));
  const data = { workspace: ws.name, path: ws.path, valid: errors.length === 0, format_version: formatVersion ?? null, errors: errors.map(strip), warnings: warnings.map(strip) };
  const where = (f: Finding) => (f.file ? [f.file, f.line, f.column].filter((x) => x !== undefined).join(':') : '');
  const summary = errors.length === 0
    ? `✓ workspace ${ws.name} is valid (format ${formatVersion}, ${plural(configLayers, 'config layer')}${warnings.length ? `, ${plural(warnings.length, 'warning')}` : ''})`
    : `✗ workspace ${ws.name}: ${plural(errors.length, 'error')}, ${plural(warnings.length, 'warning')}`;
  const text = findings.length === 0 ? summary
    : `${summary}\n\n${renderRows(['severity', 'code', 'message', 'where'], findings.map((f) => [f.severity, f.code, f.hint ? `${f.message} (try: ${f.hint})` : f.message, where(f)]))}`;
  return { data, view: { kind: 'text', text }, exitCode: errors.length > 0 ? 3 : undefined };
}

// ── backup, list-backups, restore ────────────────────────────────────────────────

export async function backup(inv: Invocation): Promise<Result> {
  const ws = selected(inv, inv.args.name as string | undefined);
  const name = readWorkspaceFile(ws.path).name ?? ws.name;
  const output = inv.flags.output as string | undefined;
  const archive = output ? resolve(inv.io.cwd, expandHome(output, inv.io.env)) : defaultBackupPath(ws.path, name);
  if (inv.globals.check) {
    const { files } = committedFiles(ws.path);
    const withDb = existsSync(join(stateDir(ws.path), 'state.db'));
    return { data: { check: true, workspace: name, archive, files: files.length + (withDb ? 1 : 0) },
      view: { kind: 'text', text: `Check mode — nothing will be changed\nwould write ${archive} (${plural(files.length, 'file')}${withDb ? ' + state database' : ''})` } };
  }
  const res = await createBackup({ name, path: ws.path }, { reason: 'manual', output: archive });
  const data = { workspace: name, archive: res.archive, size: res.size, files: res.manifest.files.length, created_at: res.manifest.created_at, reason: res.manifest.reason };
  return { data, view: { kind: 'kv', entries: Object.entries(data) } };
}

export async function listBackups(inv: Invocation): Promise<Result> {
  const ws = selected(inv, inv.args.name as string | undefined);
  const rows = (await listBackupArchives(ws.path)).map((b) => ({ name: b.name, path: b.path, created_at: b.created_at ?? null, reason: b.reason, size: b.size, files: b.files ?? null }));
  return { data: rows, view: { kind: 'table', columns: ['name', 'created', 'reason', 'size'], rows: rows.map((r) => [r.name, r.created_at, r.reason, r.size]) } };
}

export async function restore(inv: Invocation): Promise<Result> {
  const env = inv.io.env;
  const archive = resolve(inv.io.cwd, expandHome(String(inv.args.archive), env));
  const to = inv.flags.path as string | undefined;
  const plan = await planRestore(archive, { target: to === undefined ? undefined : resolve(inv.io.cwd, expandHome(to, env)) });
  const actions = [...plan.create.map((p) => ({ action: 'create', kind: 'file', name: p })), ...plan.overwrite.map((p) => ({ action: 'overwrite', kind: 'file', name: p }))];
  if (inv.globals.check) {
    return { data: { check: true, archive, target: plan.target, workspace: plan.manifest.workspace, actions, summary: { create: plan.create.length, overwrite: plan.overwrite.length } },
      view: planView(`Check mode — nothing will be changed   restore ${basename(archive)} → ${plan.target}`, ['action', 'file'], actions.map((a) => [a.action, a.name])) };
  }
  if (plan.overwrite.length > 0 && inv.flags.force !== true) {
    const shown = plan.overwrite.slice(0, 5).join(', ') + (plan.overwrite.length > 5 ? `, … (+${plan.overwrite.length - 5})` : '');
    throw new ProvError('ALREADY_EXISTS', `restoring into ${plan.target} would overwrite ${plural(plan.overwrite.length, 'existing file')}: ${shown}`, {
      hint: '--force overwrites them; --path <dir> restores elsewhere; --check lists every file', details: { files: plan.overwrite },
    });
  }
  await applyRestore(plan);
  const reg = readRegistry(userDirs(env));
  const regName = nameOfPath(reg, plan.target, env);
  if (!regName) inv.info(`restored workspace '${plan.manifest.workspace}' is not registered; \`provisioning workspace register ${plan.manifest.workspace} ${plan.target}\` adds it`);
  const data = { archive, target: plan.target, workspace: plan.manifest.workspace, created: plan.create.length, overwritten: plan.overwrite.length, files: plan.manifest.files.map((f) => f.path) };
  return { data, view: { kind: 'kv', entries: [['workspace', data.workspace], ['target', data.target], ['created', data.created], ['overwritten', data.overwritten]] } };
}

// ── migrate ──────────────────────────────────────────────────────────────────────

function describeCause(e: unknown): string {
  if (e instanceof ProvError) {
    const first = (e.details.errors as Record<string, unknown>[] | undefined)?.[0];
    if (first) return `${String(first.code)}: ${String(first.message)}${first.file ? ` (${[first.file, first.line].filter((x) => x !== undefined).join(':')})` : ''}`;
    return `${e.code}: ${e.message}`;
  }
  return (e as Error)?.message ?? String(e);
}

export async function migrate(inv: Invocation): Promise<Result> {
  const ws = selected(inv, inv.args.name as string | undefined);
  const fmt = formatState(ws.path);
  if (fmt.problem?.code === 'WORKSPACE_TOO_NEW') throw fmt.problem;
  const wf = readWorkspaceFile(ws.path);
  const name = wf.name ?? ws.name;
  const from = wf.formatVersion;
  const rawTarget = inv.flags['target-version'] as string | undefined;
  if (rawTarget !== undefined && !/^\d+$/.test(rawTarget)) {
    throw new ProvError('INVALID_ARGUMENT', `--target-version expects a format number, got '${rawTarget}'`, { hint: `formats of this provisioning: up to ${CURRENT_FORMAT}` });
  }
  const to = rawTarget === undefined ? CURRENT_FORMAT : Number(rawTarget);
  const plan = planMigration(ws.path, from, to);
  const steps = plan.map(({ step, changes }) => ({ name: step.name, from: step.from, to: step.to, description: step.description, changes }));
  if (plan.length === 0) {
    return { data: { workspace: name, from, to, steps: [], backup: null, changed: false }, view: { kind: 'text', text: `workspace ${name} is at format ${from}; nothing to migrate` } };
  }
  const skipBackup = inv.flags['skip-backup'] === true;
  if (inv.globals.check) {
    const rows = plan.flatMap(({ step, changes }) => changeRows(changes).map((r) => [`${step.from}→${step.to} ${step.name}`, ...r]));
    return {
      data: { check: true, workspace: name, from, to, steps, backup: skipBackup ? null : defaultBackupPath(ws.path, name) },
      view: planView(`Check mode — nothing will be changed   workspace ${name} · format ${from} → ${to}${skipBackup ? ' · no backup' : ' · backup first'}`,
        ['step', 'action', 'file', 'details'], rows),
    };
  }

  const question = `Migrate workspace '${name}' from format ${from} to ${to} (${plural(plan.length, 'step')}: ${plan.map((p) => p.step.name).join(', ')})?`;
  // Without a way to confirm, refuse before writing a backup nobody asked for.
  if (inv.nonInteractive && !inv.globals.yes) await inv.confirm(question);
  return withWorkspaceLock(ws.path, `'${name}'`, async () => {
    let archive: string | undefined;
    if (!skipBackup) {
      archive = (await createBackup({ name, path: ws.path }, { reason: `migrate ${from}→${to}`, output: defaultBackupPath(ws.path, name) })).archive;
      inv.info(`backup: ${archive}`);
    }
    await inv.confirm(question);
    const outcomes = await applyMigration(ws.path, plan, async (p) => { await workspaceConfig(inv, p); });
    const failed = outcomes.find((o) => o.error !== undefined);
    if (failed) {
      const cause = describeCause(failed.error);
      if (archive) await applyRestore(await planRestore(archive, { target: ws.path, exact: true }));
      const db = openStateDb(ws.path);
      try {
        for (const o of outcomes) {
          recordWorkspaceMigration(db, {
            from: o.step.from, to: o.step.to, step: o.step.name, started_at: o.started_at, finished_at: o.finished_at,
            success: o.error === undefined && !archive,
            notes: o === failed ? `${cause}; ${archive ? `restored from ${archive}` : 'not restored (--skip-backup)'}` : archive ? `rolled back: step ${failed.step.name} failed` : '',
          });
        }
      } finally {
        db.close();
      }
      throw new ProvError('OPERATION_FAILED', `migration step '${failed.step.name}' (format ${failed.step.from}→${failed.step.to}) failed: ${cause}`, {
        hint: archive
          ? `the workspace was restored from ${archive}; fix the cause and run \`provisioning workspace migrate ${name}\` again`
          : 'no backup was taken (--skip-backup): the workspace may be half-migrated; check it with `provisioning workspace validate`',
        details: { step: failed.step.name, backup: archive ?? null },
        cause: failed.error,
      });
    }
    const db = openStateDb(ws.path);
    try {
      for (const o of outcomes) {
        recordWorkspaceMigration(db, { from: o.step.from, to: o.step.to, step: o.step.name, started_at: o.started_at, finished_at: o.finished_at, success: true, notes: o.step.description });
      }
    } finally {
      db.close();
    }
    const data = { workspace: name, from, to, steps: outcomes.map((o) => ({ name: o.step.name, from: o.step.from, to: o.step.to, started_at: o.started_at, finished_at: o.finished_at })), backup: archive ?? null, changed: true };
    return { data, view: { kind: 'text', text: `workspace ${name} migrated from format ${from} to ${to}${archive ? ` (backup: ${archive})` : ''}\n\n${renderRows(['step', 'action', 'file', 'details'], plan.flatMap(({ step, changes }) => changeRows(changes).map((r) => [step.name, ...r])))}` } };
  });
}
