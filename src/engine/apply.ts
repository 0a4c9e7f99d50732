/**
 * Carry out a plan: every change becomes a scheduler step, ordered by the plan's `depends_on`
 * and limited to `parallel` at once (taskservs of one server are already chained by the
 * planner, so a server runs one step at a time). Server no-ops are skipped; taskserv no-ops
 * run their `check` script, which decides whether anything must happen. A cluster whose
 * components failed is rolled back: the components this run installed are uninstalled in
 * reverse order. The result lists every change with what happened to it.
 */
import { ProvError, asProvError } from '../errors/index.js';
import type { Plan, PlanChange } from '../plan/plan.js';
import type { Observed } from '../providers/index.js';
import type { ResourceState } from '../store/types.js';
import { runGraph, type Outcome } from './scheduler.js';
import { createServer, deleteServer, powerServer, type ServerContext } from './servers.js';
import { applyTaskserv, removeTaskserv, ServerSessions } from './taskservs.js';

export interface ApplyOptions {
  parallel: number;
  signal?: AbortSignal;
  keepStorage?: boolean;
  /** taskserv deletes: remove data too */
  cleanupData?: boolean;
  /** taskserv creates: run the whole contract even when installed */
  force?: boolean;
  onStart?(change: PlanChange): void;
  onEnd?(change: PlanChange, outcome: Outcome, note?: string): void;
}

export interface ChangeResult {
  order: number;
  id: string;
  name: string;
  server?: string;
  action: PlanChange['action'] | 'rollback';
  status: Outcome['status'];
  ms?: number;
  /** what a taskserv run did: "installed, smoke tests passed", "unchanged (check passed)" */
  note?: string;
  error?: { code: string; message: string; hint?: string; details?: Record<string, unknown> };
  reason?: string;
  /** how the server is now, for creates and power changes */
  observed?: Pick<Observed, 'provider_id' | 'status' | 'addresses'>;
}

export interface ApplyResult {
  results: ChangeResult[];
  failed: number;
  skipped: number;
  done: number;
}

/** Whether a change does anything when applied (a taskserv no-op still runs its check). */
export const isWork = (c: PlanChange): boolean => c.action !== 'noop' || c.resource_type === 'taskserv';

const errorOf = (e: ProvError): ChangeResult['error'] => ({ code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}), ...(Object.keys(e.details).length ? { details: e.details } : {}) });

export async function applyPlan(plan: Plan, ctx: ServerContext, o: ApplyOptions): Promise<ApplyResult> {
  const active = plan.changes.filter(isWork);
  const blocked = active.find((c) => c.blocked);
  if (blocked) {
    throw new ProvError('INVALID_ARGUMENT', `${blocked.resource_type} ${blocked.name}: ${blocked.blocked}`, { hint: 'nothing was changed; `--check` shows the whole plan', details: { change: blocked.order } });
  }
  const all = await ctx.store.listResources({ workspace: plan.workspace, infra: plan.infra, includeDeleted: true });
  const records = new Map<string, ResourceState>(all.map((r) => [r.id, r]));
  const observed = new Map<number, Observed>();
  const notes = new Map<number, string>();
  const byHost = new Map(ctx.desired.servers.map((s) => [s.hostname, s]));
  const sessions = new ServerSessions(ctx);
  const fresh = async (id: string) => (await ctx.store.getResource(id)) ?? records.get(id);

  const run = async (c: PlanChange, signal: AbortSignal): Promise<void> => {
    const rec = records.get(c.id);
    const need = () => { if (!rec) throw new ProvError('NOT_FOUND', `no record of ${c.resource_type} '${c.name}'`); return rec; };
    if (c.resource_type === 'server') {
      if (c.action === 'create') {
        const spec = byHost.get(c.name);
        if (!spec) throw new ProvError('NOT_FOUND', `server '${c.name}' is not defined in infra '${plan.infra}'`);
        observed.set(c.order, await createServer(ctx, spec, signal));
      } else if (c.action === 'delete') {
        await deleteServer(ctx, need(), o.keepStorage ?? false);
      } else if (c.action === 'update' && typeof c.details.power === 'string') {
        observed.set(c.order, await powerServer(ctx, need(), c.details.power as 'start' | 'stop' | 'restart', signal));
      } else {
        throw new ProvError('NOT_IMPLEMENTED', `${c.action} of server ${c.name} (${c.reason}) is not supported by this build`, { hint: 'in-place updates and replacements land with a later issue; delete and create the server instead' });
      }
    } else if (c.resource_type === 'taskserv') {
      if (c.action === 'delete') {
        await removeTaskserv(ctx, sessions, (await fresh(c.id)) ?? need(), { cleanupData: o.cleanupData ?? false }, signal);
        notes.set(c.order, 'uninstalled');
      } else {
        const r = await applyTaskserv(ctx, sessions, { host: c.server!, name: c.name, action: c.action as 'create' | 'update' | 'noop', ...(typeof c.details.cluster === 'string' ? { cluster: c.details.cluster } : {}), force: o.force ?? false }, signal);
        notes.set(c.order, r.did);
      }
    } else {
      await recordCluster(ctx, plan, c, rec);
    }
  };

  const outcomes = await runGraph(active.map((c) => ({ key: c.order, depends_on: c.depends_on.filter((d) => active.some((a) => a.order === d)), item: c })), {
    parallel: o.parallel,
    signal: o.signal,
    keepGoing: plan.command === 'cluster delete' || plan.command === 'infra delete',
    onStart: (s) => o.onStart?.(s.item),
    onEnd: (s, outcome) => o.onEnd?.(s.item, outcome, notes.get(s.key)),
    run: ({ item }, signal) => run(item, signal),
  });

  const results: ChangeResult[] = active.map((c) => {
    const out = outcomes.get(c.order)!;
    const obs = observed.get(c.order);
    return {
      order: c.order, id: c.id, name: c.name, ...(c.server ? { server: c.server } : {}), action: c.action, status: out.status,
      ...(out.status !== 'skipped' ? { ms: out.ms } : { reason: out.reason }),
      ...(notes.has(c.order) ? { note: notes.get(c.order)! } : {}),
      ...(out.status === 'failed' ? { error: errorOf(out.error) } : {}),
      ...(obs ? { observed: { provider_id: obs.provider_id, status: obs.status, addresses: obs.addresses } } : {}),
    };
  });
  results.push(...await rollbackClusters(ctx, plan, active, outcomes, sessions, o));
  return {
    results,
    failed: results.filter((r) => r.status === 'failed').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    done: results.filter((r) => r.status === 'done').length,
  };
}

async function recordCluster(ctx: ServerContext, plan: Plan, c: PlanChange, rec: ResourceState | undefined): Promise<void> {
  const d = ctx.desired;
  const cl = d.clusters.find((x) => x.name === c.name);
  const at = new Date().toISOString();
  const deleting = c.action === 'delete';
  const record: ResourceState = {
    id: c.id, kind: 'cluster', workspace: plan.workspace, infra: plan.infra, name: c.name,
    status: deleting ? 'deleted' : 'ready', ...(cl?.version ? { version: cl.version } : {}),
    tags: { 'provisioning.io/workspace': plan.workspace, 'provisioning.io/infra': plan.infra, 'provisioning.io/name': c.name, 'provisioning.io/id': c.id },
    checksum: deleting ? rec?.checksum ?? '' : cl?.checksum ?? '',
    applied: deleting ? rec?.applied ?? {} : { name: c.name, extension: cl?.extension, components: cl?.components.map((x) => ({ name: x.name, taskserv: x.taskserv, servers: x.servers })) },
    generation: (rec?.generation ?? 0) + 1, created_at: rec?.created_at ?? at, updated_at: at, ...(deleting ? { deleted_at: at } : {}),
  };
  await ctx.store.applyChanges([{ record, action: deleting ? 'delete' : rec && rec.status !== 'deleted' ? 'update' : 'create', command: ctx.command }]);
}

/**
 * models.md §5.5: a cluster create that did not complete, with `rollback_on_failure`, uninstalls
 * the components this run installed, newest first; installations that existed before stay.
 */
async function rollbackClusters(ctx: ServerContext, plan: Plan, active: PlanChange[], outcomes: Map<number, Outcome>, sessions: ServerSessions, o: ApplyOptions): Promise<ChangeResult[]> {
  const out: ChangeResult[] = [];
  for (const c of active.filter((x) => x.resource_type === 'cluster' && x.action !== 'delete' && outcomes.get(x.order)?.status !== 'done')) {
    const cl = ctx.desired.clusters.find((x) => x.name === c.name);
    if (!cl?.rollback_on_failure) continue;
    const installed = active.filter((x) => x.resource_type === 'taskserv' && x.action === 'create' && x.details.cluster === c.name && outcomes.get(x.order)?.status === 'done');
    for (const x of installed.sort((a, b) => b.order - a.order)) {
      const t0 = Date.now();
      const change: PlanChange = { ...x, action: 'delete', reason: `rollback of cluster ${c.name}` };
      o.onStart?.(change);
      try {
        const rec = await ctx.store.getResource(x.id);
        if (rec) await removeTaskserv(ctx, sessions, rec, { cleanupData: false }, new AbortController().signal);
        const r: ChangeResult = { order: x.order, id: x.id, name: x.name, ...(x.server ? { server: x.server } : {}), action: 'rollback', status: 'done', ms: Date.now() - t0, note: `uninstalled: rollback of cluster ${c.name}` };
        o.onEnd?.(change, { status: 'done', ms: r.ms! }, r.note);
        out.push(r);
      } catch (err) {
        const e = asProvError(err);
        o.onEnd?.(change, { status: 'failed', ms: Date.now() - t0, error: e });
        out.push({ order: x.order, id: x.id, name: x.name, ...(x.server ? { server: x.server } : {}), action: 'rollback', status: 'failed', ms: Date.now() - t0, error: errorOf(e) });
      }
    }
  }
  return out;
}
