import { ProvError } from '../errors/index.js';
import type { Config } from '../config/index.js';
import { interpolate } from '../config/interpolate.js';
import { loadCatalog, taskservDeps, type Catalog } from '../extensions/catalog.js';
import { resolveTaskservs, type ResolvedTaskserv, type WantedTaskserv, type InfraEdge } from '../extensions/resolve.js';
import type {
  CAPABILITIES} from '../model/index.js';
import { checksum, definitionInvalid, fieldDefaults, formatPath, loadInfra, locateProblems, normalizeFieldValues,
  parseSize, pending, resolveServers, secretFieldPaths, setValueAt, stringLeaves, validateFields, deepMerge,
  type ClusterManifest, type InfraSettings, type LoadedDefinition, type PathSegment, type PendingProblem, type Problem,
  type ProviderManifest, type ResolvedServer, type TaskservManifest,
} from '../model/index.js';
import { closest } from '../cli/suggest.js';
import { topoOrder, formatCycle } from '../graph/topo.js';

/**
 * The desired state of one infra: its definition loaded and validated, servers resolved with
 * provider defaults and checked against the provider catalog, taskservs resolved per server
 * (dependencies, order, settings), clusters placed. Everything a plan is computed from, and
 * every problem found on the way reported together with file positions.
 */

export interface DesiredTaskserv extends ResolvedTaskserv {
  server: string;
  /** resolved settings: manifest defaults → profile → taskserv_defaults → cluster → ref */
  settings: Record<string, unknown>;
  profile: string;
  secret_paths: string[];
  checksum: string;
}

export interface DesiredComponent {
  name: string;
  taskserv: string;
  servers: string[];
  after: string[];
  optional: boolean;
  settings: Record<string, unknown>;
}

export interface DesiredCluster {
  name: string;
  extension?: string;
  version?: string;
  /** the cluster's settings: the extension's defaults under the definition's */
  settings: Record<string, unknown>;
  components: DesiredComponent[];
  /** component names in deployment order */
  order: string[];
  parallel: boolean;
  rollback_on_failure: boolean;
  checksum: string;
}

export interface DesiredServer extends ResolvedServer {
  checksum: string;
  price?: { hourly: number; monthly: number; currency: string };
}

export interface DesiredState {
  workspace: { name: string; path: string };
  infra: string;
  environment: string;
  file: string;
  settings: InfraSettings;
  servers: DesiredServer[];
  /** hostname → taskservs in install order */
  taskservs: Map<string, DesiredTaskserv[]>;
  infraEdges: InfraEdge[];
  clusters: DesiredCluster[];
  catalog: Catalog;
  /** config execution.parallel_limit: how many operations may run at once */
  parallelLimit: number;
  warnings: Problem[];
}



/** Resolve `{{ … }}` placeholders in a definition's strings with the config's context (config.md §7). */
function resolvePlaceholders(def: LoadedDefinition, cfg: Config, env: Record<string, string | undefined>, infra: string, problems: PendingProblem[]): void {
  const leaves = stringLeaves(def, /\{\{/);
  if (leaves.length === 0) return;
  const input = new Map<string, unknown>();
  for (const [k, v] of flattenValues(cfg.values)) input.set(k, v);
  const keyOf = (i: number) => `\u0000def.${i}`;
  leaves.forEach((l, i) => input.set(keyOf(i), l.value));
  const r = interpolate(input, {
    env, infra, gitDir: cfg.target.workspace?.path, now: new Date(),
    isSecret: () => true, // kms.decrypt() stays opaque in definitions; field schemas decide where secrets may go
    needsWorkspace: () => false,
  });
  const failed = new Map(r.errors.map((e) => [e.key, e]));
  leaves.forEach((l, i) => {
    const err = failed.get(keyOf(i));
    if (err) {
      problems.push(pending('DEF_REFERENCE', l.at, 'a placeholder that resolves', l.value, { message: `${formatPath(l.at)}: ${err.message}`, hint: err.hint }));
    } else if (r.values.has(keyOf(i))) {
      setValueAt(def.data, l.at, r.values.get(keyOf(i)));
    }
  });
}

function flattenValues(obj: Readonly<Record<string, unknown>>, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...flattenValues(v as Record<string, unknown>, key));
    else out.push([key, v]);
  }
  return out;
}

export interface DesiredOptions {
  /** `--settings <file>` */
  settingsFile?: string;
  env: Record<string, string | undefined>;
}

export async function loadDesired(cfg: Config, opts: DesiredOptions): Promise<DesiredState> {
  const ws = cfg.target.workspace;
  if (!ws) {
    throw new ProvError('NO_WORKSPACE', 'no workspace selected', { hint: 'run inside a workspace, pass --workspace <name>, or create one with `provisioning workspace init <name>`' });
  }
  const infra = cfg.target.infra;
  if (!infra && !opts.settingsFile) {
    throw new ProvError('INFRA_REQUIRED', 'no infra selected', { hint: 'pass --infra <name>; `provisioning infra list` shows the infras of the workspace' });
  }
  const environment = cfg.target.environment;
  const early: PendingProblem[] = [];
  const loaded = await loadInfra({
    workspaceRoot: ws.path, infra, settingsFile: opts.settingsFile, env: opts.env,
    context: { workspace: ws.name, infra: infra ?? '', environment },
    beforeValidate: (def) => resolvePlaceholders(def, cfg, opts.env, infra ?? '', early),
  });
  const { settings, definition } = loaded;
  const infraName = infra ?? loaded.name;
  if (settings.environment && settings.environment !== environment) {
    throw new ProvError('ENV_MISMATCH', `infra '${infraName}' is declared for environment '${settings.environment}', and the selected environment is '${environment}'`, {
      location: { file: loaded.file }, hint: `pass --environment ${settings.environment}`, details: { declared: settings.environment, selected: environment },
    });
  }

  const catalog = loadCatalog(ws.path, infraName, { cacheDir: cfg.dirs.cacheHome });
  const problems: PendingProblem[] = [...early];
  const warnings: PendingProblem[] = [];
  const providerConfig = (cfg.values.providers ?? {}) as Record<string, Record<string, unknown>>;
  const defaultProvider = typeof providerConfig.default === 'string' ? providerConfig.default : 'local';

  // Providers: every one named must be a usable provider extension.
  const providerOf = (p: string, at: PathSegment[]): ProviderManifest | undefined => {
    const w = catalog.winner('provider', p);
    if (!w) {
      const near = closest(p, catalog.names('provider'), 1)[0];
      problems.push(pending('DEF_REFERENCE', at, `a provider: ${catalog.names('provider').join(', ')}`, p, { message: `${formatPath(at)}: unknown provider '${p}'`, hint: near ? `did you mean '${near}'?` : '`provisioning provider list` shows the providers' }));
      return undefined;
    }
    if (w.problem) {
      problems.push(pending('DEF_REFERENCE', at, 'a usable provider extension', p, { message: `${formatPath(at)}: provider '${p}' is unusable: ${w.problem}` }));
      return undefined;
    }
    return w.manifest as ProviderManifest;
  };
  const plansOf = (m: ProviderManifest) => [...(m.catalog?.plans ?? []), ...(m.pricing?.plans ?? [])];

  const resolved = resolveServers(settings, {
    defaultProvider,
    providers: Object.fromEntries(Object.entries(providerConfig).filter(([, v]) => v && typeof v === 'object').map(([k, v]) => [k, { zone: v.zone as string | undefined, plan: v.plan as string | undefined, image: v.image as string | undefined }])),
    planDisk: (provider, plan) => {
      const m = catalog.get('provider', provider) as ProviderManifest | undefined;
      const p = m && plansOf(m).find((x) => x.name === plan);
      return p?.disk !== undefined ? parseSize(p.disk, 'GiB')! / 1024 : undefined;
    },
  });

  const validSettings = new Set<string>();
  const servers: DesiredServer[] = resolved.map((s, i) => {
    const at: PathSegment[] = ['servers', i];
    const declared = settings.servers[i]!;
    const m = s.provider ? providerOf(s.provider, declared.provider ? [...at, 'provider'] : settings.provider ? ['provider'] : [...at]) : undefined;
    let price: DesiredServer['price'];
    if (m) {
      const caps = m.capabilities ?? {};
      const zones = m.catalog?.zones;
      if (s.zone && zones?.length && !zones.includes(s.zone)) {
        const near = closest(s.zone, zones, 1)[0];
        problems.push(pending('DEF_REFERENCE', declared.zone ? [...at, 'zone'] : at, `a zone of ${s.provider}: ${zones.join(', ')}`, s.zone, { message: `${formatPath(at)}: zone '${s.zone}' is not offered by ${s.provider}`, hint: near ? `did you mean '${near}'?` : undefined }));
      }
      const plans = plansOf(m);
      const plan = s.plan ? plans.find((p) => p.name === s.plan) : undefined;
      if (s.plan && plans.length && !plan) {
        const near = closest(s.plan, plans.map((p) => p.name), 1)[0];
        problems.push(pending('DEF_REFERENCE', declared.plan ? [...at, 'plan'] : at, `a plan of ${s.provider}`, s.plan, { message: `${formatPath(at)}: plan '${s.plan}' is not offered by ${s.provider}`, hint: near ? `did you mean '${near}'? (\`provisioning provider info ${s.provider}\` lists plans)` : `\`provisioning provider info ${s.provider}\` lists plans` }));
      }
      if (plan && (s.cores !== undefined && s.cores !== plan.cores || s.memory_mb !== undefined && s.memory_mb !== parseSize(plan.memory, 'MiB'))) {
        problems.push(pending('DEF_CONFLICT', at, `cores/memory matching plan ${plan.name} (${plan.cores} cores, ${plan.memory})`, `${s.cores ?? '-'} cores, ${s.memory_mb ?? '-'} MiB`, { message: `${formatPath(at)}: plan ${plan.name} has ${plan.cores} cores and ${plan.memory}; the server asks for ${s.cores ?? plan.cores} cores and ${s.memory_mb ?? parseSize(plan.memory, 'MiB')} MiB`, hint: 'give either a plan, or cores and memory' }));
      }
      if (!s.plan && (s.cores !== undefined || s.memory_mb !== undefined) && !caps.custom_plans) {
        problems.push(pending('DEF_CONFLICT', at, `a plan (${s.provider} has no custom_plans capability)`, 'cores/memory', { message: `${formatPath(at)}: ${s.provider} needs a named plan; it cannot size servers by cores and memory`, hint: `pick a plan: \`provisioning provider info ${s.provider}\`` }));
      }
      const need = (cond: boolean, cap: (typeof CAPABILITIES)[number], what: string, where: PathSegment[]) => {
        if (cond && !caps[cap]) problems.push(pending('DEF_CONFLICT', where, `a provider with the ${cap} capability`, s.provider, { message: `${formatPath(where)}: ${what} needs the '${cap}' capability, which provider ${s.provider} does not have` }));
      };
      need(s.storage.length > 0, 'storage', 'extra volumes', [...at, 'storage']);
      need(s.network.private.length > 0, 'private_networks', 'private networks', [...at, 'network', 'private']);
      need(s.network.public_ipv6, 'public_ipv6', 'public IPv6', [...at, 'network', 'public_ipv6']);
      need(s.user_data !== undefined, 'user_data', 'user_data', [...at, 'user_data']);
      need(Boolean(declared.network?.firewall ?? settings.network?.firewall), 'firewall', 'firewall rules', [...at, 'network', 'firewall']);
      if (m.server_settings) {
        // Servers usually share their provider settings: validate each distinct value once.
        const key = `${s.provider}\u0000${JSON.stringify(s.provider_settings ?? {})}`;
        if (!validSettings.has(key)) {
          const r = validateFields(m.server_settings, { ...fieldDefaults(m.server_settings), ...(s.provider_settings ?? {}) }, { path: [...at, 'provider_settings'], plaintextSecrets: false });
          problems.push(...r.errors);
          warnings.push(...r.warnings);
          if (r.errors.length === 0 && r.warnings.length === 0) validSettings.add(key);
        }
      }
      const sized = plan ?? (s.cores !== undefined ? undefined : plans.find((p) => p.name === s.plan));
      if (sized && (sized.monthly !== undefined || sized.hourly !== undefined) && m.pricing) {
        price = { hourly: sized.hourly ?? (sized.monthly ?? 0) / 730, monthly: sized.monthly ?? (sized.hourly ?? 0) * 730, currency: m.pricing.currency };
      } else if (m.pricing && plans.length > 0 && plans.every((p) => (p.monthly ?? 0) === 0 && (p.hourly ?? 0) === 0)) {
        price = { hourly: 0, monthly: 0, currency: m.pricing.currency }; // a free provider (local, static) costs nothing at any size
      }
    }
    const spec = { ...s };
    return { ...s, checksum: checksum(spec), ...(price ? { price } : {}) };
  });

  // Taskservs: dependencies and order per server, then settings.
  const deps = taskservDeps(catalog);
  const tsDefaults = settings.taskserv_defaults ?? {};
  const wanted = servers.map((s, i) => ({
    hostname: s.hostname, path: `servers[${i}]`, at: ['servers', i] as PathSegment[],
    taskservs: s.taskservs.map((t, j): WantedTaskserv | undefined => {
      if (!t.enabled) return undefined;
      const source = `servers[${i}].taskservs[${j}]`;
      const ranges = [
        ...(t.version ? [{ range: t.version, source }] : []),
        ...(tsDefaults[t.name]?.version ? [{ range: tsDefaults[t.name]!.version!, source: `taskserv_defaults.${t.name}.version` }] : []),
      ];
      return { name: t.name, ranges, source, at: ['servers', i, 'taskservs', j] };
    }).filter((t): t is WantedTaskserv => t !== undefined),
  }));
  const resolution = resolveTaskservs(wanted, deps);
  for (const issue of resolution.issues) problems.push({ ...pending(issue.code, issue.at, '', undefined, { message: issue.message, hint: issue.hint }), expected: '', actual: '' });

  const taskservs = new Map<string, DesiredTaskserv[]>();
  const resolvedSettings = new Map<string, Pick<DesiredTaskserv, 'profile' | 'settings' | 'secret_paths' | 'checksum'>>();
  servers.forEach((s, i) => {
    const list = resolution.servers.get(s.hostname) ?? [];
    const refs = new Map(s.taskservs.map((t, j) => [t.name, { t, j }]));
    const usedPorts = new Map<number, string>();
    taskservs.set(s.hostname, list.map((r) => {
      const m = catalog.get('taskserv', r.name) as TaskservManifest;
      const ref = refs.get(r.name);
      const at: PathSegment[] = ref ? ['servers', i, 'taskservs', ref.j] : ['servers', i, 'taskservs'];
      const profile = ref?.t.profile ?? 'default';
      for (const port of m.resources?.ports ?? []) {
        const other = usedPorts.get(port);
        if (other) problems.push(pending('DEF_CONFLICT', at, `a free port on ${s.hostname}`, port, { message: `${formatPath(at)}: ${r.name} and ${other} both use port ${port} on ${s.hostname}`, hint: 'place them on different servers' }));
        else usedPorts.set(port, r.name);
      }
      // Identical refs (same taskserv, version, profile and settings) resolve identically: compute once.
      const key = `${r.name}\u0000${r.version}\u0000${profile}\u0000${JSON.stringify(ref?.t.settings ?? null)}`;
      const known = resolvedSettings.get(key);
      if (known) return { ...r, ...known, server: s.hostname };
      if (profile !== 'default' && !m.profiles?.[profile]) {
        problems.push(pending('DEF_REFERENCE', [...at, 'profile'], `a profile of ${r.name}: ${Object.keys(m.profiles ?? {}).join(', ') || '(none)'}`, profile, { message: `${formatPath(at)}: taskserv ${r.name} has no profile '${profile}'` }));
      }
      const table = m.settings ?? {};
      const merged = deepMerge<Record<string, unknown>>(fieldDefaults(table), m.profiles?.[profile] as Record<string, unknown> | undefined, tsDefaults[r.name]?.settings, ref?.t.settings) ?? {};
      const v = validateFields(table, merged, { path: [...at, 'settings'] });
      problems.push(...v.errors);
      warnings.push(...v.warnings);
      const normalized = v.errors.length ? merged : normalizeFieldValues(table, merged);
      const secretPaths = secretFieldPaths(table, merged);
      const computed = {
        profile, settings: normalized, secret_paths: secretPaths,
        checksum: checksum({ name: r.name, version: r.version, profile, settings: normalized }, { secretPaths }),
      };
      if (v.errors.length === 0 && v.warnings.length === 0) resolvedSettings.set(key, computed);
      return { ...r, ...computed, server: s.hostname };
    }));
  });

  const clusters = resolveClusters(settings, servers, catalog, problems);

  if (problems.length) {
    throw definitionInvalid(locateProblems(problems, loaded.file, definition.locate), locateProblems(warnings, loaded.file, definition.locate));
  }
  return {
    workspace: { name: ws.name, path: ws.path }, infra: infraName, environment, file: loaded.file, settings,
    servers, taskservs, infraEdges: resolution.infraEdges, clusters, catalog,
    parallelLimit: Number((cfg.values.execution as { parallel_limit?: number } | undefined)?.parallel_limit ?? 5),
    warnings: locateProblems(warnings, loaded.file, definition.locate),
  };
}

/** Clusters of models.md §5.5: components merged with the extension's, placed on servers, ordered. */
function resolveClusters(settings: InfraSettings, servers: DesiredServer[], catalog: Catalog, problems: PendingProblem[]): DesiredCluster[] {
  const byName = new Map(servers.map((s) => [s.hostname, s]));
  const sortedHosts = [...servers].map((s) => s.hostname).sort();
  return (settings.clusters ?? []).map((c, ci) => {
    const at: PathSegment[] = ['clusters', ci];
    let clusterSettings: Record<string, unknown> = { ...(c.settings ?? {}) };
    let manifest: ClusterManifest | undefined;
    if (c.extension) {
      const w = catalog.winner('cluster', c.extension);
      if (!w || w.problem) {
        const near = closest(c.extension, catalog.names('cluster'), 1)[0];
        problems.push(pending('DEF_REFERENCE', [...at, 'extension'], 'a cluster extension', c.extension, { message: `${formatPath(at)}: ${w ? `cluster extension '${c.extension}' is unusable: ${w.problem}` : `unknown cluster extension '${c.extension}'`}`, hint: near && !w ? `did you mean '${near}'?` : undefined }));
      } else {
        manifest = w.manifest as ClusterManifest;
        if (manifest.settings) {
          clusterSettings = { ...fieldDefaults(manifest.settings), ...(c.settings ?? {}) };
          const r = validateFields(manifest.settings, clusterSettings, { path: [...at, 'settings'] });
          problems.push(...r.errors);
        }
      }
    }
    const base = new Map((manifest?.cluster.components ?? []).map((x) => [x.name, x as Record<string, unknown>]));
    for (const comp of c.components ?? []) base.set(comp.name, base.has(comp.name) ? deepMerge(base.get(comp.name), comp as Record<string, unknown>)! : comp as Record<string, unknown>);
    if (base.size === 0) problems.push(pending('DEF_REQUIRED', at, 'at least one component (from the extension or inline)', undefined, { message: `${formatPath(at)}: cluster '${c.name}' has no components` }));
    const components: DesiredComponent[] = [...base.values()].map((raw, k) => {
      const comp = raw as { name: string; taskserv: string; placement: { servers?: string[]; labels?: Record<string, string>; count?: number; all?: boolean }; after?: string[]; settings?: Record<string, unknown>; optional?: boolean };
      const cat: PathSegment[] = [...at, 'components', (c.components ?? []).findIndex((x) => x.name === comp.name) >= 0 ? (c.components ?? []).findIndex((x) => x.name === comp.name) : k];
      if (!catalog.get('taskserv', comp.taskserv)) {
        problems.push(pending('DEF_REFERENCE', [...cat, 'taskserv'], 'a taskserv of the catalog', comp.taskserv, { message: `${formatPath(cat)}: component '${comp.name}' names unknown taskserv '${comp.taskserv}'` }));
      }
      let placed: string[] = [];
      const p = comp.placement ?? {};
      if (p.servers) {
        for (const h of p.servers) if (!byName.has(h)) problems.push(pending('DEF_REFERENCE', [...cat, 'placement', 'servers'], 'a server of the infra', h, { message: `${formatPath(cat)}: component '${comp.name}' is placed on unknown server '${h}'` }));
        placed = p.servers.filter((h) => byName.has(h));
      } else if (p.all) {
        placed = sortedHosts;
      } else if (p.labels) {
        placed = sortedHosts.filter((h) => Object.entries(p.labels!).every(([k2, v]) => byName.get(h)!.labels[k2] === v));
        if (placed.length === 0 || (p.count !== undefined && placed.length < p.count)) {
          problems.push(pending('DEF_REFERENCE', [...cat, 'placement'], `${p.count ?? 1} server(s) labelled ${JSON.stringify(p.labels)}`, placed.length, { message: `${formatPath(cat)}: component '${comp.name}' matches ${placed.length} server(s) with labels ${JSON.stringify(p.labels)}, needs ${p.count ?? 1}` }));
        }
        if (p.count !== undefined) placed = placed.slice(0, p.count);
      }
      return { name: comp.name, taskserv: comp.taskserv, servers: placed, after: comp.after ?? [], optional: comp.optional ?? false, settings: comp.settings ?? {} };
    });
    const names = new Set(components.map((x) => x.name));
    for (const comp of components) for (const a of comp.after) if (!names.has(a)) problems.push(pending('DEF_REFERENCE', at, 'a component name', a, { message: `${formatPath(at)}: component '${comp.name}' runs after unknown component '${a}'` }));
    // Manifest requires between components add edges too.
    const deps = taskservDeps(catalog);
    const edges = (name: string) => {
      const comp = components.find((x) => x.name === name)!;
      const req = Object.keys(deps.get(comp.taskserv)?.requires ?? {});
      return [...comp.after, ...components.filter((o) => o !== comp && (req.includes(o.taskserv) || (deps.get(o.taskserv)?.provides ?? []).some((cap) => req.includes(cap)))).map((o) => o.name)];
    };
    const topo = topoOrder(components.map((x) => x.name), edges);
    if (!topo.ok) problems.push(pending('DEF_CYCLE', at, 'components without a cycle', formatCycle(topo.cycle), { message: `${formatPath(at)}: component cycle in cluster '${c.name}': ${formatCycle(topo.cycle)}` }));
    const out = { name: c.name, extension: c.extension, version: c.version, settings: clusterSettings, components, order: topo.ok ? topo.order : [], parallel: c.parallel ?? true, rollback_on_failure: c.rollback_on_failure ?? true };
    return { ...out, checksum: checksum(out) };
  });
}

/** The desired taskserv on a server: its own definition, a cluster's placement, or the manifest's defaults. */
export function taskservOn(d: DesiredState, host: string, name: string, cluster?: string): DesiredTaskserv {
  const own = (d.taskservs.get(host) ?? []).find((t) => t.name === name);
  if (own) return own;
  const m = d.catalog.get('taskserv', name) as TaskservManifest | undefined;
  if (!m) throw new ProvError('NOT_FOUND', `unknown taskserv '${name}'`);
  const comp = d.clusters.filter((c) => !cluster || c.name === cluster).flatMap((c) => c.components).find((c) => c.taskserv === name && c.servers.includes(host));
  const table = m.settings ?? {};
  const settings = normalizeFieldValues(table, deepMerge<Record<string, unknown>>(fieldDefaults(table), comp?.settings) ?? {});
  const secretPaths = secretFieldPaths(table, settings);
  return {
    name, version: m.extension.version, reason: comp ? `component ${comp.name}` : 'requested', source: comp ? 'cluster' : '--servers', at: [], server: host,
    settings, profile: 'default', secret_paths: secretPaths,
    checksum: checksum({ name, version: m.extension.version, profile: 'default', settings }, { secretPaths }),
  } as unknown as DesiredTaskserv;
}
