import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ProvError, dropUndefined } from '../errors/index.js';
import { closest } from '../cli/suggest.js';
import {
  type Config, type Leaf, type LayerInfo, type LoadOptions, type Origin, type Target,
  originLabel, readLayerText, resolvePath,
} from './index.js';
import { interpolate } from './interpolate.js';
import { checkFree, checkRange, checkType, childrenOf, classify, hasPlaceholder, isEncrypted, isSecretKey, parseText, type Classified } from './keys.js';
import { userDirs, type UserDirs } from './paths.js';
import type { Problem } from './problems.js';
import {
  BUILTIN_PROVIDERS, KEYS, MODE_CONSTRAINTS, MODE_PRESETS, USER_NAMED,
  isLoopback, parseDuration, type Mode, type Scope,
} from './schema.js';
import {
  listInfras, requireWorkspaceError, resolveEnvironment, resolveInfra, resolveWorkspace, WORKSPACE_FILE, type ResolvedWorkspace,
} from './target.js';
import { TomlSyntaxError, parseTomlDoc, tomlLeaves } from './toml.js';
import { assertReadableFormat, CURRENT_FORMAT } from '../workspace/format.js';

/**
 * The load sequence of spec/config.md §2.5: resolve the target, parse every layer (checking
 * each leaf where it was written), pick the mode, merge, interpolate, validate, freeze.
 */

export type LayerName = 'system' | 'user' | 'workspace' | 'env' | 'infra' | 'local' | 'envvar' | 'cli';

export interface LayerData {
  layer: LayerName;
  name?: string;
  file?: string;
  exists: boolean;
  leaves: { key: string; value: unknown; origin: Origin }[];
}

export interface State {
  config: Config;
  problems: Problem[];
  /** the checked leaves of each layer, for `config show --scope` */
  layerData: LayerData[];
}

interface Entry { value: unknown; origin: Origin; history: { origin: Origin; value: unknown }[] }

const ALLOWED: Record<Scope, LayerName[] | 'all'> = {
  'all': 'all',
  'no-infra': ['system', 'user', 'workspace', 'env', 'local', 'envvar', 'cli'],
  'workspace-file': ['workspace'],
  'workspace-defaults': ['workspace', 'local', 'envvar', 'cli'],
};

/** Variables of cli.md §3 that select or steer, not config keys. */
const RESERVED = new Set(['HOME', 'SYSTEM_CONFIG', 'WORKSPACE', 'INFRA', 'ENV', 'AUTH_TOKEN', 'NON_INTERACTIVE', 'NONINTERACTIVE', 'DEBUG']);
const SHORTHANDS: Record<string, string> = { OUT: 'output.format', OUTPUT_FORMAT: 'output.format', LOG_LEVEL: 'logging.level', MODE: 'mode' };

const labelOf = (l: { layer: string; name?: string }) => originLabel(l as Origin);

export function buildState(opts: LoadOptions): State {
  const { env, cwd } = opts;
  const dirs = userDirs(env);
  const problems: Problem[] = [];
  const warn = (code: string, message: string, layer: string) => problems.push({ code, message, severity: 'warning', layer });

  // 1. Target: workspace first; environment and infra after the layers that may name their defaults.
  const ws = resolveWorkspace(opts.select.workspace, env, cwd, dirs);
  if (!ws && opts.requireWorkspace) throw requireWorkspaceError();

  const fileLayer = (layer: LayerName, file: string | undefined, name?: string): LayerData => {
    const data: LayerData = dropUndefined({ layer, name, file, exists: false, leaves: [] });
    if (!file) return data;
    const text = readLayerText(file, opts.overrides);
    if (text === undefined) return data;
    data.exists = true;
    let raw;
    try {
      raw = tomlLeaves(parseTomlDoc(text));
    } catch (e) {
      if (!(e instanceof TomlSyntaxError)) throw e;
      problems.push({ code: 'CONFIG_PARSE', severity: 'error', layer: labelOf(data), file, line: e.line, column: e.column, message: `invalid TOML: ${e.message}`, hint: 'fix the syntax at that position (TOML 1.0)' });
      return data;
    }
    for (const leaf of raw) {
      const origin: Origin = dropUndefined({ layer, name, file, line: leaf.line, column: leaf.column });
      const checked = checkLeaf(leaf.path, leaf.value, origin, problems);
      if (checked !== undefined) data.leaves.push({ key: leaf.path.join('.'), value: checked, origin });
    }
    return data;
  };

  // `validate config <file>` checks one file on top of the defaults, nothing else.
  const only = opts.isolate;
  const pick = (layer: LayerName, file: string | undefined) => (only ? (only.layer === layer ? only.file : undefined) : file);
  const system = fileLayer('system', pick('system', dirs.systemFile));
  const user = fileLayer('user', pick('user', join(dirs.configHome, 'config.user.toml')));
  const workspace = fileLayer('workspace', pick('workspace', ws && join(ws.path, WORKSPACE_FILE)));
  const local = fileLayer('local', pick('local', ws && join(ws.path, 'config', 'local-overrides.toml')));
  const envvar = envLayer(only ? {} : env, problems);
  const cli = cliLayer(only ? { set: [], flags: [] } : opts.cli, problems);

  const highest = (key: string, layers: LayerData[]) => {
    let v: unknown;
    for (const l of layers) for (const leaf of l.leaves) if (leaf.key === key) v = leaf.value;
    return typeof v === 'string' && v !== '' && !hasPlaceholder(v) ? v : undefined;
  };
  const wsDefaults = [workspace, local, envvar, cli];
  const environment = only?.layer === 'env' ? { name: only.name!, source: 'file' } : resolveEnvironment(opts.select.environment, env, ws, highest('workspace.default_environment', wsDefaults));
  const infraRes = only?.layer === 'infra' ? { name: only.name, warnings: [] as string[] } : ws && !only ? resolveInfra(opts.select.infra, env, cwd, ws, highest('workspace.default_infra', wsDefaults), Boolean(opts.requireInfra)) : { warnings: [] as string[] };
  if (!ws && opts.requireInfra) throw requireWorkspaceError();
  for (const w of infraRes.warnings) warn('CONFIG_INFRA_DEFAULT', w, 'workspace');
  const envLayerData = fileLayer('env', pick('env', ws && join(ws.path, 'config', `${environment.name}.toml`)), environment.name);
  const infra = fileLayer('infra', pick('infra', ws && infraRes.name ? join(ws.path, 'infra', infraRes.name, 'config.toml') : undefined), infraRes.name);

  const layerData = [system, user, workspace, envLayerData, infra, local, envvar, cli];

  // 2. Mode: from the highest layer that sets it (§2.5 step 3).
  let mode: Mode = 'solo';
  for (const l of layerData) {
    for (const leaf of l.leaves) {
      if (leaf.key !== 'mode') continue;
      if (hasPlaceholder(leaf.value)) {
        problems.push(problemAt(leaf.origin, 'CONFIG_TYPE', '`mode` cannot use placeholders: it is read before interpolation', 'mode'));
      } else mode = leaf.value as Mode;
    }
  }

  // 3. Layer 1 = defaults completed by the mode preset, then layers 2–9.
  const entries = new Map<string, Entry>();
  const put = (key: string, value: unknown, origin: Origin) => {
    const isEmptyTable = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0;
    if (isEmptyTable) {
      // `[providers.hetzner]` with no keys: the table exists, lower layers' keys stay.
      if (![...entries.keys()].some((k) => k.startsWith(`${key}.`)) && !entries.has(key)) entries.set(key, { value, origin, history: [{ origin, value }] });
      return;
    }
    // Scalars and arrays replace whole; a table replaces a scalar and vice versa.
    for (const k of [...entries.keys()]) if (k.startsWith(`${key}.`)) entries.delete(k);
    const parts = key.split('.');
    for (let i = 1; i < parts.length; i++) entries.delete(parts.slice(0, i).join('.'));
    const prev = entries.get(key);
    entries.set(key, { value, origin, history: [...(prev?.history ?? []), { origin, value }] });
  };
  const preset = MODE_PRESETS[mode];
  for (const [key, spec] of Object.entries(KEYS)) {
    if (key in preset) put(key, preset[key], { layer: 'mode', name: mode });
    else if (spec.default !== undefined) put(key, spec.default, { layer: 'default' });
  }
  const computed = computedKeys(ws, environment.name, dirs);
  for (const [key, value] of Object.entries(computed)) put(key, value, { layer: 'computed' });
  for (const l of layerData) for (const leaf of l.leaves) put(leaf.key, leaf.value, leaf.origin);

  // 4. Interpolation (§7).
  const now = opts.now ?? new Date();
  const WS_ONLY = new Set(['workspace.path', 'workspace.name', 'paths.base', 'paths.infra', 'paths.extensions', 'paths.workflows', 'paths.secrets', 'paths.policies', 'paths.state']);
  const interp = interpolate(new Map([...entries].map(([k, e]) => [k, e.value])), {
    env, infra: infraRes.name, gitDir: ws?.path, now, isSecret: isSecretKey, needsWorkspace: (k) => !ws && WS_ONLY.has(k),
  });
  for (const e of interp.errors) {
    const origin = entries.get(e.key)!.origin;
    problems.push({ ...problemAt(origin, 'CONFIG_INTERPOLATION', `\`${e.key}\`: ${e.message}`, e.key), actual: e.placeholder, hint: e.hint });
  }

  // 5. Checks on the merged, interpolated values (§2.2, §10).
  const values = new Map<string, unknown>();
  for (const [key, entry] of entries) {
    if (!interp.values.has(key)) continue;
    let v = interp.values.get(key);
    const c = classify(key.split('.'));
    if (c.kind === 'key' && !isEncrypted(v)) {
      if (hasPlaceholder(entry.value) && typeof v === 'string' && c.spec.type !== 'string' && c.spec.type !== 'secret') {
        const r = checkType(key, c.spec, parseText(c.spec, v));
        if ('problem' in r) { problems.push({ ...problemAt(entry.origin, r.problem.code, `${r.problem.message} (from ${JSON.stringify(entry.value)})`, key), expected: r.problem.expected, actual: v }); continue; }
        v = r.value;
      }
      if (c.spec.type === 'path' && typeof v === 'string') v = resolvePath(v, entry.origin, { env, cwd, wsPath: ws?.path });
      if (c.spec.type === 'url' && typeof v === 'string' && v !== '' && !URL.canParse(v)) {
        problems.push({ ...problemAt(entry.origin, 'CONFIG_PATTERN', `\`${key}\` is not a URL: ${JSON.stringify(v)}`, key), expected: 'a URL such as "https://host:9090"', actual: v });
      }
      const range = checkRange(key, c.spec, v);
      if (range) problems.push({ ...problemAt(entry.origin, range.code, range.message, key), expected: range.expected, actual: v });
    }
    values.set(key, v);
  }

  const origin = (k: string) => entries.get(k)?.origin ?? { layer: 'default' };
  constraints(values, origin, mode, ws, problems, env);

  const target: Target = {
    workspace: ws ? { name: ws.name ?? (values.get('workspace.name') as string | undefined) ?? '', path: ws.path, registered: ws.registered } : undefined,
    environment: environment.name,
    infra: infraRes.name,
  };
  if (!only || only.layer === 'workspace') workspaceChecks(ws, workspace, values, problems);

  const layers: LayerInfo[] = [
    { layer: 'default', label: `default+mode:${mode}`, exists: true, values: Object.keys(KEYS).length },
    ...layerData.map((l) => ({ layer: l.layer, label: labelOf(l), file: l.file, exists: l.exists || ((l.layer === 'envvar' || l.layer === 'cli') && l.leaves.length > 0), values: l.leaves.length })),
  ];

  const config = freeze({ target, dirs, mode, values, entries, layers, layerData, unresolved: Object.fromEntries(interp.unresolved), problems });
  return { config, problems, layerData };
}

function problemAt(origin: Origin, code: string, message: string, path?: string): Problem {
  return { code, message, severity: 'error', layer: originLabel(origin), file: origin.file, line: origin.line, column: origin.column, variable: origin.variable, flag: origin.flag, path };
}

/** Check one leaf where it was written: known key, layer allowed, not read-only, right type. */
function checkLeaf(path: string[], value: unknown, origin: Origin, problems: Problem[]): unknown {
  const key = path.join('.');
  const c: Classified = classify(path);
  const fail = (code: string, message: string, extra: Partial<Problem> = {}) => { problems.push({ ...problemAt(origin, code, message, key), ...extra }); return undefined; };
  switch (c.kind) {
    case 'unknown': {
      const where = c.parent ? `in [${c.parent}]` : 'at the top level';
      return fail('CONFIG_UNKNOWN_KEY', `unknown key \`${c.name}\` ${where}`, {
        expected: c.siblings.length ? `one of: ${c.siblings.join(', ')}` : undefined,
        hint: c.suggestion ? `did you mean \`${c.parent && c.suggestion.startsWith(`${c.parent}.`) ? c.suggestion.slice(c.parent.length + 1) : c.suggestion}\`?` : undefined,
      });
    }
    case 'table':
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return undefined; // an empty [section]
      return fail('CONFIG_TYPE', `\`${key}\` is a table; set its keys (${childrenOf(key).slice(0, 6).join(', ')}…) instead`, { expected: 'a table', actual: value });
    case 'below':
      return fail('CONFIG_TYPE', `\`${c.key}\` expects ${checkTypeExpected(c.key)}, got a table`, { path: c.key, expected: checkTypeExpected(c.key) });
    case 'free': {
      if (c.form === 'any' && path[0] === 'providers') {
        const near = closest(path[1]!, BUILTIN_PROVIDERS, 1)[0];
        if (near && near !== path[1]) problems.push({ ...problemAt(origin, 'CONFIG_UNKNOWN_PROVIDER', `\`providers.${path[1]}\` is not a built-in provider; it is treated as an extension provider`, key), severity: 'warning', hint: `did you mean \`providers.${near}\`?` });
      }
      const r = checkFree(c, value);
      return 'problem' in r ? fail(r.problem.code, r.problem.message, { expected: r.problem.expected, actual: value }) : r.value;
    }
    case 'key': {
      if (c.spec.readonly) return fail('CONFIG_READONLY', `\`${key}\` is computed by the loader and cannot be set`, { hint: key.startsWith('paths.') ? 'paths.logs is the only writable paths key' : undefined });
      const allowed = ALLOWED[c.spec.scope ?? 'all'];
      if (allowed !== 'all' && !allowed.includes(origin.layer as LayerName)) {
        return fail('CONFIG_SCOPE', `\`${key}\` cannot be set in the ${originLabel(origin)} layer`, {
          expected: `set it in: ${allowed.join(', ')}`,
          hint: c.spec.scope === 'no-infra' ? 'the infra layer is for what differs per infra (providers, ssh, execution, output), not service settings' : `move it to ${allowed[0] === 'workspace' ? 'provisioning.toml' : allowed.join(' or ')}`,
        });
      }
      const r = checkType(key, c.spec, value);
      return 'problem' in r ? fail(r.problem.code, r.problem.message, { expected: r.problem.expected, actual: value, hint: r.problem.hint }) : r.value;
    }
  }
}

function checkTypeExpected(key: string): string {
  const r = checkType(key, KEYS[key]!, Symbol('x'));
  return 'problem' in r ? r.problem.expected : '';
}

/** PROVISIONING_<SECTION>__<KEY> (§5). */
function envLayer(env: Record<string, string | undefined>, problems: Problem[]): LayerData {
  const data: LayerData = { layer: 'envvar', exists: false, leaves: [] };
  // A single underscore between levels is the usual slip: map that spelling to the right one.
  const slips = new Map(Object.keys(KEYS).filter((k) => !KEYS[k]!.readonly && k.includes('.'))
    .map((k) => [`PROVISIONING_${k.toUpperCase().replace(/[.-]/g, '_')}`, `PROVISIONING_${k.toUpperCase().replace(/-/g, '_').replace(/\./g, '__')}`]));
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith('PROVISIONING_')) continue;
    const raw = env[variable]!;
    const rest = variable.slice('PROVISIONING_'.length);
    const origin: Origin = { layer: 'envvar', variable };
    let path: string[];
    if (!rest.includes('__')) {
      if (RESERVED.has(rest)) continue;
      if (SHORTHANDS[rest]) path = SHORTHANDS[rest]!.split('.');
      else {
        const near = slips.get(variable) ?? slips.get(closest(variable, slips.keys(), 1)[0] ?? '');
        problems.push({
          code: 'CONFIG_UNKNOWN_VARIABLE', severity: 'warning', layer: 'envvar', variable,
          message: `${variable} is not a known variable; config keys are set with PROVISIONING_<SECTION>__<KEY> (double underscores between levels)`,
          hint: near ? `did you mean ${near}?` : undefined,
        });
        continue;
      }
    } else {
      const mapped = mapEnvPath(rest.split('__'));
      if (typeof mapped === 'string') {
        problems.push({ ...problemAt(origin, 'CONFIG_UNKNOWN_KEY', `${variable} names no configuration key: ${mapped}`), hint: envHint(rest.split('__')) });
        continue;
      }
      path = mapped;
    }
    const leaf = checkTextLeaf(path, raw, origin, problems);
    if (leaf) data.leaves.push(leaf);
  }
  return data;
}

function envHint(segs: string[]): string | undefined {
  const c = classify(segs.map((s) => s.toLowerCase()));
  return c.kind === 'unknown' && c.suggestion ? `did you mean PROVISIONING_${c.suggestion.toUpperCase().replace(/\./g, '__').replace(/-/g, '_')}?` : undefined;
}

/** Upper-case segments → a key path; `_` matches `-` in user-named tables. A string is the reason it fails. */
function mapEnvPath(segs: string[]): string[] | string {
  const path: string[] = [];
  for (const seg of segs) {
    if (seg === '') return 'empty level (three or more underscores)';
    const parent = path.join('.');
    const lower = seg.toLowerCase();
    const kids = childrenOf(parent);
    const hit = kids.find((k) => k.toUpperCase().replace(/-/g, '_') === seg);
    if (hit) { path.push(hit); continue; }
    if (USER_NAMED.has(parent)) { path.push(lower.replace(/_/g, '-')); continue; }
    const c = classify([...path, lower]);
    if (c.kind === 'free' || c.kind === 'key') { path.push(lower); continue; }
    return `unknown key \`${lower}\` ${parent ? `in [${parent}]` : 'at the top level'}`;
  }
  return path;
}

/** A leaf given as text (environment variable, --set): typed by the key (§5). */
function checkTextLeaf(path: string[], text: string, origin: Origin, problems: Problem[]): { key: string; value: unknown; origin: Origin } | undefined {
  const c = classify(path);
  let value: unknown = text;
  if (c.kind === 'key') value = parseText(c.spec, text);
  else if (c.kind === 'free' && c.form === 'any') {
    try { value = parseToml(`v = ${text}`).v; } catch { value = text; }
  } else if (c.kind === 'table') {
    problems.push({ ...problemAt(origin, 'CONFIG_TYPE', `\`${path.join('.')}\` is a table; whole tables cannot be set from ${origin.variable ?? origin.flag}`, path.join('.')), hint: `set its keys one by one, e.g. ${childrenOf(path.join('.')).slice(0, 2).map((k) => `${path.join('.')}.${k}`).join(', ')}` });
    return undefined;
  }
  const checked = checkLeaf(path, value, origin, problems);
  return checked === undefined ? undefined : { key: path.join('.'), value: checked, origin };
}

function cliLayer(cli: LoadOptions['cli'], problems: Problem[]): LayerData {
  const data: LayerData = { layer: 'cli', exists: false, leaves: [] };
  for (const f of cli.flags) {
    const origin: Origin = { layer: 'cli', flag: f.flag };
    const leaf = typeof f.value === 'string' ? checkTextLeaf(f.key.split('.'), f.value, origin, problems) : checkLeafWrap(f.key, f.value, origin, problems);
    if (leaf) data.leaves.push(leaf);
  }
  for (const raw of cli.set) {
    const eq = raw.indexOf('=');
    if (eq <= 0) throw new ProvError('USAGE', `--set expects <key>=<value>, got '${raw}'`, { hint: 'for example: --set execution.parallel_limit=8' });
    const key = raw.slice(0, eq).trim();
    const leaf = checkTextLeaf(key.split('.'), raw.slice(eq + 1), { layer: 'cli', flag: `--set ${raw}` }, problems);
    if (leaf) data.leaves.push(leaf);
  }
  return data;
}

function checkLeafWrap(key: string, value: unknown, origin: Origin, problems: Problem[]) {
  const v = checkLeaf(key.split('.'), value, origin, problems);
  return v === undefined ? undefined : { key, value: v, origin };
}

/** Read-only keys (§3.1). */
function computedKeys(ws: ResolvedWorkspace | undefined, environment: string, dirs: UserDirs): Record<string, unknown> {
  const out: Record<string, unknown> = {
    'workspace.environment': environment,
    'paths.config_home': dirs.configHome, 'paths.data_home': dirs.dataHome, 'paths.cache_home': dirs.cacheHome,
  };
  if (ws) {
    Object.assign(out, {
      'workspace.path': ws.path, 'paths.base': ws.path,
      'paths.infra': join(ws.path, 'infra'), 'paths.extensions': join(ws.path, 'extensions'), 'paths.workflows': join(ws.path, 'workflows'),
      'paths.secrets': join(ws.path, 'secrets'), 'paths.policies': join(ws.path, 'policies'), 'paths.state': join(ws.path, '.provisioning'),
    });
  }
  return out;
}

/** The workspace file: a name, matching the registry, in a format this CLI reads (§3.1, §12). */
function workspaceChecks(ws: ResolvedWorkspace | undefined, layer: LayerData, values: Map<string, unknown>, problems: Problem[]): void {
  if (!ws || !layer.exists) return;
  const set = (k: string) => layer.leaves.find((l) => l.key === k);
  const name = set('workspace.name');
  const hadError = problems.some((p) => p.path === 'workspace.name' || p.code === 'CONFIG_PARSE' && p.file === layer.file);
  if (!name && !hadError) {
    problems.push({ code: 'CONFIG_REQUIRED', severity: 'error', layer: 'workspace', file: layer.file, line: 1, column: 1, path: 'workspace.name', message: '`workspace.name` is required in the workspace file', expected: 'a name', hint: `add to ${layer.file}:\n[workspace]\nname = "${ws.name ?? 'my-workspace'}"` });
  } else if (name && ws.name && name.value !== ws.name) {
    problems.push({ ...problemAt(name.origin, 'CONFIG_CONSTRAINT', `\`workspace.name\` is "${String(name.value)}", but the registry knows this directory as '${ws.name}'`, 'workspace.name'), hint: `set workspace.name = "${ws.name}", or re-register: provisioning workspace remove ${ws.name} && provisioning workspace register ${String(name.value)} ${ws.path}` });
  }
  const version = values.get('workspace.format_version');
  const requires = values.get('workspace.requires');
  assertReadableFormat({
    name: ws.name ?? (typeof values.get('workspace.name') === 'string' ? String(values.get('workspace.name')) : undefined), path: ws.path, file: layer.file!,
    formatVersion: typeof version === 'number' ? version : CURRENT_FORMAT, requires: typeof requires === 'string' && requires !== '' ? requires : undefined,
  });
}

/** Cross-field rules (§10) and mode constraints (§4). */
function constraints(values: Map<string, unknown>, originOf: (k: string) => Origin, mode: Mode, ws: ResolvedWorkspace | undefined, problems: Problem[], env: Record<string, string | undefined>): void {
  const v = (k: string) => values.get(k);
  const add = (key: string, code: string, message: string, hint?: string) => problems.push({ ...problemAt(originOf(key), code, message, key), hint });

  for (const c of MODE_CONSTRAINTS[mode]) {
    if (values.has(c.key) && !c.ok(v(c.key))) {
      add(c.key, 'CONFIG_MODE_CONSTRAINT', `mode ${mode} requires \`${c.key}\` = ${c.expected}, got ${JSON.stringify(v(c.key))}`, `remove the override (set by ${originLabel(originOf(c.key))}), or choose another mode`);
    }
  }
  if (mode === 'cicd' && ['default', 'mode'].includes(originOf('orchestrator.url').layer)) {
    add('mode', 'CONFIG_MODE_CONSTRAINT', 'mode cicd requires `orchestrator.url` to be set: the CLI is a client of a remote platform', 'set orchestrator.url (e.g. PROVISIONING_ORCHESTRATOR__URL=https://orchestrator.example.com:9090)');
  }
  if (mode === 'multiuser') {
    for (const [svc, host] of [['orchestrator', 'orchestrator.host'], ['control_center', 'control_center.host']] as const) {
      if (v(`${svc}.tls.enabled`) === false && !isLoopback(v(host))) {
        problems.push({ ...problemAt(originOf(host), 'CONFIG_TLS_OFF', `${svc} binds ${String(v(host))} without TLS`, host), severity: 'warning', hint: `set ${svc}.tls.enabled = true with a certificate, or bind to 127.0.0.1` });
      }
    }
  }

  const storageUrl = v('orchestrator.storage.url');
  if (typeof storageUrl === 'string' && !isEncrypted(storageUrl) && storageUrl !== '') {
    const scheme = storageUrl.split(':')[0]!.toLowerCase();
    const type = v('orchestrator.storage.type');
    const want = type === 'postgres' ? ['postgres', 'postgresql'] : ['sqlite'];
    if (!want.includes(scheme)) {
      add('orchestrator.storage.url', 'CONFIG_CONSTRAINT', `orchestrator.storage.type is "${String(type)}" but orchestrator.storage.url uses the ${scheme}: scheme`, type === 'postgres' ? 'set orchestrator.storage.url = "postgres://user@host:5432/db?sslmode=require"' : 'use a sqlite:// URL, or set orchestrator.storage.type = "postgres"');
    }
  }

  for (const svc of ['orchestrator', 'control_center']) {
    if (v(`${svc}.tls.enabled`) !== true) continue;
    for (const f of ['cert', 'key']) {
      const p = v(`${svc}.tls.${f}`);
      if (typeof p !== 'string' || p === '') add(`${svc}.tls.enabled`, 'CONFIG_CONSTRAINT', `${svc}.tls.enabled is true but ${svc}.tls.${f} is not set`, `set ${svc}.tls.cert and ${svc}.tls.key to PEM files`);
      else if (!existsSync(p)) add(`${svc}.tls.${f}`, 'CONFIG_CONSTRAINT', `${svc}.tls.${f}: file not found: ${p}`);
    }
  }

  const ports: [string, string][] = [['orchestrator', 'orchestrator.port'], ['control-center', 'control_center.port'], ['kms', 'kms.service.port'], ['oci-registry', 'platform.services.oci-registry.port']];
  const seen = new Map<unknown, string>();
  for (const [svc, key] of ports) {
    if (v(`platform.services.${svc}.enabled`) !== true) continue;
    const port = v(key);
    if (seen.has(port)) add(key, 'CONFIG_CONSTRAINT', `${key} is ${String(port)}, the same port as ${seen.get(port)}; enabled local services need distinct ports`);
    else seen.set(port, key);
  }

  const hb = parseDuration(v('orchestrator.heartbeat_interval'));
  const lease = parseDuration(v('orchestrator.storage.lease_ttl'));
  if (hb !== undefined && lease !== undefined && !(hb < lease / 3)) {
    add('orchestrator.heartbeat_interval', 'CONFIG_CONSTRAINT', `orchestrator.heartbeat_interval (${String(v('orchestrator.heartbeat_interval'))}) must be less than a third of orchestrator.storage.lease_ttl (${String(v('orchestrator.storage.lease_ttl'))})`, 'a worker must heartbeat several times before its lease expires');
  }

  const backend = v('kms.backend');
  if (backend === 'aws-kms' && !v('kms.aws.key_id')) add('kms.backend', 'CONFIG_CONSTRAINT', 'kms.backend is "aws-kms" but kms.aws.key_id is not set', 'set kms.aws.key_id to a key ARN or alias/…');
  if (backend === 'vault' && !v('kms.vault.address') && !env.VAULT_ADDR) add('kms.backend', 'CONFIG_CONSTRAINT', 'kms.backend is "vault" but neither kms.vault.address nor VAULT_ADDR is set', 'set kms.vault.address = "https://vault.example.com:8200"');

  const def = v('providers.default');
  if (typeof def === 'string' && def !== '') {
    const known = new Set([...BUILTIN_PROVIDERS, ...[...values.keys()].filter((k) => k.startsWith('providers.')).map((k) => k.split('.')[1]!)]);
    if (ws) for (const d of [join(ws.path, 'extensions', 'providers'), ...listInfras(ws.path).map((i) => join(ws.path, 'infra', i, 'extensions', 'providers'))]) {
      try { for (const n of readdirNames(d)) known.add(n); } catch { /* no extension providers there */ }
    }
    if (!known.has(def)) {
      const near = closest(def, known, 1)[0];
      add('providers.default', 'CONFIG_CONSTRAINT', `providers.default names provider '${def}', which is neither built in nor an extension of this workspace`, near ? `did you mean '${near}'?` : `built-in providers: ${BUILTIN_PROVIDERS.join(', ')}`);
    }
  }

  if (v('preferences.confirm_delete') === false) {
    problems.push({ ...problemAt(originOf('preferences.confirm_delete'), 'CONFIG_IGNORED', 'preferences.confirm_delete = false is ignored: delete prompts are mandatory (use --yes per command)', 'preferences.confirm_delete'), severity: 'warning' });
  }
}

function readdirNames(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
}

/** The frozen snapshot handed to commands (§2.5 step 8). */
function freeze(s: {
  target: Target; dirs: UserDirs; mode: string; values: Map<string, unknown>; entries: Map<string, Entry>;
  layers: LayerInfo[]; layerData: LayerData[]; unresolved: Record<string, string>; problems: Problem[];
}): Config {
  const tree: Record<string, unknown> = {};
  for (const [key, value] of [...s.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const parts = key.split('.');
    let node = tree;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    const last = parts[parts.length - 1]!;
    if (!(last in node)) node[last] = value;
  }
  const deepFreeze = (o: unknown): unknown => {
    if (o && typeof o === 'object') { for (const x of Object.values(o)) deepFreeze(x); Object.freeze(o); }
    return o;
  };
  deepFreeze(tree);
  const get = (key: string): unknown => {
    if (s.values.has(key)) return s.values.get(key);
    let node: unknown = tree;
    for (const p of key.split('.')) {
      if (!node || typeof node !== 'object' || !(p in node)) return undefined;
      node = (node as Record<string, unknown>)[p];
    }
    return node;
  };
  return {
    target: s.target, dirs: s.dirs, mode: s.mode, values: tree, layers: s.layers, unresolved: s.unresolved,
    warnings: s.problems.filter((p) => p.severity === 'warning').map((p) => ({ code: p.code, message: p.message })),
    get,
    origin: (key) => s.entries.get(key)?.origin,
    history: (key) => s.entries.get(key)?.history ?? [],
    layerLeaves: (layer: string): Leaf[] => {
      if (layer === 'default') {
        return [...s.entries].filter(([, e]) => ['default', 'mode'].includes(e.history[0]!.origin.layer)).sort(([a], [b]) => a.localeCompare(b))
          .map(([key, e]) => ({ key, value: e.history[0]!.value, origin: e.history[0]!.origin, history: [e.history[0]!] }));
      }
      const data = s.layerData.find((l) => l.layer === layer);
      return (data?.leaves ?? []).map((l) => ({ ...l, history: [{ origin: l.origin, value: l.value }] })).sort((a, b) => a.key.localeCompare(b.key));
    },
    leaves: (): Leaf[] => [...s.values.keys()].sort().map((key) => {
      const e = s.entries.get(key)!;
      return { key, value: s.values.get(key), origin: e.origin, history: e.history };
    }),
  };
}
