import { ProvError } from '../errors/index.js';
import { closest } from '../cli/suggest.js';
import { resolveTaskservs } from '../extensions/resolve.js';
import { taskservDeps } from '../extensions/catalog.js';
import { taskservOn, type DesiredServer, type DesiredState, type DesiredTaskserv } from '../infra/desired.js';
import type { ResourceState } from '../store/types.js';

/**
 * The planner: desired state + recorded state → Plan. Pure: no network, no store writes, no
 * clock. Every mutating server/taskserv/cluster/infra command computes its plan here, in check
 * mode and as the first step of a real run. The Plan is the API's Plan (spec/api.md §2.3),
 * which `--check --out json` prints as is.
 */

export type Action = 'create' | 'update' | 'replace' | 'delete' | 'noop';
export type ResourceType = 'server' | 'taskserv' | 'cluster';

export interface PlanChange {
  order: number;
  action: Action;
  resource_type: ResourceType;
  name: string;
  /** the resource id of spec/models.md §7 */
  id: string;
  server?: string;
  provider?: string;
  reason: string;
  /** `order` of the changes that must finish first */
  depends_on: number[];
  diff?: Record<string, { from: unknown; to: unknown }>;
  details: Record<string, unknown>;
  /** set when the change is refused without a flag; the run stops before applying anything */
  blocked?: string;
}

export interface Plan {
  check: boolean;
  command: string;
  workspace: string;
  infra: string;
  environment: string;
  changes: PlanChange[];
  summary: Record<Action, number>;
  estimated_cost: { currency: string; hourly: number; monthly: number } | null;
  estimated_duration_s: number | null;
  warnings: string[];
}

export const serverId = (infra: string, host: string) => `server:${infra}/${host}`;
export const taskservId = (infra: string, host: string, name: string) => `taskserv:${infra}/${host}/${name}`;
export const clusterId = (infra: string, name: string) => `cluster:${infra}/${name}`;

/** Fields a provider cannot change in place: a change means a new server. */
const IMMUTABLE = ['provider', 'zone', 'image', 'hostname'];
/** Rough durations for the estimate, in seconds. */
const DURATION: Record<string, number> = { 'server:create': 60, 'server:delete': 20, 'server:update': 30, 'server:replace': 80, 'taskserv:create': 90, 'taskserv:update': 45, 'taskserv:delete': 20, 'cluster:create': 5, 'cluster:delete': 5 };

/** Statuses of a record whose create did not finish: a run was killed (`creating`) or failed before the server existed (`failed`). */
const UNFINISHED = ['creating', 'failed'];
const isLive = (r: ResourceState | undefined) => r !== undefined && r.status !== 'deleted' && r.status !== 'missing' && !UNFINISHED.includes(r.status);
/** Something may exist at the provider: what a delete must look at (a half-created server included). */
const mayExist = (r: ResourceState) => r.status !== 'deleted';

/** Field-level diff of two canonical specs (top-level keys; nested values compared whole). */
export function diffSpecs(from: Record<string, unknown>, to: Record<string, unknown>): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const k of new Set([...Object.keys(from), ...Object.keys(to)])) {
    if (JSON.stringify(from[k]) !== JSON.stringify(to[k])) out[k] = { from: from[k], to: to[k] };
  }
  return out;
}

class Builder {
  readonly changes: PlanChange[] = [];
  readonly warnings: string[] = [];
  /** the last taskserv change planned on each server: taskservs run one at a time per server */
  readonly lastOnServer = new Map<string, number>();
  private readonly byId = new Map<string, PlanChange>();

  constructor(readonly d: DesiredState, readonly recorded: Map<string, ResourceState>) {}

  add(c: Omit<PlanChange, 'order' | 'depends_on'> & { depends_on?: number[] }): PlanChange {
    const existing = this.byId.get(c.id);
    if (existing) return existing;
    const change: PlanChange = { order: this.changes.length + 1, ...c, depends_on: [...new Set(c.depends_on ?? [])] };
    this.changes.push(change);
    this.byId.set(c.id, change);
    return change;
  }

  get(id: string): PlanChange | undefined {
    return this.byId.get(id);
  }

  serverDetails(s: DesiredServer): Record<string, unknown> {
    return {
      provider: s.provider, zone: s.zone, plan: s.plan, cores: s.cores, memory_mb: s.memory_mb, disk_gb: s.disk_gb, image: s.image,
      volumes: s.storage.map((v) => `${v.name}:${v.size_gb}GiB`), ...(s.price ? { monthly_cost: s.price.monthly, currency: s.price.currency } : {}),
    };
  }

  /** The change that makes a server exist: a create when it has no live record, else nothing. */
  ensureServer(s: DesiredServer, reason: string): PlanChange | undefined {
    const id = serverId(this.d.infra, s.hostname);
    if (isLive(this.recorded.get(id))) return undefined;
    return this.add({ action: 'create', resource_type: 'server', name: s.hostname, id, provider: s.provider, reason, details: this.serverDetails(s) });
  }

  finish(command: string): Plan {
    const summary: Record<Action, number> = { create: 0, update: 0, replace: 0, delete: 0, noop: 0 };
    for (const c of this.changes) summary[c.action]++;
    return {
      check: true, command, workspace: this.d.workspace.name, infra: this.d.infra, environment: this.d.environment,
      changes: this.changes, summary, estimated_cost: this.cost(), estimated_duration_s: this.duration(), warnings: this.warnings,
    };
  }

  /** Monthly cost of the servers that exist once the plan is applied (created or kept). */
  private cost(): Plan['estimated_cost'] {
    const touched = this.changes.filter((c) => c.resource_type === 'server');
    if (touched.length === 0) return null;
    const totals = new Map<string, { hourly: number; monthly: number }>();
    const byHost = new Map(this.d.servers.map((s) => [s.hostname, s]));
    for (const c of touched) {
      if (c.action === 'delete') continue;
      const s = byHost.get(c.name);
      if (!s?.price) continue;
      const t = totals.get(s.price.currency) ?? { hourly: 0, monthly: 0 };
      t.hourly += s.price.hourly;
      t.monthly += s.price.monthly;
      totals.set(s.price.currency, t);
    }
    if (totals.size === 0) return { currency: 'USD', hourly: 0, monthly: 0 };
    const [first, ...rest] = [...totals.entries()].sort((a, b) => b[1].monthly - a[1].monthly);
    for (const [cur, o] of rest) this.warnings.push(`also ${o.monthly.toFixed(2)} ${cur}/month in another currency (not added to the estimate)`);
    const [currency, t] = first!;
    return { currency, hourly: Math.round(t.hourly * 10000) / 10000, monthly: Math.round(t.monthly * 100) / 100 };
  }

  /** Critical path of the DAG, and never less than the work spread over `parallel_limit`. */
  private duration(): number | null {
    const active = this.changes.filter((c) => c.action !== 'noop' && !c.blocked);
    if (active.length === 0) return 0;
    const finish = new Map<number, number>();
    let total = 0;
    for (const c of this.changes) {
      const own = c.action === 'noop' || c.blocked ? 0 : DURATION[`${c.resource_type}:${c.action}`] ?? 30;
      const start = Math.max(0, ...c.depends_on.map((o) => finish.get(o) ?? 0));
      finish.set(c.order, start + own);
      total += own;
    }
    const parallel = this.d.parallelLimit;
    return Math.round(Math.max(...finish.values(), total / parallel));
  }
}

function selectServers(d: DesiredState, names: string[] | undefined): DesiredServer[] {
  if (!names || names.length === 0) return d.servers;
  return names.map((n) => {
    const s = d.servers.find((x) => x.hostname === n);
    if (!s) {
      const near = closest(n, d.servers.map((x) => x.hostname), 1)[0];
      throw new ProvError('NOT_FOUND', `server '${n}' is not defined in infra '${d.infra}'`, { hint: near ? `did you mean '${near}'?` : `defined: ${d.servers.map((x) => x.hostname).join(', ') || '(none)'}` });
    }
    return s;
  });
}

const index = (records: ResourceState[]) => new Map(records.map((r) => [r.id, r]));

// ── servers ─────────────────────────────────────────────────────────────────────

export interface ServerPlanOptions {
  action: 'create' | 'delete' | 'update' | 'start' | 'stop' | 'restart';
  names?: string[];
  force?: boolean;
  keepStorage?: boolean;
  allowReplace?: boolean;
}

export function planServers(d: DesiredState, records: ResourceState[], o: ServerPlanOptions): Plan {
  const b = new Builder(d, index(records));
  const cmd = `server ${o.action}`;
  if (o.action === 'delete') {
    planServerDeletes(b, records, o);
    return b.finish(cmd);
  }
  for (const s of selectServers(d, o.names)) {
    const id = serverId(d.infra, s.hostname);
    const rec = b.recorded.get(id);
    const details = b.serverDetails(s);
    if (o.action === 'create') {
      if (!isLive(rec)) {
        const reason = rec?.status === 'missing' ? 'missing at the provider'
          : rec && UNFINISHED.includes(rec.status) ? `an earlier create did not finish (${rec.status}): a server the provider has with its tags is adopted`
            : 'not created yet';
        b.add({ action: 'create', resource_type: 'server', name: s.hostname, id, provider: s.provider, reason, details });
      } else {
        const diff = rec!.checksum === s.checksum ? undefined : diffSpecs(rec!.applied, JSON.parse(JSON.stringify(s)) as Record<string, unknown>);
        b.add({ action: 'noop', resource_type: 'server', name: s.hostname, id, provider: s.provider, reason: diff ? `exists; ${Object.keys(diff).length} field(s) differ: run \`provisioning server update\`` : `already ${rec!.status}`, details, ...(diff ? { diff } : {}) });
      }
      continue;
    }
    if (!isLive(rec)) {
      b.add({ action: 'noop', resource_type: 'server', name: s.hostname, id, provider: s.provider, reason: 'not created: run `provisioning server create` first', details });
      continue;
    }
    if (o.action !== 'update') {
      b.add({ action: 'update', resource_type: 'server', name: s.hostname, id, provider: s.provider, reason: `${o.action} (recorded status: ${rec!.status})`, details: { ...details, power: o.action } });
      continue;
    }
    if (rec!.checksum === s.checksum) {
      b.add({ action: 'noop', resource_type: 'server', name: s.hostname, id, provider: s.provider, reason: 'matches the definition', details });
      continue;
    }
    const diff = diffSpecs(rec!.applied, JSON.parse(JSON.stringify(s)) as Record<string, unknown>);
    delete diff.checksum;
    delete diff.price;
    const immutable = Object.keys(diff).filter((k) => IMMUTABLE.includes(k));
    b.add({
      action: immutable.length ? 'replace' : 'update', resource_type: 'server', name: s.hostname, id, provider: s.provider, diff, details,
      reason: immutable.length ? `${immutable.join(', ')} cannot change in place` : `changed: ${Object.keys(diff).join(', ')}`,
      ...(immutable.length && !o.allowReplace ? { blocked: 'needs a new server: pass --allow-replace' } : {}),
      ...(s.protected && immutable.length ? { blocked: 'protected server: replacing deletes it; remove `protected` first' } : {}),
    });
  }
  return b.finish(cmd);
}

function planServerDeletes(b: Builder, records: ResourceState[], o: ServerPlanOptions): void {
  const d = b.d;
  const live = records.filter((r) => r.kind === 'server' && r.infra === d.infra && mayExist(r));
  let targets: ResourceState[];
  if (o.names?.length) {
    targets = o.names.map((n) => {
      const rec = live.find((r) => r.name === n);
      if (!rec && !d.servers.some((s) => s.hostname === n)) selectServers(d, [n]);
      return rec ?? { id: serverId(d.infra, n), name: n, status: 'not created' } as ResourceState;
    });
  } else {
    targets = live;
  }
  for (const rec of targets) {
    if (!mayExist(rec) || rec.status === 'not created') {
      b.add({ action: 'noop', resource_type: 'server', name: rec.name, id: rec.id, reason: 'not created', details: {} });
      continue;
    }
    // Only objects carrying this workspace's tags are ever deleted (models.md §7).
    if (rec.tags['provisioning.io/workspace'] !== undefined && rec.tags['provisioning.io/workspace'] !== d.workspace.name) {
      b.warnings.push(`${rec.name} carries another workspace's tags; left alone`);
      continue;
    }
    const def = d.servers.find((s) => s.hostname === rec.name);
    const installed = records.filter((r) => r.kind === 'taskserv' && r.parent === rec.id && isLive(r));
    const taskDeletes = o.force ? installed.slice().reverse().map((t) => b.add({ action: 'delete', resource_type: 'taskserv', name: t.name, id: t.id, server: rec.name, reason: `on server ${rec.name}, which is deleted`, details: {} }).order) : [];
    const protectedServer = def?.protected ?? Boolean((rec.applied as { protected?: boolean }).protected);
    b.add({
      action: 'delete', resource_type: 'server', name: rec.name, id: rec.id, provider: rec.provider, depends_on: taskDeletes,
      reason: def ? 'delete requested' : 'no longer defined', details: { provider: rec.provider, volumes: o.keepStorage ? 'kept' : 'destroyed' },
      ...(protectedServer && !o.force ? { blocked: 'protected: pass --force to delete it' }
        : installed.length && !o.force ? { blocked: `taskservs still installed: ${installed.map((t) => t.name).join(', ')}; delete them first or pass --force` } : {}),
    });
  }
}

// ── taskservs ───────────────────────────────────────────────────────────────────

export interface TaskservPlanOptions {
  /** `update`: apply changed settings/versions to installations; `configure`: re-render and restart them anyway */
  action: 'create' | 'delete' | 'update' | 'configure';
  /** update/configure: one server at a time, the next only after the previous passed its checks */
  rolling?: boolean;
  /** update: the version asked for; it must be the catalog's */
  version?: string;
  names?: string[];
  servers?: string[];
  force?: boolean;
  /** deletes only: remove data too */
  cleanupData?: boolean;
}

/** The transitive server-scope requirements of `name` within one server's ordered list. */
function withRequirements(list: DesiredTaskserv[], names: Set<string>, requires: (n: string) => string[], provides: (n: string) => string[]): DesiredTaskserv[] {
  const wanted = new Set<string>();
  const visit = (n: string) => {
    if (wanted.has(n)) return;
    wanted.add(n);
    for (const r of requires(n)) {
      const hit = list.find((t) => t.name === r) ?? list.find((t) => provides(t.name).includes(r));
      if (hit) visit(hit.name);
    }
  };
  for (const t of list) if (names.has(t.name)) visit(t.name);
  return list.filter((t) => wanted.has(t.name));
}

export function planTaskservs(d: DesiredState, records: ResourceState[], o: TaskservPlanOptions): Plan {
  const b = new Builder(d, index(records));
  const cmd = `taskserv ${o.action}`;
  const deps = taskservDeps(d.catalog);
  for (const n of o.names ?? []) {
    if (!deps.has(n)) {
      const near = closest(n, deps.keys(), 1)[0];
      throw new ProvError('NOT_FOUND', `unknown taskserv '${n}'`, { hint: near ? `did you mean '${near}'? (\`provisioning taskserv list --available\`)` : '`provisioning taskserv list --available` lists the catalog' });
    }
  }
  const explicitServers = o.servers?.length ? selectServers(d, o.servers) : undefined;
  if (o.action === 'delete') {
    planTaskservDeletes(b, records, o, explicitServers);
    return b.finish(cmd);
  }
  if (o.action === 'update' || o.action === 'configure') {
    planTaskservUpdates(b, records, o, explicitServers);
    return b.finish(cmd);
  }
  const requires = (n: string) => Object.keys(deps.get(n)?.requires ?? {});
  const names = new Set(o.names?.length ? o.names : [...new Set([...d.taskservs.values()].flat().map((t) => t.name))]);
  // Servers that get them: those listing them, or --servers (where a taskserv not in the definition is added for this run).
  const perServer = new Map<string, DesiredTaskserv[]>();
  for (const s of explicitServers ?? d.servers) {
    let list = d.taskservs.get(s.hostname) ?? [];
    const missing = [...names].filter((n) => !list.some((t) => t.name === n));
    if (explicitServers && missing.length) {
      const extra = resolveTaskservs([{ hostname: s.hostname, path: s.hostname, at: [], taskservs: [...list.map((t) => ({ name: t.name, ranges: [], source: t.source, at: [] })), ...missing.map((m) => ({ name: m, ranges: [], source: `--servers ${s.hostname}`, at: [] }))] }], deps);
      if (extra.issues.length) throw new ProvError('DEFINITION_INVALID', extra.issues[0]!.message, { hint: extra.issues[0]!.hint, details: { errors: extra.issues } });
      list = extra.servers.get(s.hostname)!.map((r) => list.find((t) => t.name === r.name) ?? { ...r, server: s.hostname, settings: {}, profile: 'default', secret_paths: [], checksum: '' });
      b.warnings.push(`${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not in the definition of ${s.hostname}; add ${missing.length > 1 ? 'them' : 'it'} to settings (\`provisioning taskserv generate\`) to keep ${missing.length > 1 ? 'them' : 'it'} managed`);
    }
    const chosen = withRequirements(list, names, requires, (n) => deps.get(n)?.provides ?? []);
    if (chosen.length) perServer.set(s.hostname, chosen);
  }
  if (perServer.size === 0) {
    throw new ProvError('NOT_FOUND', `no server of infra '${d.infra}' lists ${[...names].join(', ') || 'any taskserv'}`, { hint: 'add it to a server in the definition, or pass --servers <name>' });
  }
  addTaskservChanges(b, perServer, o.names?.length ? new Set(o.names) : undefined);
  return b.finish(cmd);
}

/** Create/update/noop changes for ordered taskservs per server, plus the servers they need. */
function addTaskservChanges(b: Builder, perServer: Map<string, DesiredTaskserv[]>, requested?: Set<string>, after: number[] = [], cluster?: string): Map<string, number> {
  const d = b.d;
  const orderOf = new Map<string, number>();
  for (const [host, list] of perServer) {
    const s = d.servers.find((x) => x.hostname === host)!;
    const sc = b.ensureServer(s, `needed by ${list.map((t) => t.name).join(', ')}`) ?? b.get(serverId(d.infra, host));
    const last = b.lastOnServer.get(host);
    let prev: number[] = [...after, ...(last !== undefined ? [last] : sc ? [sc.order] : [])];
    for (const t of list) {
      const id = taskservId(d.infra, host, t.name);
      const rec = b.recorded.get(id);
      const details = { version: t.version, profile: t.profile, steps: 'install → configure → start → readiness → smoke test', files: templateTargets(d, t.name), ...(cluster ? { cluster } : {}) };
      const reason = t.reason === 'declared' || requested?.has(t.name) ? (t.reason === 'declared' ? 'declared' : `requested${t.reason !== 'declared' ? `; ${t.reason}` : ''}`) : t.reason;
      let change: PlanChange;
      if (!isLive(rec)) {
        change = b.add({ action: 'create', resource_type: 'taskserv', name: t.name, id, server: host, reason, depends_on: prev, details });
      } else if (rec!.checksum === t.checksum) {
        change = b.add({ action: 'noop', resource_type: 'taskserv', name: t.name, id, server: host, reason: 'installed and unchanged (its checks run again)', depends_on: prev, details });
      } else {
        const diff = diffSpecs(rec!.applied, { name: t.name, version: t.version, profile: t.profile, settings: t.settings });
        change = b.add({ action: 'update', resource_type: 'taskserv', name: t.name, id, server: host, reason: diff.version ? 'version changed: upgrade' : 'settings changed: reconfigure and restart', depends_on: prev, diff, details });
      }
      orderOf.set(id, change.order);
      prev = [change.order]; // one step at a time per server
      b.lastOnServer.set(host, change.order);
    }
  }
  // Infra-scope requirements wait for the providing taskserv elsewhere.
  for (const e of d.infraEdges) {
    const mine = b.get(taskservId(d.infra, e.server, e.taskserv));
    if (!mine) continue;
    for (const n of e.needs) {
      const other = b.get(taskservId(d.infra, n.server, n.taskserv));
      if (other && !mine.depends_on.includes(other.order) && other.order < mine.order) mine.depends_on.push(other.order);
    }
  }
  return orderOf;
}

/**
 * `taskserv update|configure <names>`: the installations of these taskservs. update: those whose
 * applied settings or version differ (upgrade before reconfigure); configure: all of them.
 * `rolling` chains the servers so a failure stops the rest.
 */
function planTaskservUpdates(b: Builder, records: ResourceState[], o: TaskservPlanOptions, servers?: DesiredServer[]): void {
  const d = b.d;
  const names = new Set(o.names ?? []);
  const hosts = servers?.map((s) => s.hostname);
  const installed = records.filter((r) => r.kind === 'taskserv' && r.infra === d.infra && isLive(r) && names.has(r.name) && (!hosts || hosts.includes(String(r.parent).split('/').pop()!)));
  if (installed.length === 0) throw new ProvError('NOT_FOUND', `${[...names].join(', ')} is not installed${hosts ? ` on ${hosts.join(', ')}` : ''} in infra '${d.infra}'`, { hint: '`provisioning taskserv create` installs it' });
  let prev: number | undefined;
  for (const rec of installed) {
    const host = String(rec.parent).split('/').pop()!;
    const want = taskservOn(d, host, rec.name, rec.tags['provisioning.io/cluster']);
    if (o.version && o.version !== want.version) {
      throw new ProvError('NOT_FOUND', `${rec.name} ${o.version} is not in the catalog: the winning layer has ${want.version}`, { hint: `\`provisioning taskserv versions ${rec.name}\` lists the layers' versions` });
    }
    const diff = diffSpecs(rec.applied, { name: want.name, version: want.version, profile: want.profile, settings: want.settings, files: (rec.applied as { files?: unknown }).files });
    const changed = rec.checksum !== want.checksum;
    const last = b.lastOnServer.get(host);
    const depends = [...(last !== undefined ? [last] : []), ...(o.rolling && prev !== undefined ? [prev] : [])];
    const details = { version: want.version, from_version: rec.version, profile: want.profile, files: templateTargets(d, rec.name), ...(rec.tags['provisioning.io/cluster'] ? { cluster: rec.tags['provisioning.io/cluster'] } : {}) };
    const change = o.action === 'configure' || changed
      ? b.add({ action: 'update', resource_type: 'taskserv', name: rec.name, id: rec.id, server: host, depends_on: depends, details, ...(changed ? { diff } : {}),
        reason: o.action === 'configure' ? 'configure requested: re-render, configure, restart, re-verify' : diff.version ? `upgrade ${rec.version} → ${want.version}` : 'settings changed: reconfigure and restart' })
      : b.add({ action: 'noop', resource_type: 'taskserv', name: rec.name, id: rec.id, server: host, depends_on: depends, details, reason: `already ${want.version} with these settings (its checks run again)` });
    b.lastOnServer.set(host, change.order);
    prev = change.order;
  }
}

function templateTargets(d: DesiredState, name: string): string[] {
  const m = d.catalog.get('taskserv', name) as { templates?: { target: string }[] } | undefined;
  return (m?.templates ?? []).map((t) => t.target);
}

function planTaskservDeletes(b: Builder, records: ResourceState[], o: TaskservPlanOptions, servers?: DesiredServer[]): void {
  const d = b.d;
  const names = new Set(o.names ?? []);
  const deps = taskservDeps(d.catalog);
  const hosts = servers?.map((s) => s.hostname);
  const installed = records.filter((r) => r.kind === 'taskserv' && r.infra === d.infra && isLive(r));
  const targets = installed.filter((r) => names.has(r.name) && (!hosts || hosts.includes(String(r.parent).split('/').pop()!)));
  if (targets.length === 0) {
    b.warnings.push(`${[...names].join(', ')} is not installed${hosts ? ` on ${hosts.join(', ')}` : ''}; nothing to delete`);
    return;
  }
  // Reverse install order: the latest generation first.
  for (const t of targets.slice().reverse()) {
    const host = String(t.parent).split('/').pop()!;
    const dependents = installed.filter((r) => r.parent === t.parent && r.id !== t.id && !names.has(r.name) && Object.keys(deps.get(r.name)?.requires ?? {}).some((k) => k === t.name || (deps.get(t.name)?.provides ?? []).includes(k)));
    b.add({
      action: 'delete', resource_type: 'taskserv', name: t.name, id: t.id, server: host, reason: 'delete requested',
      details: { data: o.cleanupData ? 'deleted' : 'kept' },
      ...(dependents.length && !o.force ? { blocked: `${dependents.map((x) => x.name).join(', ')} on ${host} depend${dependents.length === 1 ? 's' : ''} on it; delete ${dependents.length === 1 ? 'it' : 'them'} first or pass --force` } : {}),
    });
  }
}

// ── clusters and whole infras ──────────────────────────────────────────────────

function clusterOf(d: DesiredState, name: string) {
  const c = d.clusters.find((x) => x.name === name);
  if (!c) {
    const near = closest(name, d.clusters.map((x) => x.name), 1)[0];
    throw new ProvError('NOT_FOUND', `cluster '${name}' is not defined in infra '${d.infra}'`, { hint: near ? `did you mean '${near}'?` : `defined: ${d.clusters.map((x) => x.name).join(', ') || '(none)'}` });
  }
  return c;
}

function addClusterCreate(b: Builder, name: string, after: number[] = []): void {
  const d = b.d;
  const c = clusterOf(d, name);
  const done = new Map<string, number[]>(); // component → its change orders
  for (const compName of c.order) {
    const comp = c.components.find((x) => x.name === compName)!;
    const before = [...after, ...comp.after.flatMap((a) => done.get(a) ?? []), ...(c.parallel ? [] : [...done.values()].flat())];
    const orders: number[] = [];
    for (const host of comp.servers) {
      const own = (d.taskservs.get(host) ?? []).find((t) => t.name === comp.taskserv);
      const t: DesiredTaskserv = own ?? { ...taskservOn(d, host, comp.taskserv, c.name), reason: `component ${comp.name} of cluster ${c.name}`, source: `clusters.${c.name}` };
      const m = addTaskservChanges(b, new Map([[host, [{ ...t, reason: own ? `component ${comp.name} of cluster ${c.name} (shares the server's installation)` : t.reason }]]]), undefined, before, c.name);
      orders.push(...m.values());
    }
    done.set(compName, orders);
  }
  const id = clusterId(d.infra, c.name);
  const rec = b.recorded.get(id);
  b.add({
    action: !isLive(rec) ? 'create' : rec!.checksum === c.checksum ? 'noop' : 'update', resource_type: 'cluster', name: c.name, id,
    reason: !isLive(rec) ? `components in order: ${c.order.join(' → ')}` : 'recorded', depends_on: [...done.values()].flat(),
    details: { extension: c.extension, components: c.components.map((x) => `${x.name}:${x.taskserv}@${x.servers.join('+')}`), rollback_on_failure: c.rollback_on_failure },
  });
}

export function planCluster(d: DesiredState, records: ResourceState[], o: { action: 'create' | 'delete'; name: string }): Plan {
  const b = new Builder(d, index(records));
  if (o.action === 'create') addClusterCreate(b, o.name);
  else addClusterDelete(b, records, o.name);
  return b.finish(`cluster ${o.action}`);
}

function addClusterDelete(b: Builder, records: ResourceState[], name: string): void {
  const d = b.d;
  const c = clusterOf(d, name);
  const installedByCluster = records.filter((r) => r.kind === 'taskserv' && isLive(r) && r.tags['provisioning.io/cluster'] === c.name);
  let prev: number[] = [];
  for (const compName of [...c.order].reverse()) {
    const comp = c.components.find((x) => x.name === compName)!;
    const orders = installedByCluster.filter((r) => r.name === comp.taskserv).map((r) => b.add({ action: 'delete', resource_type: 'taskserv', name: r.name, id: r.id, server: String(r.parent).split('/').pop(), reason: `component ${comp.name} of cluster ${c.name} (reverse order)`, depends_on: prev, details: { cluster: c.name } }).order);
    if (orders.length) prev = orders;
  }
  const id = clusterId(d.infra, c.name);
  if (isLive(b.recorded.get(id))) b.add({ action: 'delete', resource_type: 'cluster', name: c.name, id, reason: 'delete requested', depends_on: prev, details: {} });
  else if (installedByCluster.length === 0) b.warnings.push(`cluster ${c.name} is not installed; nothing to delete`);
}

/** `infra create`: servers, then taskservs in dependency order, then clusters, as one plan. */
export function planInfra(d: DesiredState, records: ResourceState[], o: { action: 'create' | 'delete'; keepStorage?: boolean }): Plan {
  const b = new Builder(d, index(records));
  if (o.action === 'create') {
    for (const s of d.servers) {
      const id = serverId(d.infra, s.hostname);
      const rec = b.recorded.get(id);
      if (isLive(rec)) b.add({ action: 'noop', resource_type: 'server', name: s.hostname, id, provider: s.provider, reason: `already ${rec!.status}`, details: b.serverDetails(s) });
      else b.ensureServer(s, 'not created yet');
    }
    const perServer = new Map([...d.taskservs.entries()].filter(([, l]) => l.length > 0));
    if (perServer.size) addTaskservChanges(b, perServer);
    for (const c of d.clusters) addClusterCreate(b, c.name);
    return b.finish('infra create');
  }
  for (const c of d.clusters) addClusterDelete(b, records, c.name);
  planServerDeletes(b, records, { action: 'delete', force: true, keepStorage: o.keepStorage });
  return b.finish('infra delete');
}
