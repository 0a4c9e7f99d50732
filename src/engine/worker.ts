/**
 * The engine instance: leases ready operations from the store, runs them through an
 * `OperationRunner`, and records outcomes — one transaction per scheduling round (outcomes of
 * the round, expired leases, new leases). It runs inside the CLI (direct, `only` its own
 * workflow) or inside the orchestrator service (every workflow); several instances may share one
 * PostgreSQL database. Heartbeats renew leases; an instance that stops heartbeating (crash,
 * `kill -9`) loses them and its operations are re-examined by whoever looks next.
 */
import { hostname } from 'node:os';
import { newId } from '../workflow/ids.js';
import { asProvError } from '../errors/index.js';
import type { WorkflowStore } from '../store/workflows.js';
import { claim, recover, Round, settle, type Outcome } from '../workflow/machine.js';
import type { LogLevel, NewLog, OperationRow, ResourceRef, TaskError, WorkflowRow } from '../workflow/types.js';
import { ACTIVE, FINAL } from '../workflow/types.js';
import { load, persist } from './control.js';

export interface TaskIO {
  signal: AbortSignal;
  /** one line of output or a note; kept in the store's log and in the task's output tail */
  log(message: string, o?: { stream?: 'stdout' | 'stderr'; level?: LogLevel; server?: string }): void;
  progress(percent: number): void;
}

export interface OperationRunner {
  run(op: OperationRow, wf: WorkflowRow, io: TaskIO): Promise<{ result?: Record<string, unknown>; resources?: ResourceRef[] } | void>;
  /** the compensation of a completed operation (rollback) */
  undo(op: OperationRow, wf: WorkflowRow, io: TaskIO): Promise<void>;
  /** whether an operation whose engine died mid-way may simply run again */
  retrySafe(op: OperationRow): boolean;
}

export interface EngineOptions {
  capacity: number;
  leaseMs: number;
  heartbeatMs: number;
  /** work only on these workflows and stop once they are final (a direct run) */
  only?: string[];
  version?: string;
  /** how often to look for work nobody told us about (other processes on SQLite, retries that came due) */
  pollMs?: number;
  instanceId?: string;
}

interface Running { op: OperationRow; ac: AbortController; tail: string[]; done: Promise<void>; reason?: TaskError }

export class Engine {
  readonly instanceId: string;
  private readonly running = new Map<string, Running>();
  private readonly outcomes: Outcome[] = [];
  private readonly logs: NewLog[] = [];
  private stopping = false;
  private draining = false;
  private kick: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private deadOwners: string[] = [];
  private recoverDue = true;
  private readonly opsCache = new Map<string, { rev: number; ops: OperationRow[] }>();
  private readonly startedAt = new Date().toISOString();
  /** rounds and operations run, for tests and the bench */
  readonly stats = { rounds: 0, started: 0 };

  constructor(private readonly store: WorkflowStore, private readonly runner: OperationRunner, private readonly o: EngineOptions) {
    this.instanceId = o.instanceId ?? `${hostname()}:${process.pid}:${newId('i').slice(-6)}`;
  }

  async start(): Promise<void> {
    await this.beat();
    this.heartbeat = setInterval(() => { this.beat().catch((e: unknown) => this.note('warn', `heartbeat failed: ${asProvError(e).message}`)); }, this.o.heartbeatMs);
    this.heartbeat.unref();
    this.unsubscribe = this.store.onEvents(() => this.wake());
    this.loopDone = this.loop();
  }

  /** Resolves when the `only` workflows are final (direct runs) or the engine was stopped. */
  done(): Promise<void> {
    return this.loopDone ?? Promise.resolve();
  }

  /** Look for work now (a submit or cancel in this process). */
  wake(): void {
    this.kick?.();
  }

  /** Abort the running tasks of a workflow that is being cancelled. */
  abortWorkflow(id: string): void {
    for (const t of this.running.values()) {
      if (t.op.workflow_id === id && !t.ac.signal.aborted) {
        t.reason = { code: 'TASK_CANCELLED', message: `operation ${t.op.id} was cancelled` };
        t.ac.abort(t.reason);
      }
    }
  }

  /** Abort one running task of this instance: its operation fails with TASK_CANCELLED (not retried). False when it does not run here. */
  abortTask(taskId: string, reason?: string): boolean {
    const t = this.running.get(taskId);
    if (!t || t.ac.signal.aborted) return false;
    t.reason = { code: 'TASK_CANCELLED', message: `task ${taskId} of ${t.op.id} was cancelled${reason ? `: ${reason}` : ''}` };
    t.ac.abort(t.reason);
    return true;
  }

  /**
   * Stop claiming; give running tasks `graceMs` to finish; abort the rest and hand their
   * operations back (queued again where safe) so another instance or the next start resumes them.
   */
  async stop(graceMs = 0): Promise<void> {
    this.draining = true;
    const all = Promise.all([...this.running.values()].map((t) => t.done));
    if (graceMs > 0) await Promise.race([all, new Promise((res) => setTimeout(res, graceMs).unref())]);
    const left = [...this.running.values()];
    for (const t of left) t.ac.abort({ code: 'SHUTDOWN', message: 'the engine is stopping' });
    await all;
    this.stopping = true;
    this.wake();
    await this.loopDone;
    if (left.length) {
      const mine = new Set(left.map((t) => t.op.task_id));
      await this.store.tx(async (t) => {
        const r = new Round(Date.now());
        const ws = await t.lockWorkflows({ ids: [...new Set(left.map((x) => x.op.workflow_id))] });
        const byWf = await load(this.store, t, r, ws);
        for (const w of ws) recover(r, w, byWf.get(w.id)!, (op) => mine.has(op.task_id) && op.lease_owner === this.instanceId, (op) => this.runner.retrySafe(op));
        await persist(t, r);
      });
    }
    clearInterval(this.heartbeat);
    this.unsubscribe?.();
    await this.store.removeWorker(this.instanceId);
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    const { cancelling } = await this.store.tx((t) => t.renewLeases(this.instanceId, now + this.o.leaseMs));
    for (const id of cancelling) this.abortWorkflow(id);
    await this.store.upsertWorker({ instance_id: this.instanceId, host: hostname(), pid: process.pid, version: this.o.version ?? '', started_at: this.startedAt,
      last_heartbeat_at: new Date(now).toISOString(), capacity: this.o.capacity, running_tasks: this.running.size });
    // instances on this host whose process is gone, or anywhere that stopped heartbeating: their leases go now
    const dead: string[] = [];
    for (const w of await this.store.workers()) {
      if (w.instance_id === this.instanceId) continue;
      const silent = now - Date.parse(w.last_heartbeat_at) > this.o.leaseMs;
      if (silent || (w.host === hostname() && !alive(w.pid))) dead.push(w.instance_id);
    }
    for (const id of dead) await this.store.removeWorker(id);
    if (dead.length) this.deadOwners = [...new Set([...this.deadOwners, ...dead])].slice(-100);
    this.recoverDue = true;
    this.wake();
  }

  private async loop(): Promise<void> {
    const poll = this.o.pollMs ?? 250;
    while (!this.stopping) {
      let watched: WorkflowRow[];
      try {
        watched = await this.round();
      } catch (e) {
        // a lost database connection, a deadlock victim (PostgreSQL), a busy SQLite file: the round's
        // outcomes were put back; try again after a pause rather than stop the instance
        this.note('error', `scheduling round failed, retrying: ${asProvError(e).message}`);
        await new Promise((res) => setTimeout(res, poll).unref());
        continue;
      }
      if (this.o.only && watched.length === this.o.only.length && watched.every((w) => FINAL.has(w.status)) && this.running.size === 0 && this.outcomes.length === 0) break;
      if (this.outcomes.length === 0) {
        await new Promise<void>((res) => {
          const t = setTimeout(res, poll);
          this.kick = () => { clearTimeout(t); this.kick = undefined; res(); };
        });
      }
    }
    clearInterval(this.heartbeat);
    this.unsubscribe?.();
  }

  /** One transaction: record outcomes, take over expired leases, lease new work. Returns the `only` workflows as they are now. */
  private async round(): Promise<WorkflowRow[]> {
    this.stats.rounds++;
    const outcomes = this.outcomes.splice(0);
    const logs = this.logs.splice(0);
    const now = Date.now();
    const recoverNow = this.recoverDue;
    this.recoverDue = false;
    // nothing arrived, nothing to recover, nothing due (or no free slot): no transaction
    if (!outcomes.length && !logs.length && !recoverNow && (this.running.size >= this.o.capacity || this.draining || !(await this.store.anyDue(now, this.o.only)))) {
      return this.o.only ? (await Promise.all(this.o.only.map((id) => this.store.getWorkflow(id)))).filter((w): w is WorkflowRow => Boolean(w)) : [];
    }
    let res: { claimed: OperationRow[]; watched: WorkflowRow[]; byWf: Map<string, WorkflowRow> };
    try {
      res = await this.roundTx(now, outcomes, logs, recoverNow);
    } catch (e) {
      this.opsCache.clear(); // the round's changes to cached rows were rolled back
      this.outcomes.unshift(...outcomes);
      this.logs.unshift(...logs);
      if (recoverNow) this.recoverDue = true;
      throw e;
    }
    for (const op of res.claimed) this.launch(op, res.byWf.get(op.workflow_id)!);
    return res.watched.filter(Boolean);
  }

  private roundTx(now: number, outcomes: Outcome[], logs: NewLog[], recoverNow: boolean) {
    return this.store.tx(async (t) => {
      const r = new Round(now);
      r.logs.push(...logs);
      const touched = new Map<string, WorkflowRow>();
      const opsOf = new Map<string, OperationRow[]>();
      // operations of a workflow this instance saved last are reused; a recovery reads leases fresh
      const cached = (w: WorkflowRow) => { const c = this.opsCache.get(w.id); return c && c.rev === w.rev ? c.ops : undefined; };
      const take = async (ids: string[], fresh_ = false) => {
        const fresh = ids.filter((id) => !touched.has(id)).sort();
        if (!fresh.length) return;
        const ws = await t.lockWorkflows({ ids: fresh });
        const by = await load(this.store, t, r, ws, fresh_ ? undefined : cached);
        for (const w of ws) { touched.set(w.id, w); opsOf.set(w.id, by.get(w.id)!); }
      };
      if (outcomes.length) {
        await take([...new Set(outcomes.map((x) => x.workflow_id))]);
        for (const [id, w] of touched) settle(r, w, opsOf.get(id)!, outcomes.filter((x) => x.workflow_id === id));
      }
      if (recoverNow) {
        const expired = await t.expiredLeases(now, this.deadOwners);
        const mine = new Set(this.running.keys());
        const ids = expired.filter((id) => !this.o.only || this.o.only.includes(id));
        await take(ids, true);
        for (const id of ids) {
          const w = touched.get(id);
          if (w) recover(r, w, opsOf.get(id)!, (op) => !mine.has(op.task_id) && (op.lease_expires_at! < now || this.deadOwners.includes(op.lease_owner!)), (op) => this.runner.retrySafe(op));
        }
      }
      let free = this.o.capacity - this.running.size;
      if (free > 0 && !this.draining) {
        // workflows this round already holds and just made ready (a completion freed a slot and
        // queued dependents; a recovery queued work again) go first: their stored wake time is stale
        const held = [...touched.values()].filter((w) => ACTIVE.includes(w.status) && w.wake_at !== null && w.wake_at <= now);
        const found = await t.lockWorkflows({ claimable: true, now, limit: free, ...(this.o.only ? { only: this.o.only } : {}) });
        const fresh = found.filter((w) => !touched.has(w.id));
        const by = await load(this.store, t, r, fresh, cached);
        for (const w of fresh) { touched.set(w.id, w); opsOf.set(w.id, by.get(w.id)!); }
        const ws = [...held, ...found.filter((w) => !held.some((h) => h.id === w.id))];
        for (const w of ws) {
          if (free <= 0) break;
          const w2 = touched.get(w.id)!;
          const before = r.claimed.length;
          claim(r, w2, opsOf.get(w.id)!, free, this.instanceId, now + this.o.leaseMs);
          free -= r.claimed.length - before;
        }
      }
      await persist(t, r);
      for (const [id, w] of touched) {
        if (FINAL.has(w.status)) this.opsCache.delete(id);
        else this.opsCache.set(id, { rev: w.rev ?? 0, ops: opsOf.get(id)! });
      }
      const watched = this.o.only ? await Promise.all(this.o.only.map(async (id) => touched.get(id) ?? (await this.store.getWorkflow(id))!)) : [];
      return { claimed: r.claimed, watched, byWf: touched };
    });
  }

  private launch(op: OperationRow, wf: WorkflowRow): void {
    this.stats.started++;
    const ac = new AbortController();
    const task: Running = { op, ac, tail: [], done: Promise.resolve() };
    const undo = op.status === 'rolling_back';
    const timer = op.spec.timeout_ms > 0 ? setTimeout(() => {
      task.reason = { code: 'TIMEOUT', message: `operation ${op.id} did not finish within ${Math.round(op.spec.timeout_ms / 1000)}s`, hint: 'raise its `timeout` in the workflow file' };
      ac.abort(task.reason);
    }, op.spec.timeout_ms) : undefined;
    timer?.unref();
    const io: TaskIO = {
      signal: ac.signal,
      log: (message, o = {}) => {
        for (const line of message.split('\n')) { task.tail.push(line); if (task.tail.length > 50) task.tail.shift(); }
        this.logs.push({ level: o.level ?? 'info', component: 'executor', message, workflow_id: op.workflow_id, operation_id: op.id, task_id: op.task_id,
          ...(o.server ? { server: o.server } : {}), ...(o.stream ? { stream: o.stream } : {}) });
      },
      progress: (p) => { op.progress = Math.max(0, Math.min(100, p)); },
    };
    this.running.set(op.task_id, task);
    task.done = (async () => {
      const base = { workflow_id: op.workflow_id, op_id: op.id, task_id: op.task_id, owner: this.instanceId };
      let outcome: Outcome;
      try {
        const res = undo ? await this.runner.undo(op, wf, io) : await this.runner.run(op, wf, io);
        if (ac.signal.aborted && task.reason) throw task.reason;
        outcome = { ...base, ok: true, ...(res && res.result ? { result: res.result } : {}), ...(res && res.resources ? { resources: res.resources } : {}), output_tail: task.tail };
      } catch (e) {
        const err: TaskError = task.reason ?? toTaskError(e);
        outcome = { ...base, ok: false, error: err, final: err.code === 'TASK_CANCELLED' || NOT_RETRIED.has(err.code), output_tail: task.tail };
      } finally {
        clearTimeout(timer);
      }
      this.running.delete(op.task_id);
      // a shutdown abort hands the operation back in stop(), not as a failure
      if ((ac.signal.reason as TaskError | undefined)?.code === 'SHUTDOWN') return;
      this.outcomes.push(outcome);
      this.wake();
    })();
  }

  private note(level: LogLevel, message: string): void {
    this.logs.push({ level, component: 'engine', message: `${this.instanceId}: ${message}` });
  }
}

/** validation, authorization, policy and quota failures are not retried (models.md §6) */
const NOT_RETRIED = new Set(['DEFINITION_INVALID', 'UNKNOWN_REFERENCE', 'FORBIDDEN', 'AUTH_REQUIRED', 'INVALID_ARGUMENT', 'KMS_NOT_CONFIGURED', 'QUOTA_EXCEEDED', 'NOT_IMPLEMENTED']);

export function toTaskError(e: unknown): TaskError {
  if (e && typeof e === 'object' && 'code' in e && 'message' in e && !(e instanceof Error)) return e as TaskError;
  const p = asProvError(e);
  const d = p.details;
  return {
    code: p.code, message: p.message, ...(p.hint ? { hint: p.hint } : {}),
    ...(typeof d.server === 'string' ? { server: d.server } : {}), ...(typeof d.step === 'string' ? { step: d.step } : {}),
    ...(typeof d.command === 'string' ? { command: d.command } : {}), ...(typeof d.exit_code === 'number' ? { exit_code: d.exit_code } : {}),
    ...(Array.isArray(d.output_tail) ? { output_tail: d.output_tail as string[] } : {}),
  };
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}
