import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import nunjucks from 'nunjucks';
import satisfies from 'semver/functions/satisfies.js';
import validRange from 'semver/ranges/valid.js';
import { closest } from '../cli/suggest.js';
import { findCycles, formatCycle, topoOrder } from '../graph/topo.js';
import {
  fieldDefaults, formatPath, locateProblems, parseDefinitionText, pending, sortProblems, validateFields, validateManifest,
  type ClusterManifest, type ExtensionManifest, type FieldTable, type Locator, type PathSegment, type PendingProblem, type Problem,
  type ProviderManifest, type TaskservManifest,
} from '../model/index.js';
import { ProvError } from '../errors/index.js';
import { compatibilityProblem, taskservDeps, type Catalog } from './catalog.js';
import { KINDS, pathProblem, type Candidate, type ExtensionKind, type LayerName } from './layers.js';
import { resolveTaskservs, type ResolvedTaskserv, type ResolveIssue, type TaskservDeps } from './resolve.js';

/**
 * What the extension commands decide, apart from how it is shown: references and kinds,
 * provider config against its manifest, a taskserv's install order, cluster ordering, and the
 * full (every problem) validation of an extension directory.
 */

// ── references ───────────────────────────────────────────────────────────────────

/** `taskserv`, `taskservs` → taskserv; anything else → undefined. */
export function parseKind(word: string): ExtensionKind | undefined {
  const w = word.toLowerCase().replace(/s$/, '');
  return (KINDS as string[]).includes(w) ? (w as ExtensionKind) : undefined;
}

export function requireKind(word: string): ExtensionKind {
  const k = parseKind(word);
  if (k) return k;
  const near = closest(word, KINDS, 1)[0];
  throw new ProvError('INVALID_ARGUMENT', `'${word}' is not an extension kind; kinds are ${KINDS.join(', ')}`, near ? { hint: `did you mean '${near}'?` } : {});
}

/** `<kind>/<name>`, or the kind and the name as two words (`layer explain taskserv redis`). */
export function parseRef(ref: string, name?: string): { kind: ExtensionKind; name: string } {
  if (name !== undefined) return { kind: requireKind(ref), name };
  const slash = ref.indexOf('/');
  if (slash <= 0 || slash === ref.length - 1) {
    throw new ProvError('INVALID_ARGUMENT', `'${ref}' is not an extension reference`, { hint: 'write <kind>/<name>, e.g. taskserv/redis' });
  }
  return { kind: requireKind(ref.slice(0, slash)), name: ref.slice(slash + 1) };
}

/** The winning candidate, or NOT_FOUND with the closest name of that kind. */
export function findExtension(catalog: Catalog, kind: ExtensionKind, name: string): Candidate<ExtensionManifest> {
  const c = catalog.winner(kind, name);
  if (c) return c;
  const near = closest(name, catalog.names(kind), 1)[0];
  const list = kind === 'taskserv' ? 'provisioning taskserv list --available' : `provisioning ${kind} list`;
  throw new ProvError('NOT_FOUND', `no ${kind} named '${name}' in any layer`, {
    hint: near ? `did you mean '${near}'? (\`${list}\` lists them)` : `\`${list}\` lists them; \`provisioning module discover ${kind}\` shows what can be loaded`,
    location: { resource: `${kind}/${name}` },
  });
}

export const versionOf = (c: Candidate<ExtensionManifest>): string | undefined => c.manifest?.extension.version;

/** The reason an extension cannot be used, with every problem of its directory (exit 3). */
export function unusableError(c: Candidate<ExtensionManifest>, catalog: Catalog): ProvError {
  const problems = validateExtensionDir(c.dir, catalog).errors;
  const errors = problems.length > 0 ? problems : [asProblem(c)];
  return new ProvError('DEFINITION_INVALID', `${c.kind} ${c.name} (${c.layer} layer) is unusable: ${c.problem}`, {
    hint: `fix ${join(c.dir, 'extension.toml')}, or remove it to fall back to a less specific layer (\`provisioning layer explain ${c.kind}/${c.name}\`)`,
    details: { errors, warnings: [] },
  });
}

function asProblem(c: Candidate<ExtensionManifest>): Problem {
  return { code: 'DEF_REFERENCE', message: c.problem ?? 'unusable', file: join(c.dir, 'extension.toml'), path: formatPath([]), expected: 'a usable extension', actual: 'an unusable one' };
}

// ── providers ────────────────────────────────────────────────────────────────────

/** The environment variable that sets a config key (spec/config.md §5). */
export const envVarOf = (key: string): string => `PROVISIONING_${key.toUpperCase().replace(/-/g, '_').replace(/\./g, '__')}`;

export interface MissingKey {
  key: string;
  env: string;
  /** `required` by the manifest, or a `credential` (a secret the provider signs in with) */
  reason: 'required' | 'credential';
}

export interface ProviderConfigCheck {
  /** keys set (non-empty) in the merged config, without values */
  set: string[];
  missing: MissingKey[];
  /** value problems, with paths `providers.<name>.<key>` */
  errors: PendingProblem[];
  warnings: PendingProblem[];
}

/** Config holds "" for keys nobody set; those count as unset, so the manifest's default applies. */
function setValues(raw: unknown): Record<string, unknown> {
  if (!raw || typeof raw !== 'object') return {};
  return Object.fromEntries(Object.entries(raw as Record<string, unknown>).filter(([, v]) => v !== '' && v !== undefined && v !== null));
}

/**
 * A provider's `[providers.<name>]` config against the manifest's `[config]` schema. Required
 * keys and `secret` keys (credentials) that are unset are `missing`, each with its env variable.
 */
export function checkProviderConfig(name: string, m: ProviderManifest, raw: unknown): ProviderConfigCheck {
  const schema: FieldTable = m.config ?? {};
  const values = setValues(raw);
  const prefix: PathSegment[] = ['providers', name];
  const v = validateFields(schema, values, { path: prefix, plaintextSecrets: true });
  const missing: MissingKey[] = [];
  for (const [k, f] of Object.entries(schema)) {
    if (k in values) continue;
    if (f.required || (f.type === 'secret' && f.default === undefined)) {
      const key = `providers.${name}.${k}`;
      missing.push({ key, env: envVarOf(key), reason: f.required ? 'required' : 'credential' });
    }
  }
  return {
    set: Object.keys(values).filter((k) => k in schema).sort(),
    missing,
    errors: v.errors.filter((p) => p.code !== 'DEF_REQUIRED'),
    warnings: v.warnings,
  };
}

/** Plans with prices: the pricing table, else the static catalog's plans. */
export function providerPlans(m: ProviderManifest): { name: string; cores: number; memory: unknown; disk?: unknown; hourly?: number; monthly?: number; currency?: string }[] {
  const currency = m.pricing?.currency;
  const plans = m.pricing?.plans ?? m.catalog?.plans ?? [];
  return plans.map((p) => ({ ...p, ...(currency ? { currency } : {}) }));
}

// ── taskservs ────────────────────────────────────────────────────────────────────

export interface TaskservOrder {
  order: (ResolvedTaskserv & { layer: string; requires: string[] })[];
  /** requirements that some server of the infra must meet (scope "infra") */
  infra: { taskserv: string; requires: string; version: string }[];
  conflicts: { taskserv: string; with: string; range: string }[];
  provides: { taskserv: string; capability: string }[];
  issues: ResolveIssue[];
}

/**
 * The install order of one taskserv alone on one server, with why each one is there. Infra-scope
 * requirements are listed, not resolved: they are met by other servers.
 */
export function taskservOrder(catalog: Catalog, name: string): TaskservOrder {
  const all = taskservDeps(catalog);
  const infra: TaskservOrder['infra'] = [];
  const serverOnly = new Map<string, TaskservDeps>();
  for (const [n, d] of all) {
    const requires = Object.fromEntries(Object.entries(d.requires).filter(([k, e]) => {
      if (e.scope !== 'infra') return true;
      infra.push({ taskserv: n, requires: k, version: e.version });
      return false;
    }));
    serverOnly.set(n, { ...d, requires });
  }
  const res = resolveTaskservs([{ hostname: 'server', path: name, at: [], taskservs: [{ name, ranges: [], source: name, at: [] }] }], serverOnly);
  const order = (res.servers.get('server') ?? []).map((t) => {
    const d = serverOnly.get(t.name)!;
    return { ...t, layer: d.layer, requires: Object.keys(d.requires).filter((k) => k !== 'os') };
  });
  const present = new Set(order.map((t) => t.name));
  return {
    order,
    infra: infra.filter((i) => present.has(i.taskserv)),
    conflicts: order.flatMap((t) => Object.entries(all.get(t.name)!.conflicts).map(([w, range]) => ({ taskserv: t.name, with: w, range }))),
    provides: order.flatMap((t) => all.get(t.name)!.provides.map((capability) => ({ taskserv: t.name, capability }))),
    issues: res.issues,
  };
}

// ── clusters ─────────────────────────────────────────────────────────────────────

/**
 * A cluster's components against the catalog: taskservs exist and match the range, `after`
 * names components, settings fit the taskserv's schema, and `after` plus the manifests'
 * requires between components form no cycle. Returns the problems and, when acyclic, the order.
 */
export function checkCluster(m: ClusterManifest, catalog: Catalog): { errors: PendingProblem[]; order?: string[] } {
  const errors: PendingProblem[] = [];
  const comps = m.cluster.components;
  const at = (i: number, ...rest: PathSegment[]): PathSegment[] => ['cluster', 'components', i, ...rest];
  const names = comps.map((c) => c.name);
  const seen = new Set<string>();
  comps.forEach((c, i) => {
    if (seen.has(c.name)) errors.push(pending('DEF_DUPLICATE', at(i, 'name'), 'a component name used once', c.name, { hint: 'give each component its own name' }));
    seen.add(c.name);
    const ts = catalog.winner('taskserv', c.taskserv);
    if (!ts) {
      const near = closest(c.taskserv, catalog.names('taskserv'), 1)[0];
      errors.push(pending('DEF_REFERENCE', at(i, 'taskserv'), 'a taskserv of the catalog', c.taskserv, {
        message: `${formatPath(at(i, 'taskserv'))}: unknown taskserv '${c.taskserv}'`,
        hint: near ? `did you mean '${near}'?` : '`provisioning taskserv list --available` lists the catalog',
      }));
    } else if (ts.problem || !ts.manifest) {
      errors.push(pending('DEF_REFERENCE', at(i, 'taskserv'), 'a usable taskserv', c.taskserv, {
        message: `${formatPath(at(i, 'taskserv'))}: taskserv '${c.taskserv}' (${ts.layer} layer) is unusable: ${ts.problem}`,
        hint: `\`provisioning layer explain taskserv/${c.taskserv}\``,
      }));
    } else {
      const t = ts.manifest as TaskservManifest;
      if (c.version && validRange(c.version) && !satisfies(t.extension.version, c.version)) {
        errors.push(pending('DEF_VERSION', at(i, 'version'), `a range ${t.extension.version} (${ts.layer} layer) satisfies`, c.version, {
          message: `${formatPath(at(i, 'version'))}: ${c.taskserv} ${t.extension.version} (${ts.layer} layer) does not satisfy ${c.version}`,
        }));
      }
      if (c.settings) {
        const v = validateFields(t.settings ?? {}, c.settings, { path: at(i, 'settings'), plaintextSecrets: false });
        errors.push(...v.errors.filter((p) => p.code !== 'DEF_REQUIRED'));
      }
    }
    (c.after ?? []).forEach((a, j) => {
      if (!names.includes(a)) {
        const near = closest(a, names, 1)[0];
        errors.push(pending('DEF_REFERENCE', at(i, 'after', j), 'the name of a component of this cluster', a, {
          message: `${formatPath(at(i, 'after', j))}: no component named '${a}'`, ...(near ? { hint: `did you mean '${near}'?` } : {}),
        }));
      }
    });
  });

  // Ordering edges: `after`, and a component's taskserv requiring another component's taskserv or capability.
  const deps = taskservDeps(catalog);
  const edges = new Map<string, string[]>();
  for (const c of comps) {
    const out = new Set((c.after ?? []).filter((a) => names.includes(a)));
    for (const key of Object.keys(deps.get(c.taskserv)?.requires ?? {})) {
      for (const other of comps) {
        if (other.name === c.name) continue;
        const o = deps.get(other.taskserv);
        if (other.taskserv === key || o?.provides.includes(key)) out.add(other.name);
      }
    }
    edges.set(c.name, [...out]);
  }
  const uniq = [...new Set(names)];
  for (const cycle of findCycles(uniq, edges)) {
    const i = names.indexOf(cycle[0]!);
    errors.push(pending('DEF_CYCLE', at(i, 'after'), 'components ordered without a cycle', undefined, {
      message: `cluster ${m.extension.name}: dependency cycle ${formatCycle([...cycle, cycle[0]!])} (from \`after\` and the taskservs' requires)`,
      hint: 'remove one of the `after` entries of the cycle',
    }));
  }
  const topo = topoOrder(uniq, (n) => edges.get(n) ?? []);
  return { errors, ...(topo.ok && errors.every((e) => e.code !== 'DEF_CYCLE') ? { order: topo.order } : {}) };
}

// ── full validation of an extension directory ────────────────────────────────────

const templateEnv = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true });

/** A Jinja2/nunjucks syntax error, or undefined. Nothing is rendered. */
export function templateSyntaxProblem(text: string, name: string): string | undefined {
  try {
    new nunjucks.Template(text, templateEnv, name, true);
    return undefined;
  } catch (e) {
    // nunjucks prefixes the template name, which the caller already names
    return (e as Error).message.replace(/^\([^)]*\)\s*/, '').replace(/\s*\n\s*/g, ' ').trim();
  }
}

/** Strings in a manifest that are templates (§5.3): every string of templates, scripts and checks. */
function templatedStrings(raw: Record<string, unknown>): { at: PathSegment[]; value: string }[] {
  const out: { at: PathSegment[]; value: string }[] = [];
  const walk = (v: unknown, at: PathSegment[]) => {
    if (typeof v === 'string') out.push({ at, value: v });
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
  };
  for (const k of ['templates', 'scripts', 'readiness', 'smoke']) if (k in raw) walk(raw[k], [k]);
  return out;
}

/** Files a raw manifest refers to, with their paths in the manifest (works on invalid manifests too). */
function fileRefs(raw: Record<string, unknown>): { at: PathSegment[]; rel: string; template: boolean; optional?: boolean }[] {
  const out: { at: PathSegment[]; rel: string; template: boolean; optional?: boolean }[] = [];
  if (Array.isArray(raw.templates)) {
    raw.templates.forEach((t, i) => { if (t && typeof (t as Record<string, unknown>).source === 'string') out.push({ at: ['templates', i, 'source'], rel: (t as { source: string }).source, template: true }); });
  }
  if (raw.scripts && typeof raw.scripts === 'object') {
    for (const [step, s] of Object.entries(raw.scripts as Record<string, unknown>)) {
      if (s && typeof (s as Record<string, unknown>).run === 'string') out.push({ at: ['scripts', step, 'run'], rel: (s as { run: string }).run, template: true });
    }
  }
  // Core providers are compiled in, extension entry modules are not loaded yet: a missing entry is a warning, an escaping one an error.
  const p = raw.provider as Record<string, unknown> | undefined;
  if (p && typeof p.entry === 'string') out.push({ at: ['provider', 'entry'], rel: p.entry, template: false, optional: true });
  return out;
}

export interface DirValidation {
  dir: string;
  file: string;
  kind?: string;
  name?: string;
  errors: Problem[];
  warnings: Problem[];
  /** what was checked, for the success message */
  checked: string[];
}

/**
 * Every problem of one extension directory: TOML syntax, the manifest schema, name and kind
 * against the directory, files it refers to (inside, existing, no symlink escape), template
 * syntax of files and templated fields, profiles against the settings schema and, for
 * clusters, the components against the catalog. Never throws for bad content.
 */
export function validateExtensionDir(dir: string, catalog?: Catalog): DirValidation {
  const file = join(dir, 'extension.toml');
  const out: DirValidation = { dir, file, errors: [], warnings: [], checked: [] };
  if (!existsSync(file)) {
    out.errors.push({ code: 'DEF_REQUIRED', message: `no extension.toml in ${dir}`, file, path: formatPath([]), expected: 'an extension.toml manifest', actual: 'nothing',
      hint: 'an extension is a directory with extension.toml (spec/models.md §5.1)' });
    return out;
  }
  let raw: unknown;
  let locate: Locator | undefined;
  try {
    const loaded = parseDefinitionText(readFileSync(file, 'utf8'), 'toml', file);
    raw = loaded.data;
    locate = loaded.locate;
  } catch (e) {
    if (e instanceof ProvError && Array.isArray(e.details.errors)) { out.errors.push(...(e.details.errors as Problem[])); return out; }
    throw e;
  }
  const doc = (raw ?? {}) as Record<string, unknown>;
  const ext = (doc.extension ?? {}) as Record<string, unknown>;
  if (typeof ext.kind === 'string') out.kind = ext.kind;
  if (typeof ext.name === 'string') out.name = ext.name;
  const v = validateManifest(raw, { file, locate });
  out.errors.push(...v.errors);
  out.checked.push('manifest schema');
  const flagged = new Set(v.errors.map((p) => p.path));
  const extra: PendingProblem[] = [];
  const extraWarnings: PendingProblem[] = [];

  const dirName = basename(dir);
  if (typeof ext.name === 'string' && ext.name !== dirName && !flagged.has('extension.name')) {
    extra.push(pending('DEF_NAME', ['extension', 'name'], `the directory name "${dirName}"`, ext.name, { message: `extension.name: '${ext.name}' but the directory is '${dirName}'`, hint: `rename the directory or set name = "${dirName}"` }));
  }
  const parentKind = parseKind(basename(dirname(dir)));
  if (parentKind && typeof ext.kind === 'string' && ext.kind !== parentKind && basename(dirname(dir)).endsWith('s') && !flagged.has('extension.kind')) {
    extra.push(pending('DEF_CONFLICT', ['extension', 'kind'], `"${parentKind}" (it sits in ${parentKind}s/)`, ext.kind));
  }

  for (const ref of fileRefs(doc)) {
    const path = formatPath(ref.at);
    const p = pathProblem(dir, ref.rel);
    if (p) {
      if (flagged.has(path)) continue; // the schema already said it escapes
      const missing = p.endsWith('does not exist in the extension');
      (missing && ref.optional ? extraWarnings : extra).push(pending('DEF_REFERENCE', ref.at, 'a file inside the extension directory', ref.rel, { message: `${path}: ${p}` }));
      continue;
    }
    if (ref.template && statSync(join(dir, ref.rel)).isFile()) {
      const syntax = templateSyntaxProblem(readFileSync(join(dir, ref.rel), 'utf8'), ref.rel);
      if (syntax) extra.push(pending('DEF_PARSE', ref.at, 'a file with valid Jinja2 template syntax', ref.rel, { message: `${path}: template ${ref.rel}: ${syntax}` }));
    }
  }
  out.checked.push('file references', 'template syntax');
  for (const s of templatedStrings(doc)) {
    const syntax = templateSyntaxProblem(s.value, formatPath(s.at));
    if (syntax) extra.push(pending('DEF_PARSE', s.at, 'valid Jinja2 template syntax', s.value, { message: `${formatPath(s.at)}: ${syntax}` }));
  }

  const m = v.value;
  const compat = m && compatibilityProblem(m);
  if (compat) extra.push(pending('DEF_VERSION', ['compatibility', 'provisioning'], 'a range this CLI satisfies', m.compatibility!.provisioning, { message: `compatibility.provisioning: ${compat}` }));
  if (m?.extension.kind === 'taskserv') {
    const t = m as TaskservManifest;
    const settings = t.settings ?? {};
    const defaults = validateFields(settings, fieldDefaults(settings), { path: ['settings'], plaintextSecrets: true });
    extra.push(...defaults.errors.filter((p) => p.code !== 'DEF_REQUIRED'));
    for (const [profile, values] of Object.entries(t.profiles ?? {})) {
      const r = validateFields(settings, { ...fieldDefaults(settings), ...values }, { path: ['profiles', profile], plaintextSecrets: true });
      extra.push(...r.errors.filter((p) => p.code !== 'DEF_REQUIRED'));
    }
    out.checked.push('settings defaults', 'profiles');
  }
  if (m?.extension.kind === 'cluster' && catalog) {
    extra.push(...checkCluster(m as ClusterManifest, catalog).errors);
    out.checked.push('components and their order');
  }
  out.errors = sortProblems([...out.errors, ...locateProblems(extra, file, locate)]);
  out.warnings = locateProblems(extraWarnings, file, locate);
  return out;
}

/** Files below a directory, relative, sorted (for check-mode listings). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(d, e.name), r);
      else out.push(r);
    }
  };
  if (existsSync(dir)) walk(dir, '');
  return out;
}

export type { Candidate, ExtensionKind, LayerName };
