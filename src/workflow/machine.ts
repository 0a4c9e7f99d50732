/**
 * The workflow state machine (spec/api.md §2.1, models.md §6 Scheduling and Failure), as pure
 * functions over a workflow and its operations. The engine loads rows in a transaction, calls
 * these, and saves what they changed; nothing here does I/O or reads the clock (`now` is given).
 *
 * A `Round` collects the changes of one transaction: rows to save, events, checkpoints and the
 * rollback record, so the caller writes them together.
 */
import { createHash } from 'node:crypto';
import { newId } from './ids.js';
import { ProvError } from '../errors/index.js';
import type { Checkpoint, NewEvent, NewLog, OperationRow, Rollback, Status, TaskError, WorkflowRow } from './types.js';
import { FINAL } from './types.js';

const ENDED_BAD: ReadonlySet<Status> = new Set(['failed', 'skipped', 'cancelled']);
const ROLLBACK_TYPES_UNDOABLE = (op: OperationRow) => !op.type.endsWith('_delete');

export const taskKind = (op: Pick<OperationRow, 'type'>) => op.type.replace('_', '.');
export const newTaskId = () => newId('tsk');

/** What happened to one leased operation (a run, or a compensation during a rollback). */
export interface Outcome {
  workflow_id: string;
  op_id: string;
  task_id: string;
  owner: string;
  ok: boolean;
  error?: TaskError;
  /** not retried whatever `retries` says: validation, policy, cancel */
  final?: boolean;
  result?: Record<string, unknown>;
  resources?: OperationRow['resources'];
  output_tail?: string[];
}

export class Round {
  readonly workflows = new Map<string, WorkflowRow>();
  readonly ops = new Map<string, OperationRow>();
  readonly events: NewEvent[] = [];
  readonly logs: NewLog[] = [];
  readonly checkpoints: Checkpoint[] = [];
  readonly rollbacks = new Map<string, Rollback>();
  /** operations leased in this round, to be started by the caller after commit */
  readonly claimed: OperationRow[] = [];
  constructor(readonly now: number, readonly actor: string | null = null) {}
  get iso(): string { return new Date(this.now).toISOString(); }
  touchWf(w: WorkflowRow): void { this.workflows.set(w.id, w); }
  touchOp(o: OperationRow): void { this.ops.set(`${o.workflow_id}/${o.id}`, o); }
}

const meta = (w: WorkflowRow) => ({ infra: w.infra, workspace: w.workspace, ...(w.started_at ? { started_at: w.started_at } : {}) });

export function setWorkflowStatus(r: Round, w: WorkflowRow, status: Status, error?: TaskError | null): void {
  if (w.status === status) return;
  const previous = w.status;
  w.status = status;
  if (error !== undefined) w.error = error;
  if (status === 'running' && !w.started_at) w.started_at = r.iso;
  if (FINAL.has(status)) {
    w.completed_at = r.iso;
    w.duration_ms = w.started_at ? r.now - Date.parse(w.started_at) : 0;
    w.current_step = null;
  }
  r.touchWf(w);
  r.events.push({ event_type: 'WorkflowStatusChanged', category: 'workflow', workflow_id: w.id, metadata: meta(w),
    data: { workflow_id: w.id, kind: w.kind, name: w.name, status, previous_status: previous, check_mode: w.check_mode, ...(w.error ? { error: w.error } : {}) } });
  r.logs.push({ level: status === 'failed' || status === 'rollback_failed' ? 'error' : 'info', component: 'engine', workflow_id: w.id, message: `workflow ${w.name}: ${previous} → ${status}${w.error && FINAL.has(status) ? `: ${w.error.message}` : ''}` });
}

export function setOpStatus(r: Round, w: WorkflowRow, o: OperationRow, status: Status, error?: TaskError | null): void {
  if (o.status === status) return;
  const previous = o.status;
  o.status = status;
  if (error !== undefined) o.error = error;
  if (status === 'queued') o.queued_at = r.iso;
  if (status === 'running' && previous !== 'running') o.started_at = r.iso;
  if (FINAL.has(status) && status !== 'rolled_back' && status !== 'rollback_failed') {
    o.completed_at = r.iso;
    o.duration_ms = o.started_at ? r.now - Date.parse(o.started_at) : null;
  }
  o.progress = status === 'completed' ? 100 : o.progress;
  r.touchOp(o);
  const err = o.error && (status === 'failed' || status === 'rollback_failed') ? { error: o.error } : {};
  r.events.push({ event_type: 'OperationStatusChanged', category: 'batch', workflow_id: w.id, task_id: o.task_id, metadata: meta(w),
    data: { workflow_id: w.id, operation_id: o.id, type: o.type, status, previous_status: previous, progress: o.progress, ...err } });
  r.events.push({ event_type: 'TaskStatusChanged', category: 'task', workflow_id: w.id, task_id: o.task_id, metadata: meta(w),
    data: { task_id: o.task_id, workflow_id: w.id, operation_id: o.id, name: taskName(o), kind: status === 'rolling_back' ? `rollback.${o.type}` : taskKind(o),
      ...(o.servers.length === 1 ? { server: o.servers[0] } : {}), status, previous_status: previous, attempt: o.attempt, progress: o.progress, ...err } });
}

export const taskName = (o: OperationRow) => `${o.id}: ${o.type.replace('_', ' ')}${o.spec.taskserv ? ` ${o.spec.taskserv}` : o.spec.cluster ? ` ${o.spec.cluster}` : ''}${o.servers.length ? ` on ${o.servers.join(',')}` : ''}`;

/** Hard dependencies (declared and implicit). */
const hardDeps = (o: OperationRow) => [...o.spec.depends_on, ...(o.spec.implicit ?? [])];

/** A decisive failure: a failed operation that does not carry continue_on_error. */
const decisive = (ops: OperationRow[]) => ops.find((o) => o.status === 'failed' && !o.spec.continue_on_error);

/**
 * Move pending operations whose dependencies ended: queued when every hard dependency completed
 * and every soft one ended, skipped when a hard dependency failed, was skipped or cancelled.
 * Repeats until nothing moves (a skip can skip its own dependents).
 */
function promote(r: Round, w: WorkflowRow, ops: OperationRow[]): void {
  const byId = new Map(ops.map((o) => [o.id, o]));
  for (let moved = true; moved;) {
    moved = false;
    for (const o of ops) {
      if (o.status !== 'pending') continue;
      const bad = hardDeps(o).map((d) => byId.get(d)).find((d) => d && ENDED_BAD.has(d.status));
      if (bad) {
        setOpStatus(r, w, o, 'skipped', { code: 'DEPENDENCY_FAILED', message: `operation ${bad.id} ${bad.status}` });
        moved = true;
      } else if (hardDeps(o).every((d) => byId.get(d)?.status === 'completed') && o.spec.after.every((d) => FINAL.has(byId.get(d)?.status ?? 'completed'))) {
        setOpStatus(r, w, o, 'queued');
        moved = true;
      }
    }
  }
}

/** The next time this workflow needs an engine (epoch ms), or null while only running operations can move it. */
function wakeAt(w: WorkflowRow, ops: OperationRow[], now: number): number | null {
  let at: number | null = null;
  const soon = (t: number) => { at = at === null ? t : Math.min(at, t); };
  if (w.status === 'pending') soon(w.wake_at ?? now);
  if (w.status === 'queued' || w.status === 'running') {
    const running = ops.filter((o) => o.status === 'running').length;
    const stopped = w.fail_fast && decisive(ops);
    if (!stopped && running < w.parallel_limit) for (const o of ops) if (o.status === 'queued') soon(Math.max(now, o.not_before ?? now));
  }
  if (w.status === 'rolling_back' && !ops.some((o) => o.rollback_status === 'running') && ops.some((o) => o.rollback_status === 'pending')) soon(now);
  if (w.deadline !== null && !FINAL.has(w.status) && w.status !== 'cancelling') soon(Math.max(now, w.deadline));
  return at;
}

function progressOf(ops: OperationRow[]): number {
  if (ops.length === 0) return 100;
  const done = ops.filter((o) => FINAL.has(o.status)).length;
  const partial = ops.filter((o) => o.status === 'running').reduce((s, o) => s + o.progress / 100, 0);
  return Math.round(((done + partial) / ops.length) * 1000) / 10;
}

/** The completed operations in completion order, kept on the workflow so a checkpoint costs a copy, not a sort of every operation. */
function completedIds(w: WorkflowRow, ops: OperationRow[]): string[] {
  w.completed_ids ??= ops.filter((o) => o.status === 'completed').sort((a, b) => (a.completed_order ?? 0) - (b.completed_order ?? 0)).map((o) => o.id);
  return w.completed_ids;
}

function checkpoint(r: Round, w: WorkflowRow, ops: OperationRow[], trigger: Checkpoint['trigger'], name: string | null = null, description: string | null = null): Checkpoint {
  const completed = [...completedIds(w, ops)];
  // a hash chain over the checkpoints: each covers the previous one and what completed since
  w.state_sha256 = createHash('sha256').update(`${w.state_sha256 ?? ''}\n${trigger}:${w.completions}:${completed.at(-1) ?? ''}`).digest('hex');
  w.checkpoints += 1;
  const c: Checkpoint = { id: newId('ckpt'), workflow_id: w.id, seq: w.checkpoints, trigger, name, description, completed_operations: completed,
    state_sha256: w.state_sha256, size_bytes: completed.reduce((n, id) => n + id.length + 3, 2), created_at: r.iso, created_by: r.actor };
  w.last_checkpoint_id = c.id;
  r.checkpoints.push(c);
  r.touchWf(w);
  r.events.push({ event_type: 'CheckpointCreated', category: 'workflow', workflow_id: w.id, metadata: meta(w),
    data: { workflow_id: w.id, checkpoint_id: c.id, seq: c.seq, trigger, ...(name ? { name } : {}) } });
  return c;
}

/** After any change: readiness, end of the run, rollback start and finish, progress, wake time. */
export function advance(r: Round, w: WorkflowRow, ops: OperationRow[]): void {
  if (FINAL.has(w.status)) return;
  const before = w.progress;
  if (w.status === 'queued' || w.status === 'running') promote(r, w, ops);
  const running = ops.some((o) => o.status === 'running' || o.status === 'rolling_back');
  if (!running) {
    if (w.status === 'cancelling') {
      for (const o of ops) if (o.status === 'pending' || o.status === 'queued') setOpStatus(r, w, o, 'cancelled');
      if (w.rollback_after_cancel && ops.some((o) => o.status === 'completed')) startRollback(r, w, ops, { mode: 'full', checkpoint_id: null, operation_ids: [], requested_by: r.actor ?? w.submitted_by, reason: 'cancel with rollback' });
      else setWorkflowStatus(r, w, 'cancelled');
    } else if (w.status === 'queued' || w.status === 'running') {
      const failure = decisive(ops);
      const startable = !(w.fail_fast && failure) && ops.some((o) => o.status === 'queued');
      const open = ops.some((o) => o.status === 'pending');
      if (!startable && (failure || !open)) {
        for (const o of ops) if (o.status === 'pending' || o.status === 'queued') setOpStatus(r, w, o, 'cancelled', { code: 'WORKFLOW_FAILED', message: `not started: operation ${failure?.id} failed` });
        if (!failure) {
          setWorkflowStatus(r, w, 'completed');
          const resources = ops.flatMap((o) => o.resources);
          w.result = { resources, summary: summary(ops) };
        } else if (w.rollback_enabled && failure.error?.code !== 'LEASE_LOST' && ops.some((o) => o.status === 'completed')) {
          w.error = failure.error;
          startRollback(r, w, ops, { mode: 'full', checkpoint_id: null, operation_ids: [], requested_by: 'engine', reason: `operation ${failure.id} failed` });
        } else {
          setWorkflowStatus(r, w, 'failed', failure.error);
        }
      }
    } else if (w.status === 'rolling_back') {
      if (!ops.some((o) => o.rollback_status === 'pending')) finishRollback(r, w, ops);
    }
  }
  w.progress = w.status === 'completed' ? 100 : progressOf(ops);
  const cur = ops.find((o) => o.status === 'running' || o.status === 'rolling_back');
  w.current_step = cur && !FINAL.has(w.status) ? taskName(cur) : null;
  w.wake_at = FINAL.has(w.status) ? null : wakeAt(w, ops, r.now);
  r.touchWf(w);
  if (w.progress !== before || FINAL.has(w.status)) {
    const steps = { total: ops.length, completed: ops.filter((o) => o.status === 'completed').length, failed: ops.filter((o) => o.status === 'failed').length,
      running: ops.filter((o) => o.status === 'running').length, skipped: ops.filter((o) => o.status === 'skipped').length };
    r.events.push({ event_type: 'WorkflowProgressUpdate', category: 'workflow', workflow_id: w.id, metadata: meta(w),
      data: { workflow_id: w.id, name: w.name, progress: w.progress, steps, current_step: w.current_step, eta_s: null } });
    // api.md §4.4: at most one per second per batch, and always the last one
    if (w.kind === 'batch' && (FINAL.has(w.status) || r.now - (w.batch_update_at ?? 0) >= 1000)) {
      w.batch_update_at = r.now;
      const n = (st: Status) => ops.filter((o) => o.status === st).length;
      r.events.push({ event_type: 'BatchOperationUpdate', category: 'batch', workflow_id: w.id, metadata: meta(w),
        data: { batch_id: w.id, name: w.name, status: w.status, progress: w.progress, operations: ops.map((o) => ({ id: o.id, status: o.status, progress: o.progress })),
          totals: { total: ops.length, completed: n('completed'), failed: n('failed'), running: n('running'), pending: n('pending') + n('queued'), skipped: n('skipped') } } });
    }
  }
}

function summary(ops: OperationRow[]): string {
  const n = (s: Status) => ops.filter((o) => o.status === s).length;
  return `${n('completed')} completed, ${n('failed')} failed, ${n('skipped')} skipped of ${ops.length} operations`;
}

/**
 * Lease up to `max` ready operations (declaration order, within `parallel_limit`), or during a
 * rollback the next compensation (one at a time, newest completion first).
 */
export function claim(r: Round, w: WorkflowRow, ops: OperationRow[], max: number, owner: string, leaseUntil: number): void {
  // api.md §2.1 pending → queued: its `not_before` time has passed (the claim query only returns it then)
  if (w.status === 'pending' && (w.wake_at ?? 0) <= r.now) setWorkflowStatus(r, w, 'queued');
  if (w.deadline !== null && r.now >= w.deadline && (w.status === 'queued' || w.status === 'running')) {
    w.error = { code: 'TIMEOUT', message: `workflow ${w.name} exceeded its timeout`, hint: 'raise `timeout` in the workflow file, then `workflow resume`' };
    setWorkflowStatus(r, w, 'cancelling');
  }
  if (w.status === 'rolling_back') {
    if (max > 0 && !ops.some((o) => o.rollback_status === 'running')) {
      const next = ops.filter((o) => o.rollback_status === 'pending').sort((a, b) => (b.completed_order ?? 0) - (a.completed_order ?? 0))[0];
      if (next) {
        next.rollback_status = 'running';
        lease(next, owner, leaseUntil);
        setOpStatus(r, w, next, 'rolling_back');
        r.claimed.push(next);
      }
    }
  } else if (w.status === 'queued' || w.status === 'running') {
    const running = ops.filter((o) => o.status === 'running').length;
    let slots = Math.min(max, w.parallel_limit - running);
    if (!(w.fail_fast && decisive(ops))) {
      for (const o of ops) {
        if (slots <= 0) break;
        if (o.status !== 'queued' || (o.not_before ?? 0) > r.now) continue;
        o.attempt += 1;
        o.not_before = null;
        lease(o, owner, leaseUntil);
        setWorkflowStatus(r, w, 'running');
        setOpStatus(r, w, o, 'running');
        r.claimed.push(o);
        slots--;
      }
    }
  }
  advance(r, w, ops);
}

function lease(o: OperationRow, owner: string, until: number): void {
  o.lease_owner = owner;
  o.lease_expires_at = until;
}

const release = (o: OperationRow) => { o.lease_owner = null; o.lease_expires_at = null; };

/** Record outcomes of leased operations; an outcome from an owner that lost the lease is dropped. */
export function settle(r: Round, w: WorkflowRow, ops: OperationRow[], outcomes: Outcome[]): void {
  const byId = new Map(ops.map((o) => [o.id, o]));
  for (const out of outcomes) {
    const o = byId.get(out.op_id);
    if (!o || o.task_id !== out.task_id || o.lease_owner !== out.owner) continue;
    if (out.output_tail) o.output_tail = out.output_tail.slice(-50);
    release(o);
    if (o.status === 'rolling_back') {
      o.rollback_status = out.ok ? 'completed' : 'failed';
      const rb = w.rollback_id ? r.rollbacks.get(w.rollback_id) : undefined;
      if (rb) { rb.actions.executed += 1; if (!out.ok) rb.actions.failed += 1; }
      setOpStatus(r, w, o, out.ok ? 'rolled_back' : 'rollback_failed', out.ok ? undefined : (out.error ?? null));
      continue;
    }
    if (o.status !== 'running') continue;
    if (out.ok) {
      o.result = out.result ?? null;
      o.resources = out.resources ?? [];
      completedIds(w, ops).push(o.id);
      w.completions += 1;
      o.completed_order = w.completions;
      o.error = null;
      setOpStatus(r, w, o, 'completed');
      const change = o.type.endsWith('_delete') ? 'deleted' : o.type.endsWith('_update') ? 'updated' : 'created';
      for (const res of o.resources) {
        r.events.push({ event_type: 'ResourceChanged', category: 'resource', workflow_id: w.id, task_id: o.task_id, metadata: meta(w),
          data: { change, provider: res.provider, resource_type: res.type, resource_id: res.id, name: res.name, infra: res.infra, workflow_id: w.id } });
      }
      checkpoint(r, w, ops, 'operation');
    } else if (!out.final && w.status !== 'cancelling' && o.attempt < o.max_attempts) {
      const delay = Math.min(o.spec.retry_delay_ms * 2 ** (o.attempt - 1), MAX_RETRY_DELAY_MS);
      o.not_before = r.now + delay + Math.floor(delay * 0.1 * jitter(o));
      o.error = out.error ?? null;
      r.logs.push({ level: 'warn', component: 'engine', workflow_id: w.id, operation_id: o.id, task_id: o.task_id,
        message: `attempt ${o.attempt} of ${o.max_attempts} failed: ${out.error?.message ?? 'unknown error'}; retrying in ${Math.round((o.not_before - r.now) / 100) / 10}s` });
      setOpStatus(r, w, o, 'queued');
    } else {
      if (out.resources) o.resources = out.resources;
      setOpStatus(r, w, o, w.status === 'cancelling' && out.error?.code === 'TASK_CANCELLED' ? 'cancelled' : 'failed', out.error ?? { code: 'OPERATION_FAILED', message: 'failed' });
    }
  }
  advance(r, w, ops);
}

export const MAX_RETRY_DELAY_MS = 5 * 60_000;
/** Deterministic jitter in [0,1) from the task id, so the machine stays pure. */
const jitter = (o: OperationRow) => (parseInt(createHash('sha1').update(`${o.task_id}:${o.attempt}`).digest('hex').slice(0, 6), 16) / 0x1000000);

/**
 * Leases that expired (the instance died, `kill -9`): an operation that is safe to run again is
 * queued again and resumes; one that is not (a plain script) fails with LEASE_LOST and the
 * workflow stops for a decision (`workflow resume` re-runs it, `workflow rollback` undoes the rest).
 * A compensation that was running is simply pending again: compensations are idempotent.
 */
export function recover(r: Round, w: WorkflowRow, ops: OperationRow[], expired: (o: OperationRow) => boolean, retrySafe: (o: OperationRow) => boolean): void {
  for (const o of ops) {
    if ((o.status !== 'running' && o.status !== 'rolling_back') || !expired(o)) continue;
    const who = o.lease_owner;
    release(o);
    r.logs.push({ level: 'warn', component: 'engine', workflow_id: w.id, operation_id: o.id, task_id: o.task_id, message: `lease of ${who} expired while ${o.id} was ${o.status}` });
    if (o.status === 'rolling_back') {
      o.rollback_status = 'pending';
      setOpStatus(r, w, o, 'rolling_back');
      r.touchOp(o);
    } else if (w.status === 'cancelling') {
      setOpStatus(r, w, o, 'cancelled', { code: 'LEASE_LOST', message: `the engine running ${o.id} stopped during a cancel` });
    } else if (retrySafe(o)) {
      o.attempt -= 1; // a lost lease is not a failed attempt
      setOpStatus(r, w, o, 'queued');
    } else {
      setOpStatus(r, w, o, 'failed', { code: 'LEASE_LOST', message: `the engine running ${o.id} stopped before it finished, and a ${o.type} is not safe to run twice`,
        hint: `check what it did, then \`provisioning workflow resume ${w.id}\` to run it again or \`provisioning workflow rollback ${w.id}\`` });
    }
  }
  advance(r, w, ops);
}

export function cancel(r: Round, w: WorkflowRow, ops: OperationRow[], o: { rollback: boolean; reason?: string }): void {
  if (FINAL.has(w.status)) throw invalidState(w, 'cancel', ['pending', 'queued', 'running', 'rolling_back']);
  if (w.status === 'cancelling') return;
  w.rollback_after_cancel = o.rollback;
  if (o.reason) r.logs.push({ level: 'info', component: 'engine', workflow_id: w.id, message: `cancel requested${r.actor ? ` by ${r.actor}` : ''}: ${o.reason}` });
  if (w.status === 'rolling_back') return; // a rollback runs to its end
  setWorkflowStatus(r, w, 'cancelling', w.error ?? { code: 'TASK_CANCELLED', message: `cancelled${o.reason ? `: ${o.reason}` : ''}` });
  advance(r, w, ops);
}

export interface RollbackRequest { mode: 'full' | 'partial'; checkpoint_id: string | null; operation_ids: string[]; requested_by: string; reason: string | null; force?: boolean; checkpoint?: Checkpoint }

/** Compensations of completed operations in reverse completion order (api.md §3.5). */
export function startRollback(r: Round, w: WorkflowRow, ops: OperationRow[], req: RollbackRequest): Rollback {
  const byId = new Map(ops.map((o) => [o.id, o]));
  let chosen: OperationRow[];
  if (req.mode === 'partial') {
    const want = new Set(req.operation_ids);
    // dependents of a chosen operation that completed are undone first: include them
    for (let grew = true; grew;) {
      grew = false;
      for (const o of ops) if (!want.has(o.id) && o.status === 'completed' && [...hardDeps(o), ...o.spec.after].some((d) => want.has(d))) { want.add(o.id); grew = true; }
    }
    chosen = [...want].map((id) => byId.get(id)!).filter((o) => o.status === 'completed');
  } else {
    const before = new Set(req.checkpoint?.completed_operations ?? []);
    chosen = ops.filter((o) => o.status === 'completed' && !before.has(o.id));
  }
  checkpoint(r, w, ops, 'pre_rollback');
  const rb: Rollback = { id: newId('rb'), workflow_id: w.id, mode: req.mode, checkpoint_id: req.checkpoint_id, operation_ids: req.operation_ids, status: 'running',
    actions: { total: 0, executed: 0, failed: 0, skipped: 0 }, requested_by: req.requested_by, reason: req.reason, started_at: r.iso, completed_at: null, duration_ms: null, error: null };
  for (const o of chosen) {
    if (!o.spec.rollback || !ROLLBACK_TYPES_UNDOABLE(o)) {
      o.rollback_status = 'skipped';
      rb.actions.skipped += 1;
      r.logs.push({ level: 'info', component: 'engine', workflow_id: w.id, operation_id: o.id, message: !o.spec.rollback ? `${o.id} has rollback = false: kept` : `${o.id}: a ${o.type} cannot be undone` });
    } else {
      o.rollback_status = 'pending';
      rb.actions.total += 1;
    }
    r.touchOp(o);
  }
  w.rollback_id = rb.id;
  r.rollbacks.set(rb.id, rb);
  setWorkflowStatus(r, w, 'rolling_back');
  r.events.push({ event_type: 'RollbackStatusChanged', category: 'rollback', workflow_id: w.id, metadata: meta(w), data: { rollback_id: rb.id, workflow_id: w.id, mode: rb.mode, status: rb.status, actions: rb.actions } });
  advance(r, w, ops);
  return rb;
}

function finishRollback(r: Round, w: WorkflowRow, ops: OperationRow[]): void {
  const failed = ops.filter((o) => o.rollback_status === 'failed');
  const rb = w.rollback_id ? r.rollbacks.get(w.rollback_id) : undefined;
  if (rb) {
    rb.status = failed.length ? 'failed' : 'completed';
    rb.completed_at = r.iso;
    rb.duration_ms = rb.started_at ? r.now - Date.parse(rb.started_at) : null;
    if (failed.length) rb.error = { code: 'ROLLBACK_ACTION_FAILED', message: `${failed.length} compensation(s) failed: ${failed.map((o) => o.id).join(', ')}` };
    r.events.push({ event_type: 'RollbackStatusChanged', category: 'rollback', workflow_id: w.id, metadata: meta(w), data: { rollback_id: rb.id, workflow_id: w.id, mode: rb.mode, status: rb.status, actions: rb.actions } });
  }
  setWorkflowStatus(r, w, failed.length ? 'rollback_failed' : 'rolled_back', failed.length ? { code: 'ROLLBACK_ACTION_FAILED', message: `compensation of ${failed.map((o) => o.id).join(', ')} failed`, hint: `fix the cause, then \`provisioning workflow resume ${w.id}\` retries the failed compensations` } : undefined);
}

/** A manual rollback (POST …/rollback): from failed or cancelled, or completed with `force`. */
export function requestRollback(r: Round, w: WorkflowRow, ops: OperationRow[], req: RollbackRequest): Rollback {
  const allowed: Status[] = req.force ? ['failed', 'cancelled', 'completed', 'rollback_failed'] : ['failed', 'cancelled', 'rollback_failed'];
  if (!allowed.includes(w.status)) throw invalidState(w, 'roll back', allowed, w.status === 'completed' ? 'pass force to roll back a completed workflow' : w.status === 'running' ? 'cancel it first, or cancel with rollback' : undefined);
  for (const o of ops) if (o.rollback_status && o.status !== 'completed') o.rollback_status = undefined;
  return startRollback(r, w, ops, req);
}

/**
 * Resume (api.md §2.1): failed or cancelled → the operations that did not complete run again
 * (from scratch; retries counted anew); rollback_failed → the failed compensations run again.
 * `checkpoint` (restore) also resets operations completed after it, in the record only.
 */
export function resume(r: Round, w: WorkflowRow, ops: OperationRow[], checkpoint?: Checkpoint): void {
  const allowed: Status[] = ['failed', 'cancelled', 'rollback_failed'];
  if (!allowed.includes(w.status) && !(checkpoint && w.status === 'completed')) throw invalidState(w, 'resume', allowed);
  w.error = null;
  w.completed_at = null;
  w.duration_ms = null;
  if (w.status === 'rollback_failed') {
    for (const o of ops) if (o.rollback_status === 'failed') { o.rollback_status = 'pending'; setOpStatus(r, w, o, 'rolling_back', null); }
    setWorkflowStatus(r, w, 'rolling_back');
  } else {
    const keep = checkpoint ? new Set(checkpoint.completed_operations) : undefined;
    for (const o of ops) {
      const redo = o.status !== 'completed' || (keep !== undefined && !keep.has(o.id));
      if (!redo) continue;
      o.attempt = 0;
      o.not_before = null;
      o.rollback_status = undefined;
      o.completed_order = null;
      o.task_id = newTaskId();
      o.progress = 0;
      setOpStatus(r, w, o, 'pending', null);
    }
    w.rollback_after_cancel = false;
    w.completed_ids = undefined;
    completedIds(w, ops);
    setWorkflowStatus(r, w, 'queued');
  }
  advance(r, w, ops);
}

/**
 * Cancel one task (POST /tasks/{id}/cancel) that has not started: its operation fails with
 * TASK_CANCELLED and normal failure handling follows. A running task is aborted by the engine
 * that runs it, whose outcome then does the same.
 */
export function cancelPending(r: Round, w: WorkflowRow, ops: OperationRow[], opId: string, reason: string | undefined): void {
  const o = ops.find((x) => x.id === opId)!;
  if (o.status !== 'pending' && o.status !== 'queued') throw invalidState(w, `cancel task ${o.task_id} (${o.status}) of`, ['pending', 'queued']);
  setOpStatus(r, w, o, 'failed', { code: 'TASK_CANCELLED', message: `task ${o.task_id} of ${o.id} was cancelled${reason ? `: ${reason}` : ''}` });
  advance(r, w, ops);
}

/** A manual checkpoint (POST /checkpoints): taken now, it only records progress. */
export function manualCheckpoint(r: Round, w: WorkflowRow, ops: OperationRow[], name: string, description: string | null): Checkpoint {
  return checkpoint(r, w, ops, 'manual', name, description);
}

function invalidState(w: WorkflowRow, what: string, allowed: Status[], hint?: string): ProvError {
  return new ProvError('INVALID_STATE', `cannot ${what} workflow ${w.id}: it is ${w.status}`, {
    details: { status: w.status, allowed_from: allowed },
    hint: hint ?? `only from ${allowed.join(', ')}; \`provisioning workflow status ${w.id}\` shows where it stands`,
  });
}
