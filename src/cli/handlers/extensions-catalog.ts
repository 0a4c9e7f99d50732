import { join } from 'node:path';
import { configInvalid, originLabel, type Config, type Problem as ConfigProblem } from '../../config/index.js';
import { ProvError } from '../../errors/index.js';
import type { Catalog } from '../../extensions/catalog.js';
import {
  checkCluster, checkProviderConfig, envVarOf, findExtension, providerPlans, taskservOrder, unusableError, validateExtensionDir, versionOf,
  type Candidate,
} from '../../extensions/inspect.js';
import {
  CAPABILITIES, definitionInvalid, type ClusterManifest, type ExtensionManifest, type FieldTable, type PendingProblem,
  type Problem, type ProviderManifest, type TaskservManifest,
} from '../../model/index.js';
import type { Handler, Invocation } from '../context.js';
import { catalogOf, kvText, manifestInvalid, sectionsView, shown, tableText, usable, yesNo } from './extensions-common.js';

/**
 * `provider list|info|validate`, `taskserv list|show|deps|validate`, `cluster list|show|validate`
 * (spec/cli.md §15, §16, §22.4): catalog views over the three layers. A broken manifest shows
 * as unusable with its reason in lists, and fails show/validate with every problem (exit 3).
 */

/** The usable manifest of a named extension, or NOT_FOUND / DEFINITION_INVALID. */
function usableExtension<M extends ExtensionManifest>(catalog: Catalog, kind: 'provider' | 'taskserv' | 'cluster', name: string): { c: Candidate<ExtensionManifest>; m: M } {
  const c = findExtension(catalog, kind, name);
  if (!usable(c)) throw unusableError(c, catalog);
  return { c, m: c.manifest as M };
}

const fieldRows = (table: FieldTable | undefined) => Object.entries(table ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([key, f]) => ({
  key, type: f.type, required: f.required ?? false,
  // a secret's default is never shown
  default: f.type === 'secret' && f.default !== undefined ? '(secret)' : f.default ?? null,
  description: f.description ?? null,
  ...(f.enum ? { enum: f.enum } : {}),
}));

// ── providers ────────────────────────────────────────────────────────────────────

const capabilitiesOf = (m: ProviderManifest) => CAPABILITIES.filter((c) => m.capabilities?.[c] === true);

function providerStatus(cfg: Config, name: string, m: ProviderManifest) {
  const check = checkProviderConfig(name, m, cfg.get(`providers.${name}`));
  return { check, configured: check.missing.length === 0 && check.errors.length === 0 };
}

export const providerList: Handler = async (inv) => {
  const { cfg, catalog } = await catalogOf(inv);
  const data = catalog.list('provider').map((c) => {
    if (!usable(c)) return { name: c.name, version: null, layer: c.layer, path: c.dir, transport: null, capabilities: [], configured: false, missing: [], usable: false, problem: c.problem };
    const m = c.manifest as ProviderManifest;
    const { check, configured } = providerStatus(cfg, c.name, m);
    return {
      name: c.name, version: m.extension.version, layer: c.layer, path: c.dir, transport: m.provider.transport ?? 'ssh',
      capabilities: capabilitiesOf(m), configured, missing: check.missing.map((x) => x.key), usable: true, problem: null,
    };
  });
  const configuredCell = (d: (typeof data)[number]) => !d.usable ? '' : d.configured ? 'yes' : `no (missing ${d.missing.map((k) => k.split('.').pop()).join(', ') || 'valid values'})`;
  return {
    data,
    view: { kind: 'table', columns: ['name', 'version', 'layer', 'transport', 'capabilities', 'configured', 'status'],
      rows: data.map((d) => [d.name, d.version, d.layer, d.transport, d.capabilities.join(', '), configuredCell(d), d.usable ? 'ok' : `unusable: ${d.problem}`]) },
  };
};

export const providerInfo: Handler = async (inv) => {
  const name = inv.args.name as string;
  const { cfg, catalog } = await catalogOf(inv);
  const { c, m } = usableExtension<ProviderManifest>(catalog, 'provider', name);
  const { check, configured } = providerStatus(cfg, name, m);
  const config = fieldRows(m.config).map((f) => ({ ...f, set: check.set.includes(f.key), env: envVarOf(`providers.${name}.${f.key}`) }));
  const plans = providerPlans(m);
  const data = {
    name, version: m.extension.version, layer: c.layer, path: c.dir, description: m.extension.description ?? null,
    transport: m.provider.transport ?? 'ssh', default_user: m.provider.default_user ?? null, interface: m.provider.interface,
    capabilities: Object.fromEntries(CAPABILITIES.map((k) => [k, m.capabilities?.[k] === true])),
    configured, missing: check.missing,
    config, server_settings: fieldRows(m.server_settings),
    zones: m.catalog?.zones ?? [], images: m.catalog?.images ?? [],
    pricing: m.pricing ? { currency: m.pricing.currency, source: m.pricing.source ?? 'static', storage_gb_month: m.pricing.storage_gb_month ?? null } : null,
    plans,
  };
  const fieldTable = (rows: ReturnType<typeof fieldRows>, withSet: boolean) => tableText(
    ['key', 'type', 'required', 'default', ...(withSet ? ['set'] : []), 'description'],
    rows.map((f) => [f.key, f.type, yesNo(f.required), shown(f.default ?? undefined), ...(withSet ? [yesNo((f as { set?: boolean }).set)] : []), f.description ?? '']));
  return {
    data,
    view: sectionsView([
      await kvText([['provider', `${name} ${m.extension.version} (${c.layer} layer)`], ['path', c.dir], ['description', m.extension.description],
        ['transport', data.transport], ['default user', data.default_user], ['capabilities', capabilitiesOf(m).join(', ') || 'none'],
        ['configured', configured ? 'yes' : `no: ${check.missing.map((x) => `${x.key} (${x.env})`).join(', ') || 'invalid values (provider validate)'}`]]),
      config.length ? `CONFIG [providers.${name}]\n${await fieldTable(config, true)}` : undefined,
      data.server_settings.length ? `SERVER SETTINGS (provider_settings of a server)\n${await fieldTable(data.server_settings, false)}` : undefined,
      data.zones.length ? `ZONES\n${data.zones.join(', ')}` : undefined,
      plans.length ? `PLANS${data.pricing ? ` (${data.pricing.currency}, ${data.pricing.source})` : ''}\n${await tableText(['plan', 'cores', 'memory', 'disk', 'hourly', 'monthly'],
        plans.map((p) => [p.name, p.cores, p.memory, p.disk, p.hourly, p.monthly]))}` : undefined,
    ]),
  };
};

/** A value problem of validateFields as a config problem, located where the value was set. */
function configProblem(cfg: Config, p: PendingProblem): ConfigProblem {
  const origin = cfg.origin(p.path);
  const code = p.code.replace(/^DEF_/, 'CONFIG_');
  return {
    code: code === 'CONFIG_NAME' ? 'CONFIG_PATTERN' : code, message: p.message, severity: 'error', layer: origin ? originLabel(origin) : 'provider',
    ...(origin?.file ? { file: origin.file, line: origin.line, column: origin.column } : {}), ...(origin?.variable ? { variable: origin.variable } : {}),
    path: p.path, expected: p.expected, ...(p.hint ? { hint: p.hint } : {}),
  };
}

/** Providers someone set up: the default one and those with a key set above the defaults. */
function providersInUse(cfg: Config, names: string[]): Set<string> {
  const used = new Set<string>([String(cfg.get('providers.default') ?? '')]);
  for (const l of cfg.leaves()) {
    const m = /^providers\.([^.]+)\./.exec(l.key);
    if (m && l.origin.layer !== 'default' && l.value !== '') used.add(m[1]!);
  }
  return new Set(names.filter((n) => used.has(n)));
}

export const providerValidate: Handler = async (inv) => {
  const name = inv.args.name as string | undefined;
  const all = inv.flags.all === true;
  if (!name === !all) throw new ProvError('USAGE', name ? 'pass a provider name or --all, not both' : 'name a provider, or pass --all', { hint: 'provisioning provider validate upcloud' });
  const { cfg, catalog } = await catalogOf(inv);
  const names = name ? [name] : catalog.names('provider');
  if (name) findExtension(catalog, 'provider', name);
  const inUse = all ? providersInUse(cfg, names) : new Set(names);
  const errors: ConfigProblem[] = [];
  const report: { name: string; status: 'valid' | 'invalid' | 'skipped'; set: string[]; missing: { key: string; env: string; reason: string }[]; note?: string }[] = [];
  for (const n of names) {
    const c = catalog.winner('provider', n)!;
    if (!inUse.has(n)) { report.push({ name: n, status: 'skipped', set: [], missing: [], note: 'not configured (not the default provider, no keys set)' }); continue; }
    if (!usable(c)) {
      errors.push({ code: 'CONFIG_REFERENCE', severity: 'error', layer: c.layer, file: join(c.dir, 'extension.toml'), message: `provider ${n} (${c.layer} layer) is unusable: ${c.problem}`,
        hint: `provisioning validate extension ${c.dir}` });
      report.push({ name: n, status: 'invalid', set: [], missing: [] });
      continue;
    }
    const check = checkProviderConfig(n, c.manifest as ProviderManifest, cfg.get(`providers.${n}`));
    errors.push(...check.errors.map((p) => configProblem(cfg, p)));
    for (const x of check.missing) {
      errors.push({
        code: 'CONFIG_REQUIRED', severity: 'error', layer: 'envvar', variable: x.env, path: x.key,
        message: `${x.key} is not set: ${x.reason === 'credential' ? `provider ${n} signs in with it` : `provider ${n} requires it`} (set the key, or the environment variable ${x.env})`,
        expected: `a value for ${x.key}`,
        hint: `export ${x.env}=…  or  provisioning config set ${x.key} <value> --scope user`,
      });
    }
    report.push({ name: n, status: check.errors.length || check.missing.length ? 'invalid' : 'valid', set: check.set, missing: check.missing });
  }
  if (errors.length > 0) throw configInvalid(errors, [], cfg.layers);
  const lines = report.map((r) => r.status === 'skipped' ? `- provider ${r.name}: skipped, ${r.note}` : `✓ provider ${r.name}: config valid, credentials present (not contacted)`);
  return { data: { valid: true, providers: report }, view: { kind: 'text', text: lines.join('\n') } };
};

// ── taskservs ────────────────────────────────────────────────────────────────────

export const taskservList: Handler = async (inv) => {
  if (inv.flags.available !== true) {
    // installed taskservs (handlers/taskservs.ts): with --installed, or by default inside an infra
    const target = (await inv.config()).target;
    if (inv.flags.installed === true || (target.workspace && (target.infra || inv.globals.settings))) return (await import('./taskservs.js')).listInstalled(inv);
    inv.info(`no ${target.workspace ? 'infra' : 'workspace'} selected: showing the catalogue (as with --available)`);
  }
  const { catalog } = await catalogOf(inv);
  const category = inv.flags.category as string | undefined;
  const q = (inv.flags.search as string | undefined)?.toLowerCase();
  const data = catalog.list('taskserv').map((c) => {
    const m = c.manifest as TaskservManifest | undefined;
    return {
      name: c.name, version: versionOf(c) ?? null, category: m?.extension.category ?? null, layer: c.layer, description: m?.extension.description ?? null,
      keywords: m?.extension.keywords ?? [], usable: usable(c), problem: c.problem ?? null,
    };
  }).filter((t) => (!category || t.category === category)
    && (!q || [t.name, t.description ?? '', t.category ?? '', ...t.keywords].some((s) => s.toLowerCase().includes(q))));
  return {
    data,
    view: { kind: 'table', columns: ['name', 'version', 'category', 'layer', 'description'],
      rows: data.map((t) => [t.name, t.version, t.category, t.layer, t.usable ? t.description : `✗ unusable: ${t.problem}`]) },
  };
};

const checkName = (kind: string, i: number, name?: string) => name ?? `${kind}-${i + 1}`;

export const taskservShow: Handler = async (inv) => {
  const name = inv.args.name as string;
  const { catalog } = await catalogOf(inv);
  const { c, m } = usableExtension<TaskservManifest>(catalog, 'taskserv', name);
  const dep = m.dependencies ?? {};
  const norm = (t: Record<string, string | { version?: string; scope?: string }> | undefined) =>
    Object.fromEntries(Object.entries(t ?? {}).map(([k, v]) => [k, typeof v === 'string' ? { version: v, scope: 'server' } : { version: v.version ?? '*', scope: v.scope ?? 'server' }]));
  const checks = (list: TaskservManifest['readiness']) => (list ?? []).map((ch, i) => ({ ...ch, name: checkName(ch.kind, i, ch.name) }));
  const data = {
    name, version: m.extension.version, layer: c.layer, path: c.dir, description: m.extension.description ?? null, category: m.extension.category ?? null,
    compatibility: m.compatibility ?? {},
    dependencies: { requires: norm(dep.requires), optional: norm(dep.optional), conflicts: dep.conflicts ?? {}, provides: dep.provides ?? [] },
    resources: m.resources ?? {},
    settings: fieldRows(m.settings),
    profiles: m.profiles ?? {},
    templates: (m.templates ?? []).map((t) => ({ source: t.source, target: t.target, mode: t.mode ?? '0644', owner: t.owner ?? 'root', group: t.group ?? null })),
    scripts: Object.entries(m.scripts ?? {}).map(([step, s]) => ({ step, run: s?.run ?? null, inline: s?.inline !== undefined, timeout: s?.timeout ?? (step === 'check' ? '1m' : '10m'), hint: s?.hint ?? null })),
    readiness: checks(m.readiness),
    smoke: checks(m.smoke),
  };
  const depLine = (t: Record<string, { version: string; scope: string }>) => Object.entries(t).map(([k, v]) => `${k} ${v.version}${v.scope === 'infra' ? ' (infra)' : ''}`).join(', ');
  const checkText = (ch: { name: string; kind: string } & Record<string, unknown>) => {
    const what = ch.kind === 'http' ? ch.url : ch.kind === 'tcp' ? `port ${String(ch.port)}` : ch.kind === 'command' ? ch.command : ch.path;
    return [ch.name, ch.kind, what, ch.retries ?? ''];
  };
  const r = data.resources as Record<string, unknown>;
  return {
    data,
    view: sectionsView([
      await kvText([['taskserv', `${name} ${m.extension.version} (${c.layer} layer)`], ['path', c.dir], ['category', data.category], ['description', data.description],
        ['os', m.compatibility?.os], ['requires', depLine(data.dependencies.requires)], ['optional', depLine(data.dependencies.optional)],
        ['conflicts', Object.entries(data.dependencies.conflicts).map(([k, v]) => `${k} ${v}`).join(', ')], ['provides', data.dependencies.provides],
        ['resources', ['cores', 'memory', 'disk'].filter((k) => r[k] !== undefined).map((k) => `${k} ${String(r[k])}`).join(' · ')], ['ports', r.ports as unknown[]],
        ['privileged', r.privileged === undefined ? undefined : yesNo(r.privileged as boolean)]]),
      data.settings.length ? `SETTINGS\n${await tableText(['key', 'type', 'required', 'default', 'description'],
        data.settings.map((f) => [f.key, f.type, yesNo(f.required), shown(f.default ?? undefined), f.description ?? '']))}` : undefined,
      Object.keys(data.profiles).length ? `PROFILES\n${await tableText(['profile', 'settings'], Object.entries(data.profiles).map(([p, v]) => [p, Object.entries(v).map(([k, x]) => `${k}=${shown(x)}`).join(', ')]))}` : undefined,
      data.templates.length ? `TEMPLATES\n${await tableText(['source', 'target', 'mode', 'owner'], data.templates.map((t) => [t.source, t.target, t.mode, t.owner]))}` : undefined,
      data.scripts.length ? `SCRIPTS\n${await tableText(['step', 'run', 'timeout', 'hint'], data.scripts.map((s) => [s.step, s.run ?? '(inline)', s.timeout, s.hint ?? '']))}` : undefined,
      data.readiness.length ? `READINESS\n${await tableText(['check', 'kind', 'what', 'retries'], data.readiness.map(checkText))}` : undefined,
      data.smoke.length ? `SMOKE TESTS\n${await tableText(['check', 'kind', 'what', 'retries'], data.smoke.map(checkText))}` : undefined,
    ]),
  };
};

const issueProblems = (file: string, issues: { code: string; message: string; hint?: string }[]): Problem[] =>
  issues.map((i) => ({ code: i.code, message: i.message, file, path: 'dependencies', expected: 'resolvable dependencies', actual: 'a problem', ...(i.hint ? { hint: i.hint } : {}) }));

export const taskservDependencies: Handler = async (inv) => {
  const name = inv.args.name as string;
  const { catalog } = await catalogOf(inv);
  const { c } = usableExtension<TaskservManifest>(catalog, 'taskserv', name);
  const o = taskservOrder(catalog, name);
  if (o.issues.length > 0) throw definitionInvalid(issueProblems(join(c.dir, 'extension.toml'), o.issues));
  const data = {
    name, order: o.order.map((t, i) => ({ step: i + 1, name: t.name, version: t.version, layer: t.layer.replace(/ layer$/, ''), reason: t.reason, requires: t.requires })),
    infra_requirements: o.infra, conflicts: o.conflicts, provides: o.provides,
  };
  return {
    data,
    view: sectionsView([
      `Install order of ${name} on one server\n${await tableText(['#', 'taskserv', 'version', 'layer', 'reason', 'after'],
        data.order.map((t) => [t.step, t.name, t.version, t.layer, t.reason, t.requires.join(', ')]))}`,
      o.infra.length ? `Needed somewhere in the infra (scope "infra")\n${o.infra.map((i) => `  ${i.taskserv} requires ${i.requires} ${i.version}`).join('\n')}` : undefined,
      o.conflicts.length ? `Conflicts\n${o.conflicts.map((x) => `  ${x.taskserv} conflicts with ${x.with} ${x.range}`).join('\n')}` : undefined,
      o.provides.length ? `Provides\n${o.provides.map((x) => `  ${x.taskserv}: ${x.capability}`).join('\n')}` : undefined,
    ]),
  };
};

export const taskservValidate: Handler = async (inv) => {
  const name = inv.args.name as string;
  const level = (inv.flags.level as string | undefined) ?? 'all';
  const { catalog } = await catalogOf(inv);
  const c = findExtension(catalog, 'taskserv', name);
  const file = join(c.dir, 'extension.toml');
  const checked: string[] = [];
  const errors: Problem[] = [];
  if (level !== 'dependencies' || !usable(c)) {
    const v = validateExtensionDir(c.dir, catalog);
    errors.push(...v.errors);
    checked.push(...v.checked);
    if (errors.length === 0 && c.problem) errors.push(...unusableError(c, catalog).details.errors as Problem[]);
  }
  let order: string[] = [];
  if (level !== 'static' && errors.length === 0) {
    const o = taskservOrder(catalog, name);
    const deps = new Map(catalog.list('taskserv').filter(usable).map((t) => [t.name, t.manifest as TaskservManifest]));
    const known = (key: string) => deps.has(key) || [...deps.values()].some((t) => t.dependencies?.provides?.includes(key));
    const infraProblems = o.infra.filter((i) => !known(i.requires)).map((i) => ({
      code: 'DEF_REFERENCE', message: `${i.taskserv} requires '${i.requires}' somewhere in the infra, and no taskserv in the catalog is or provides it`,
      hint: 'load an extension that provides it (`provisioning module discover taskserv`)' }));
    errors.push(...issueProblems(file, [...o.issues, ...infraProblems]));
    order = o.order.map((t) => t.name);
    checked.push('dependencies resolve');
  }
  if (errors.length > 0) throw definitionInvalid(errors);
  const m = c.manifest as TaskservManifest;
  const lines = [`✓ taskserv ${name} ${m.extension.version} (${c.layer} layer) is valid (level ${level})`, ...checked.map((x) => `  ✓ ${x}`)];
  if (order.length) lines.push(`  install order: ${order.join(' → ')}`);
  return { data: { valid: true, name, version: m.extension.version, layer: c.layer, level, checked, order }, view: { kind: 'text', text: lines.join('\n') } };
};

// ── clusters ─────────────────────────────────────────────────────────────────────

type Component = ClusterManifest['cluster']['components'][number];
const placementText = (p: Component['placement']): string =>
  'servers' in p ? `servers ${p.servers.join(', ')}` : 'labels' in p ? `${Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(',')}${p.count ? ` ×${p.count}` : ''}` : 'all servers';

export const clusterList: Handler = async (inv) => {
  const { catalog } = await catalogOf(inv);
  const data = catalog.list('cluster').map((c) => {
    const m = c.manifest as ClusterManifest | undefined;
    return {
      name: c.name, version: versionOf(c) ?? null, layer: c.layer, description: m?.extension.description ?? null,
      components: (m?.cluster.components ?? []).map((x) => ({ name: x.name, taskserv: x.taskserv })), usable: usable(c), problem: c.problem ?? null,
    };
  });
  return {
    data,
    view: { kind: 'table', columns: ['name', 'version', 'layer', 'taskservs', 'status'],
      rows: data.map((d) => [d.name, d.version, d.layer, d.components.map((x) => x.taskserv).join(', '), d.usable ? 'ok' : `unusable: ${d.problem}`]) },
  };
};

export const clusterShow: Handler = async (inv) => {
  const name = inv.args.name as string;
  const { catalog } = await catalogOf(inv);
  const { c, m } = usableExtension<ClusterManifest>(catalog, 'cluster', name);
  const check = checkCluster(m, catalog);
  const data = {
    name, version: m.extension.version, layer: c.layer, path: c.dir, description: m.extension.description ?? null,
    settings: fieldRows(m.settings),
    components: m.cluster.components.map((x) => ({ name: x.name, taskserv: x.taskserv, version: x.version ?? '*', placement: x.placement, after: x.after ?? [], optional: x.optional ?? false, settings: x.settings ?? {} })),
    order: check.order ?? null,
    problems: check.errors.map((p) => p.message),
  };
  return {
    data,
    view: sectionsView([
      await kvText([['cluster', `${name} ${m.extension.version} (${c.layer} layer)`], ['path', c.dir], ['description', data.description],
        ['order', check.order?.join(' → ') ?? `invalid (${check.errors.length} problem${check.errors.length === 1 ? '' : 's'}; \`provisioning cluster validate ${name}\`)`]]),
      `COMPONENTS\n${await tableText(['component', 'taskserv', 'version', 'placement', 'after', 'optional'],
        data.components.map((x) => [x.name, x.taskserv, x.version, placementText(x.placement), x.after.join(', '), yesNo(x.optional)]))}`,
      data.settings.length ? `SETTINGS\n${await tableText(['key', 'type', 'required', 'default', 'description'],
        data.settings.map((f) => [f.key, f.type, yesNo(f.required), shown(f.default ?? undefined), f.description ?? '']))}` : undefined,
    ]),
  };
};

export const clusterValidate: Handler = async (inv: Invocation) => {
  const name = inv.args.name as string;
  const { catalog } = await catalogOf(inv);
  const { c, m } = usableExtension<ClusterManifest>(catalog, 'cluster', name);
  const check = checkCluster(m, catalog);
  if (check.errors.length > 0) throw manifestInvalid(join(c.dir, 'extension.toml'), check.errors);
  return {
    data: { valid: true, name, version: m.extension.version, layer: c.layer, order: check.order },
    view: { kind: 'text', text: `✓ cluster ${name} ${m.extension.version} (${c.layer} layer) is valid\n  order: ${check.order!.join(' → ')}` },
  };
};
