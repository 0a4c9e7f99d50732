/**
 * Workflows, batches and tasks (spec/api.md §3.2–3.4). Submits validate the body (400), then
 * build the rows with the engine's `prepareWorkflow` (422 for definitions, references, cycles)
 * before anything is recorded; the engine picks them up from the store.
 *
 * Check mode: the rows are built exactly as for a run (so every target is checked), then the
 * workflow is recorded as completed with a `plan` listing what each operation would touch, its
 * operations `skipped` (they never ran; nothing can be rolled back), and nothing is executed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as z from 'zod';
import { notFound } from '../../engine/control.js';
import { prepareWorkflow, workflowDefaults } from '../../engine/host.js';
import { dropUndefined, ProvError } from '../../errors/index.js';
import { OPERATION_TYPES } from '../../model/schema.js';
import { infraScope, lockedError } from '../../store/lock.js';
import { waves } from '../../workflow/spec.js';
import type { OperationRow, Status, TaskFilter, WorkflowFilter, WorkflowKind, WorkflowRow } from '../../workflow/types.js';
import { toWireProgress, toWireTask, toWireWorkflow } from '../../workflow/wire.js';
import { authorize, type Principal } from '../auth.js';
import type { Ctx } from '../context.js';
import { PAGE, Q, ok, pageOf, parseWith, sendPage, validationFailed } from '../http.js';
import { idempotent } from '../idempotency.js';

export const STATUSES: Status[] = ['pending', 'queued', 'running', 'cancelling', 'completed', 'failed', 'cancelled', 'skipped', 'rolling_back', 'rolled_back', 'rollback_failed'];
const KINDS: WorkflowKind[] = ['server', 'taskserv', 'cluster', 'batch', 'custom'];
const TASK_KINDS = [...OPERATION_TYPES.map((t) => t.replace('_', '.')), ...OPERATION_TYPES.map((t) => `rollback.${t}`)];
const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

// ── bodies ──────────────────────────────────────────────────────────────────────

const submitOptions = {
  check_mode: z.boolean().optional(),
  wait: z.boolean().optional(),
  wait_timeout_s: z.int().min(1).max(3600).optional(),
  priority: z.int().min(0).max(100).optional(),
  /** accepted; locks are taken per operation when it runs (docs/orchestrator-api.md) */
  queue_on_lock: z.boolean().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  not_before: z.iso.datetime({ offset: true }).optional(),
};
type Options = z.infer<z.ZodObject<typeof submitOptions>>;
const name = z.string().min(1);
const target = { infra: name, workspace: z.string().optional() };
const ServersBody = z.strictObject({ action: z.enum(['create', 'update', 'delete']), servers: z.array(name).min(1).optional(), ...target, ...submitOptions });
const TaskservsBody = z.strictObject({ action: z.enum(['create', 'update', 'delete']), taskserv: name, servers: z.array(name).min(1).optional(), version: z.string().optional(), ...target, ...submitOptions });
const ClustersBody = z.strictObject({ action: z.enum(['create', 'delete']), cluster: name, ...target, ...submitOptions });
const DEFINITION_KEYS = ['name', 'version', 'description', 'infra', 'environment', 'parallel_limit', 'rollback_enabled', 'continue_on_error', 'timeout', 'defaults', 'labels', 'operations'] as const;
/** A WorkflowSpec plus submit options. Its definition fields are the model's to check (422), only unknown top-level keys are a body error. */
const SpecBody = z.strictObject({
  ...Object.fromEntries(DEFINITION_KEYS.filter((k) => k !== 'labels').map((k) => [k, z.unknown().optional()])) as Record<Exclude<typeof DEFINITION_KEYS[number], 'labels'>, z.ZodOptional<z.ZodUnknown>>,
  workspace: z.string().optional(), fail_fast: z.boolean().optional(), ...submitOptions,
});
const CancelBody = z.strictObject({ reason: z.string().optional(), rollback: z.boolean().optional() });
const RollbackBody = z.strictObject({ checkpoint_id: z.string().optional(), operation_ids: z.array(z.string()).min(1).optional(), force: z.boolean().optional(), reason: z.string().optional() });
const ResumeBody = z.strictObject({ reason: z.string().optional() });
const TaskCancelBody = z.strictObject({ reason: z.string().optional() });

// ── queries ─────────────────────────────────────────────────────────────────────

const WorkflowQuery = z.strictObject({
  ...PAGE, status: Q.list(STATUSES), kind: Q.list(KINDS), infra: Q.list(), workspace: Q.list(), submitted_by: Q.list(), check_mode: Q.bool,
  execution: Q.list(['orchestrated', 'direct']), label: Q.list(), from: Q.time, to: Q.time,
  sort: Q.list(['created_at', 'status', 'name', 'priority']), order: Q.list(['asc', 'desc']), expand: Q.list(['operations', 'plan']),
});
const TaskQuery = z.strictObject({
  ...PAGE, status: Q.list(STATUSES), workflow_id: Q.list(), operation_id: Q.list(), kind: Q.list(TASK_KINDS), server: Q.list(), infra: Q.list(), from: Q.time, to: Q.time,
});
const LogQuery = z.strictObject({ level: Q.list(LEVELS), after_seq: Q.int(0, Number.MAX_SAFE_INTEGER), limit: Q.int(1, 1000), operation_id: Q.str, task_id: Q.str, server: Q.str });
const TaskLogQuery = LogQuery.pick({ level: true, after_seq: true, limit: true });
const StatsQuery = z.strictObject({ from: Q.time, to: Q.time });
const ALL = { limit: 1_000_000, offset: 0 };

type Params = { id: string };

export function workflowRoutes(app: FastifyInstance, ctx: Ctx): void {
  const { store } = ctx;

  // ── submits ───────────────────────────────────────────────────────────────────

  async function submit(req: FastifyRequest, reply: FastifyReply, p: Principal, o: Options & { workspace?: string | undefined }, kind: WorkflowKind, action: WorkflowRow['action'], raw: Record<string, unknown>) {
    if (o.workspace !== undefined && o.workspace !== ctx.workspace) {
      throw new ProvError('UNKNOWN_REFERENCE', `unknown workspace '${o.workspace}': this orchestrator serves '${ctx.workspace}'`, { details: { kind: 'workspace', name: o.workspace } });
    }
    return idempotent(store, req, reply, p.id, async () => {
      const { workflow, operations } = await prepareWorkflow(dropUndefined(raw), {
        workspace: ctx.workspace, kind, action, execution: 'orchestrated', submitted_by: p.id, defaultInfra: typeof raw.infra === 'string' ? raw.infra : null,
        defaults: workflowDefaults(ctx.cfg), wsPath: ctx.workspacePath, env: ctx.env, workdir: null,
        ...(o.priority !== undefined ? { priority: o.priority } : {}), ...(o.check_mode ? { check_mode: true } : {}),
        ...(o.labels ? { labels: o.labels } : {}), ...(o.not_before ? { not_before: Date.parse(o.not_before) } : {}),
      });
      if (workflow.check_mode) checkOnly(workflow, operations);
      else if (!o.queue_on_lock) await refuseLocked(ctx.workspacePath, ctx.workspace, operations);
      await ctx.control(p).submit(workflow, operations);
      const final = o.wait ? await ctx.waitFinal(workflow.id, (o.wait_timeout_s ?? 300) * 1000) : undefined;
      const w = final ?? (await store.getWorkflow(workflow.id))!;
      const base = kind === 'batch' ? '/api/v1/batches' : '/api/v1/workflows';
      return { status: final ? 200 : 202, data: toWireWorkflow(w, await store.getOperations(w.id)), location: `${base}/${w.id}` };
    });
  }

  app.post('/api/v1/workflows/servers', async (req, reply) => {
    const b = parseWith(ServersBody, req.body, 'body');
    const p = authorize(req, b.check_mode ? 'server:plan' : `server:${b.action}`, { type: 'Infra', id: b.infra });
    return submit(req, reply, p, b, 'server', b.action, {
      name: `server-${b.action}`, infra: b.infra, labels: b.labels,
      operations: [{ id: 'servers', type: `server_${b.action}`, target: { servers: b.servers ?? '*', infra: b.infra } }],
    });
  });

  app.post('/api/v1/workflows/taskservs', async (req, reply) => {
    const b = parseWith(TaskservsBody, req.body, 'body');
    const p = authorize(req, b.check_mode ? 'taskserv:plan' : `taskserv:${b.action}`, { type: 'Taskserv', id: `${b.infra}/${b.taskserv}` });
    return submit(req, reply, p, b, 'taskserv', b.action, {
      name: `taskserv-${b.action}-${b.taskserv}`, infra: b.infra, labels: b.labels,
      operations: [{ id: 'taskserv', type: `taskserv_${b.action}`, target: dropUndefined({ taskserv: b.taskserv, infra: b.infra, servers: b.servers, version: b.version }) }],
    });
  });

  app.post('/api/v1/workflows/clusters', async (req, reply) => {
    const b = parseWith(ClustersBody, req.body, 'body');
    const p = authorize(req, b.check_mode ? 'cluster:plan' : `cluster:${b.action}`, { type: 'Cluster', id: `${b.infra}/${b.cluster}` });
    return submit(req, reply, p, b, 'cluster', b.action, {
      name: `cluster-${b.action}-${b.cluster}`, infra: b.infra, labels: b.labels,
      operations: [{ id: 'cluster', type: `cluster_${b.action}`, target: { cluster: b.cluster, infra: b.infra } }],
    });
  });

  for (const [url, kind, action] of [['/api/v1/workflows', 'custom', 'workflow:submit'], ['/api/v1/batches', 'batch', 'batch:submit']] as const) {
    app.post(url, async (req, reply) => {
      const b = parseWith(SpecBody, req.body, 'body');
      const p = authorize(req, action);
      const spec: Record<string, unknown> = Object.fromEntries(DEFINITION_KEYS.map((k) => [k, b[k]]));
      // the API's fail_fast is the file's continue_on_error, inverted (models.md §6)
      if (b.fail_fast !== undefined && spec.continue_on_error === undefined) spec.continue_on_error = !b.fail_fast;
      return submit(req, reply, p, b, kind, null, spec);
    });
  }

  // ── workflows and batches ─────────────────────────────────────────────────────

  for (const base of ['/api/v1/workflows', '/api/v1/batches']) {
    const batch = base.endsWith('batches');
    const load = async (id: string): Promise<WorkflowRow> => {
      const w = await store.getWorkflow(id);
      if (!w || (batch && w.kind !== 'batch')) throw notFound(batch ? 'batch' : 'workflow', id);
      return w;
    };

    app.get(base, async (req, reply) => {
      const q = parseWith(WorkflowQuery, req.query, 'query');
      authorize(req, 'workflow:read');
      const page = pageOf(q);
      const { rows, total } = await store.listWorkflows(workflowFilter(q, batch), page);
      const expand = { operations: q.expand?.includes('operations') ?? false, plan: q.expand?.includes('plan') ?? false };
      const data = await Promise.all(rows.map(async (w) => toWireWorkflow(w, await store.getOperations(w.id), expand)));
      return sendPage(req, reply, data, total, page);
    });

    app.get<{ Params: Params }>(`${base}/:id`, async (req, reply) => {
      authorize(req, 'workflow:read', { type: 'Workflow', id: req.params.id });
      const w = await load(req.params.id);
      return ok(reply, toWireWorkflow(w, await store.getOperations(w.id)));
    });

    app.get<{ Params: Params }>(`${base}/:id/progress`, async (req, reply) => {
      authorize(req, 'workflow:read', { type: 'Workflow', id: req.params.id });
      const w = await load(req.params.id);
      return ok(reply, toWireProgress(w, await store.getOperations(w.id)));
    });

    app.get<{ Params: Params }>(`${base}/:id/logs`, async (req, reply) => {
      const q = parseWith(LogQuery, req.query, 'query');
      authorize(req, 'log:read', { type: 'Workflow', id: req.params.id });
      await load(req.params.id);
      return sendLogs(reply, await store.logs({ workflow_id: req.params.id, ...logFilter(q) }), q);
    });

    app.get<{ Params: Params }>(`${base}/:id/checkpoints`, async (req, reply) => {
      const q = parseWith(z.strictObject(PAGE), req.query, 'query');
      authorize(req, 'checkpoint:read', { type: 'Workflow', id: req.params.id });
      await load(req.params.id);
      const page = pageOf(q);
      const { rows, total } = await store.checkpoints({ workflow_id: req.params.id }, page);
      return sendPage(req, reply, rows, total, page);
    });

    app.post<{ Params: Params }>(`${base}/:id/cancel`, async (req, reply) => {
      const b = parseWith(CancelBody, req.body, 'body');
      const p = authorize(req, 'workflow:cancel', { type: 'Workflow', id: req.params.id });
      await load(req.params.id);
      return idempotent(store, req, reply, p.id, async () => {
        const w = await ctx.control(p).cancel(req.params.id, dropUndefined({ ...b }));
        ctx.engine.abortWorkflow(w.id);
        return { status: 202, data: toWireWorkflow(w, await store.getOperations(w.id)), location: `${base}/${w.id}` };
      });
    });

    app.post<{ Params: Params }>(`${base}/:id/rollback`, async (req, reply) => {
      const b = parseWith(RollbackBody, req.body, 'body');
      if (b.checkpoint_id && b.operation_ids) throw validationFailed([{ path: 'operation_ids', expected: 'either checkpoint_id (full) or operation_ids (partial)', message: 'give checkpoint_id for a full rollback or operation_ids for a partial one, not both' }], 'body');
      const p = authorize(req, 'workflow:rollback', { type: 'Workflow', id: req.params.id });
      await load(req.params.id);
      return idempotent(store, req, reply, p.id, async () => {
        const rb = await ctx.control(p).rollback(req.params.id, dropUndefined({ ...b }));
        return { status: 202, data: rb, location: `/api/v1/rollbacks/${rb.id}` };
      });
    });

    app.post<{ Params: Params }>(`${base}/:id/resume`, async (req, reply) => {
      parseWith(ResumeBody, req.body, 'body');
      const p = authorize(req, 'workflow:resume', { type: 'Workflow', id: req.params.id });
      await load(req.params.id);
      return idempotent(store, req, reply, p.id, async () => {
        const w = await ctx.control(p).resume(req.params.id);
        return { status: 202, data: toWireWorkflow(w, await store.getOperations(w.id)), location: `${base}/${w.id}` };
      });
    });
  }

  app.get('/api/v1/batches/stats', async (req, reply) => {
    const q = parseWith(StatsQuery, req.query, 'query');
    authorize(req, 'workflow:read');
    const { rows } = await store.listWorkflows(dropUndefined({ kind: ['batch'], from: q.from, to: q.to }) as WorkflowFilter, ALL);
    const by_status: Partial<Record<Status, number>> = {};
    for (const w of rows) by_status[w.status] = (by_status[w.status] ?? 0) + 1;
    const ended = rows.filter((w) => w.completed_at !== null);
    const opCounts = await Promise.all(rows.map(async (w) => (await store.getOperations(w.id)).length));
    const rolled = rows.filter((w) => w.rollback_id !== null);
    return ok(reply, {
      total: rows.length, by_status,
      success_rate: ended.length ? ended.filter((w) => w.status === 'completed').length / ended.length : null,
      avg_duration_s: ended.length ? ended.reduce((s, w) => s + (w.duration_ms ?? 0), 0) / ended.length / 1000 : null,
      avg_operations: rows.length ? opCounts.reduce((a, b) => a + b, 0) / rows.length : null,
      rollbacks: { total: rolled.length, succeeded: rolled.filter((w) => w.status === 'rolled_back').length },
    });
  });

  // ── tasks ─────────────────────────────────────────────────────────────────────

  app.get('/api/v1/tasks', async (req, reply) => {
    const q = parseWith(TaskQuery, req.query, 'query');
    authorize(req, 'task:read');
    const page = pageOf(q);
    const { rows, total } = await store.listTasks(dropUndefined({ status: q.status, workflow_id: q.workflow_id, operation_id: q.operation_id, kind: q.kind?.map((k) => k.replace(/^rollback\./, '')), server: q.server, infra: q.infra, from: q.from, to: q.to }) as TaskFilter, page);
    const wfs = new Map<string, { w: WorkflowRow; ops: OperationRow[] }>();
    for (const id of new Set(rows.map((o) => o.workflow_id))) wfs.set(id, { w: (await store.getWorkflow(id))!, ops: await store.getOperations(id) });
    return sendPage(req, reply, rows.map((o) => toWireTask(o, wfs.get(o.workflow_id)!.w, wfs.get(o.workflow_id)!.ops)), total, page);
  });

  const loadTask = async (id: string) => {
    const o = await store.getTask(id);
    if (!o) throw notFound('task', id);
    return { o, w: (await store.getWorkflow(o.workflow_id))!, ops: await store.getOperations(o.workflow_id) };
  };

  app.get<{ Params: Params }>('/api/v1/tasks/:id', async (req, reply) => {
    authorize(req, 'task:read', { type: 'Task', id: req.params.id });
    const { o, w, ops } = await loadTask(req.params.id);
    return ok(reply, toWireTask(o, w, ops));
  });

  app.post<{ Params: Params }>('/api/v1/tasks/:id/cancel', async (req, reply) => {
    const b = parseWith(TaskCancelBody, req.body, 'body');
    const p = authorize(req, 'task:cancel', { type: 'Task', id: req.params.id });
    const { o } = await loadTask(req.params.id);
    if (o.status === 'running') {
      // only the instance that leased it can stop it; another instance sharing the store says so
      if (!ctx.engine.abortTask(o.task_id, b.reason)) {
        throw new ProvError('UNSUPPORTED', `task ${o.task_id} runs on engine instance ${o.lease_owner}, not this one`, { details: { feature: 'task cancel', reason: 'running on another instance' }, hint: `send it to that instance, or cancel the workflow: POST /api/v1/workflows/${o.workflow_id}/cancel` });
      }
    } else if (o.status === 'pending' || o.status === 'queued') {
      await ctx.control(p).cancelPendingTask(o, b.reason);
      ctx.engine.wake();
    } else {
      throw new ProvError('INVALID_STATE', `task ${o.task_id} is ${o.status}`, { details: { status: o.status, allowed_from: ['pending', 'queued', 'running'] } });
    }
    const w = (await store.getWorkflow(o.workflow_id))!;
    const ops = await store.getOperations(o.workflow_id);
    return ok(reply, toWireTask(ops.find((x) => x.id === o.id)!, w, ops), 202);
  });

  app.get<{ Params: Params }>('/api/v1/tasks/:id/logs', async (req, reply) => {
    const q = parseWith(TaskLogQuery, req.query, 'query');
    authorize(req, 'log:read', { type: 'Task', id: req.params.id });
    const { o } = await loadTask(req.params.id);
    return sendLogs(reply, await store.logs({ ...logFilter(q), workflow_id: o.workflow_id, task_id: o.task_id }), q);
  });
}

function workflowFilter(q: z.infer<typeof WorkflowQuery>, batch: boolean): WorkflowFilter {
  const labels: Record<string, string> = {};
  for (const l of q.label ?? []) {
    const i = l.indexOf('=');
    if (i <= 0) throw validationFailed([{ path: 'label', expected: 'key=value', message: `label filter ${JSON.stringify(l)} is not key=value` }], 'query');
    labels[l.slice(0, i)] = l.slice(i + 1);
  }
  return dropUndefined({
    status: q.status, kind: batch ? ['batch'] : q.kind, infra: q.infra, workspace: q.workspace, submitted_by: q.submitted_by, check_mode: q.check_mode,
    execution: q.execution, labels: Object.keys(labels).length ? labels : undefined, from: q.from, to: q.to,
    sort: q.sort?.[0], order: q.order?.[0],
  }) as WorkflowFilter;
}

function logFilter(q: { level?: string[] | undefined; after_seq?: number | undefined; limit?: number | undefined; operation_id?: string | undefined; task_id?: string | undefined; server?: string | undefined }) {
  if ((q.level?.length ?? 0) > 1) throw validationFailed([{ path: 'level', expected: 'one minimum level', message: 'level is a minimum: give one of debug, info, warn, error' }], 'query');
  return dropUndefined({ level: q.level?.[0] as typeof LEVELS[number] | undefined, after_seq: q.after_seq, limit: q.limit ?? 500, operation_id: q.operation_id, task_id: q.task_id, server: q.server });
}

/** Log lists page by cursor (api.md §1.4): `meta.next_after_seq` continues. */
function sendLogs(reply: FastifyReply, rows: { seq: number }[], q: { after_seq?: number | undefined; limit?: number | undefined }) {
  return reply.code(200).send({ success: true, data: rows, meta: { limit: q.limit ?? 500, after_seq: q.after_seq ?? 0, next_after_seq: rows.at(-1)?.seq ?? q.after_seq ?? 0 } });
}

/** Check mode: finish at once with the plan of the operations' targets; nothing runs. */
function checkOnly(w: WorkflowRow, ops: OperationRow[]): void {
  const byWave = waves(ops.map((o) => o.spec), Number.MAX_SAFE_INTEGER).flat();
  const changes: Record<string, unknown>[] = [];
  const warnings: string[] = [];
  for (const id of byWave) {
    const o = ops.find((x) => x.id === id)!;
    const [kind, verb] = o.type.split('_') as [string, string];
    const push = (c: Record<string, unknown>) => changes.push({ order: changes.length + 1, operation_id: o.id, ...c });
    if (o.type === 'script') {
      push({ action: 'noop', resource_type: 'script', name: o.spec.script!.run, ...(o.servers.length ? { server: o.servers.join(',') } : {}) });
      warnings.push(`operation ${o.id}: a script does not run in check mode; what it would change is not known`);
    } else if (kind === 'server') for (const s of o.servers) push({ action: verb, resource_type: 'server', name: s, ...(o.provider ? { provider: o.provider } : {}) });
    else if (kind === 'taskserv') for (const s of o.servers) push({ action: verb, resource_type: 'taskserv', name: o.spec.taskserv, server: s });
    else push({ action: verb, resource_type: 'cluster', name: o.spec.cluster });
  }
  const count = (a: string) => changes.filter((c) => c.action === a).length;
  w.plan = {
    changes, summary: { create: count('create'), update: count('update'), replace: 0, delete: count('delete'), noop: count('noop') },
    estimated_cost: null, estimated_duration_s: null,
    warnings: ['check mode lists the targets of each operation; it does not compare them with recorded state', ...warnings],
  };
  w.status = 'completed';
  w.progress = 100;
  w.started_at = w.created_at;
  w.completed_at = w.created_at;
  w.duration_ms = 0;
  w.wake_at = null;
  w.result = { resources: [], summary: `check mode: ${changes.length} change(s) planned, nothing executed` };
  for (const o of ops) { o.status = 'skipped'; o.queued_at = null; o.result = { check_mode: true }; }
}

/**
 * api.md §3.3: a submit whose infra is locked right now — a maintenance lock, a CLI run, another
 * workflow's running operation — is 409 LOCKED; with queue_on_lock its operations wait for the lock.
 */
async function refuseLocked(wsPath: string, workspace: string, operations: OperationRow[]): Promise<void> {
  const infras = [...new Set(operations.filter((o) => o.type !== 'script' || o.servers.length).map((o) => o.infra).filter(Boolean))];
  if (!infras.length) return;
  const { SqliteStateStore, isStale } = await import('../../store/sqlite/state.js');
  const state = new SqliteStateStore(wsPath);
  try {
    const held = (await state.locks()).find((l) => infras.some((i) => l.scope === infraScope(workspace, i)) && !isStale(l));
    if (!held) return;
    const e = lockedError(held.scope, held);
    throw new ProvError('LOCKED', e.message, {
      hint: 'retry when it is released, or submit with queue_on_lock: true to wait for it',
      details: { resources: [held.scope], holder_workflow_id: held.holder.startsWith('workflow:') ? held.holder.slice('workflow:'.length) : null, holder_user: held.holder.startsWith('user:') ? held.holder.slice(5) : null, acquired_at: held.acquired_at },
    });
  } finally {
    await state.close();
  }
}
