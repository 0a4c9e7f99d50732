/**
 * Carry out a plan: every change that is not a no-op becomes a scheduler step, ordered by the
 * plan's `depends_on` and limited to `parallel` at once. The result lists every change with
 * what happened to it, so a partial failure says exactly which servers exist.
 */
import { ProvError } from '../errors/index.js';
import type { Plan, PlanChange } from '../plan/plan.js';
import type { Observed } from '../providers/index.js';
import { runGraph, type Outcome } from './scheduler.js';
import { createServer, deleteServer, powerServer, type ServerContext } from './servers.js';

export interface ApplyOptions {
  parallel: number;
  signal?: AbortSignal;
  keepStorage?: boolean;
  onStart?(change: PlanChange): void;
  onEnd?(change: PlanChange, outcome: Outcome): void;
}

export interface ChangeResult {
  order: number;
  id: string;
  name: string;
  action: PlanChange['action'];
  status: Outcome['status'];
  ms?: number;
  error?: { code: string; message: string; hint?: string };
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

export async function applyPlan(plan: Plan, ctx: ServerContext, o: ApplyOptions): Promise<ApplyResult> {
  const active = plan.changes.filter((c) => c.action !== 'noop');
  const blocked = active.find((c) => c.blocked);
  if (blocked) {
    throw new ProvError('INVALID_ARGUMENT', `${blocked.resource_type} ${blocked.name}: ${blocked.blocked}`, { hint: 'nothing was changed; `--check` shows the whole plan', details: { change: blocked.order } });
  }
  const later = active.find((c) => c.resource_type !== 'server');
  if (later) {
    throw new ProvError('NOT_IMPLEMENTED', `applying ${later.resource_type} changes (${later.action} ${later.name}) arrives with issue #5 (taskservs and clusters); nothing was changed`, { hint: 'delete the taskservs first, or wait for #5' });
  }
  const records = new Map((await ctx.store.listResources({ workspace: plan.workspace, infra: plan.infra, kind: 'server', includeDeleted: true })).map((r) => [r.id, r]));
  const observed = new Map<number, Observed>();
  const byHost = new Map(ctx.desired.servers.map((s) => [s.hostname, s]));
  const outcomes = await runGraph(active.map((c) => ({ key: c.order, depends_on: c.depends_on.filter((d) => active.some((a) => a.order === d)), item: c })), {
    parallel: o.parallel,
    signal: o.signal,
    onStart: (s) => o.onStart?.(s.item),
    onEnd: (s, outcome) => o.onEnd?.(s.item, outcome),
    run: async ({ item: c }, signal) => {
      const rec = records.get(c.id);
      if (c.action === 'create') {
        const spec = byHost.get(c.name);
        if (!spec) throw new ProvError('NOT_FOUND', `server '${c.name}' is not defined in infra '${plan.infra}'`);
        observed.set(c.order, await createServer(ctx, spec, signal));
      } else if (c.action === 'delete') {
        if (!rec) throw new ProvError('NOT_FOUND', `no record of server '${c.name}'`);
        await deleteServer(ctx, rec, o.keepStorage ?? false);
      } else if (c.action === 'update' && typeof c.details.power === 'string') {
        if (!rec) throw new ProvError('NOT_FOUND', `no record of server '${c.name}'`);
        observed.set(c.order, await powerServer(ctx, rec, c.details.power as 'start' | 'stop' | 'restart', signal));
      } else {
        throw new ProvError('NOT_IMPLEMENTED', `${c.action} of server ${c.name} (${c.reason}) is not supported by this build`, { hint: 'in-place updates and replacements land with a later issue; delete and create the server instead' });
      }
    },
  });
  const results: ChangeResult[] = active.map((c) => {
    const out = outcomes.get(c.order)!;
    const obs = observed.get(c.order);
    return {
      order: c.order, id: c.id, name: c.name, action: c.action, status: out.status,
      ...(out.status !== 'skipped' ? { ms: out.ms } : { reason: out.reason }),
      ...(out.status === 'failed' ? { error: { code: out.error.code, message: out.error.message, ...(out.error.hint ? { hint: out.error.hint } : {}) } } : {}),
      ...(obs ? { observed: { provider_id: obs.provider_id, status: obs.status, addresses: obs.addresses } } : {}),
    };
  });
  return {
    results,
    failed: results.filter((r) => r.status === 'failed').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    done: results.filter((r) => r.status === 'done').length,
  };
}
