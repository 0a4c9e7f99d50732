/**
 * Changing workflows from outside the engine loop: submit, cancel, rollback, resume, restore,
 * manual checkpoint. Each is one store transaction around a pure transition of
 * src/workflow/machine.ts; the service (HTTP) and the CLI (direct) call the same functions.
 */
import { ProvError } from '../errors/index.js';
import type { WorkflowStore, WorkflowTx } from '../store/workflows.js';
import * as machine from '../workflow/machine.js';
import { Round } from '../workflow/machine.js';
import type { Checkpoint, OperationRow, Rollback, WorkflowRow } from '../workflow/types.js';

/** Save everything a round changed, in the caller's transaction. */
export async function persist(t: WorkflowTx, r: Round): Promise<void> {
  // every save is a new revision: an engine that cached the operations of an older one reloads them
  for (const w of r.workflows.values()) w.rev = (w.rev ?? 0) + 1;
  if (r.workflows.size) await t.saveWorkflows([...r.workflows.values()]);
  if (r.ops.size) await t.saveOperations([...r.ops.values()]);
  for (const rb of r.rollbacks.values()) await t.saveRollback(rb);
  if (r.checkpoints.length) await t.insertCheckpoints(r.checkpoints);
  if (r.logs.length) await t.appendLogs(r.logs);
  // a workflow's log lines also stream as LogEntry events (api.md §4.4), for WebSocket clients
  const at = new Date(r.now).toISOString();
  const logEvents = r.logs.filter((l) => l.workflow_id).map((l) => ({ event_type: 'LogEntry', category: 'log' as const, workflow_id: l.workflow_id!, ...(l.task_id ? { task_id: l.task_id } : {}), data: { ...l, timestamp: at } }));
  if (r.events.length || logEvents.length) await t.appendEvents([...r.events, ...logEvents]);
}

/** Lock workflows and load their operations (and the rollback in progress) into the round. */
export async function load(store: WorkflowStore, t: WorkflowTx, r: Round, ws: WorkflowRow[], cached?: (w: WorkflowRow) => OperationRow[] | undefined): Promise<Map<string, OperationRow[]>> {
  const by = new Map<string, OperationRow[]>();
  const missing = ws.filter((w) => { const c = cached?.(w); if (c) by.set(w.id, c); return !c; });
  for (const w of missing) by.set(w.id, []);
  if (missing.length) for (const o of await t.operations(missing.map((w) => w.id))) by.get(o.workflow_id)?.push(o);
  for (const w of ws) {
    if (w.rollback_id && !r.rollbacks.has(w.rollback_id)) {
      const rb = await store.getRollback(w.rollback_id);
      if (rb) r.rollbacks.set(rb.id, rb);
    }
  }
  return by;
}

export const notFound = (kind: string, id: string) => new ProvError('NOT_FOUND', `no ${kind} ${id}`, { details: { resource_type: kind, id }, hint: kind === 'workflow' ? '`provisioning workflow list` shows the recorded ones' : undefined });

export class WorkflowControl {
  /** called with a workflow id after a change an engine in this process should act on at once (cancel) */
  onChange?: (workflowId: string) => void;
  constructor(readonly store: WorkflowStore, private readonly actor: string) {}

  private async mutate<T>(id: string, fn: (r: Round, w: WorkflowRow, ops: OperationRow[]) => T): Promise<{ out: T; workflow: WorkflowRow }> {
    const res = await this.store.tx(async (t) => {
      const [w] = await t.lockWorkflows({ ids: [id] });
      if (!w) throw notFound('workflow', id);
      const r = new Round(Date.now(), this.actor);
      const ops = (await load(this.store, t, r, [w])).get(w.id)!;
      const out = fn(r, w, ops);
      await persist(t, r);
      return { out, workflow: w };
    });
    this.onChange?.(id);
    return res;
  }

  async submit(workflow: WorkflowRow, operations: OperationRow[]): Promise<WorkflowRow> {
    await this.store.tx(async (t) => {
      const r = new Round(Date.now(), this.actor);
      await t.insertWorkflow(workflow, operations);
      // api.md §2.1: – → pending (accepted), then pending → queued at once unless it waits for not_before
      const changed = (status: string, previous: string | null) => r.events.push({ event_type: 'WorkflowStatusChanged', category: 'workflow', workflow_id: workflow.id, metadata: { infra: workflow.infra, workspace: workflow.workspace },
        data: { workflow_id: workflow.id, kind: workflow.kind, name: workflow.name, status, previous_status: previous, check_mode: workflow.check_mode } });
      changed('pending', null);
      if (workflow.status !== 'pending') changed(workflow.status, 'pending');
      r.logs.push({ level: 'info', component: 'engine', workflow_id: workflow.id, message: `submitted by ${workflow.submitted_by}: ${operations.length} operation(s), ${workflow.execution}` });
      await persist(t, r);
    });
    this.onChange?.(workflow.id);
    return workflow;
  }

  async cancel(id: string, o: { rollback?: boolean; reason?: string } = {}): Promise<WorkflowRow> {
    return (await this.mutate(id, (r, w, ops) => machine.cancel(r, w, ops, { rollback: o.rollback ?? w.rollback_enabled, ...(o.reason ? { reason: o.reason } : {}) }))).workflow;
  }

  async rollback(id: string, o: { checkpoint_id?: string; operation_ids?: string[]; force?: boolean; reason?: string }): Promise<Rollback> {
    const ckpt = o.checkpoint_id ? await this.store.getCheckpoint(o.checkpoint_id) : undefined;
    if (o.checkpoint_id && (!ckpt || ckpt.workflow_id !== id)) throw unknown('checkpoint', o.checkpoint_id);
    return (await this.mutate(id, (r, w, ops) => {
      for (const op of o.operation_ids ?? []) if (!ops.some((x) => x.id === op)) throw unknown('operation', op);
      return machine.requestRollback(r, w, ops, {
        mode: o.operation_ids?.length ? 'partial' : 'full', checkpoint_id: o.checkpoint_id ?? null, operation_ids: o.operation_ids ?? [],
        requested_by: this.actor, reason: o.reason ?? null, ...(o.force ? { force: true } : {}), ...(ckpt ? { checkpoint: ckpt } : {}),
      });
    })).out;
  }

  async resume(id: string): Promise<WorkflowRow> {
    return (await this.mutate(id, (r, w, ops) => machine.resume(r, w, ops))).workflow;
  }

  async restore(checkpointId: string): Promise<WorkflowRow> {
    const c = await this.store.getCheckpoint(checkpointId);
    if (!c) throw notFound('checkpoint', checkpointId);
    return (await this.mutate(c.workflow_id, (r, w, ops) => {
      if (!['failed', 'cancelled', 'rollback_failed', 'completed'].includes(w.status)) throw new ProvError('INVALID_STATE', `cannot restore workflow ${w.id} while it is ${w.status}`, { details: { status: w.status, allowed_from: ['failed', 'cancelled', 'rollback_failed', 'completed'] }, hint: 'cancel it first' });
      machine.resume(r, w, ops, c);
    })).workflow;
  }

  /** A task that has not started fails with TASK_CANCELLED; a running one must be aborted by its engine (Engine.abortTask). */
  async cancelPendingTask(op: OperationRow, reason?: string): Promise<WorkflowRow> {
    return (await this.mutate(op.workflow_id, (r, w, ops) => machine.cancelPending(r, w, ops, op.id, reason))).workflow;
  }

  async checkpoint(id: string, name: string, description: string | null): Promise<Checkpoint> {
    return (await this.mutate(id, (r, w, ops) => machine.manualCheckpoint(r, w, ops, name, description))).out;
  }
}

const unknown = (kind: string, name: string) => new ProvError('UNKNOWN_REFERENCE', `unknown ${kind} '${name}'`, { details: { kind, name } });
