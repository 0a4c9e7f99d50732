/**
 * The workflow store: workflows, their operations, checkpoints, rollbacks, events, logs, engine
 * instances and idempotency records. One interface; SQLite (the workspace's state.db, the
 * default) and PostgreSQL (several orchestrators on one database) implement it, and one test
 * suite runs against both (test/store/workflows.test.ts).
 *
 * The engine decides in pure functions (src/workflow/machine.ts) and writes through `tx`: a
 * round locks the workflows it touches, loads their operations, and saves what changed, all in
 * one transaction, so two instances never both advance one workflow and a crash leaves either
 * the whole round or none of it.
 */
import type {
  Checkpoint, Event, IdempotencyRecord, LogEntry, LogFilter, NewEvent, NewLog, OperationRow, Page, Rollback,
  TaskFilter, WorkerRow, WorkflowFilter, WorkflowRow,
} from '../workflow/types.js';

export interface WorkflowTx {
  /**
   * Lock and return workflows. `ids`: these (waiting for other holders). `claimable`: active ones
   * whose `wake_at` has passed, highest priority then oldest first, skipping rows another
   * transaction holds (PostgreSQL `FOR UPDATE SKIP LOCKED`), at most `limit`; `only` restricts
   * them to these ids (a direct run works on its own workflow).
   */
  lockWorkflows(q: { ids: string[] } | { claimable: true; now: number; limit: number; only?: string[] }): Promise<WorkflowRow[]>;
  /** Operations of these workflows, in declaration order. */
  operations(workflowIds: string[]): Promise<OperationRow[]>;
  insertWorkflow(w: WorkflowRow, ops: OperationRow[]): Promise<void>;
  saveWorkflows(ws: WorkflowRow[]): Promise<void>;
  saveOperations(ops: OperationRow[]): Promise<void>;
  /** Ids of workflows with a running operation whose lease expired before `now`, or whose owner is in `deadOwners`. */
  expiredLeases(now: number, deadOwners: string[]): Promise<string[]>;
  /** Renew the leases of `owner`'s running operations; returns the workflows of those operations that are being cancelled. */
  renewLeases(owner: string, until: number): Promise<{ cancelling: string[] }>;
  appendEvents(es: NewEvent[]): Promise<Event[]>;
  appendLogs(ls: NewLog[]): Promise<void>;
  insertCheckpoints(cs: Checkpoint[]): Promise<void>;
  saveRollback(r: Rollback): Promise<void>;
  getIdempotency(key: string): Promise<IdempotencyRecord | undefined>;
  putIdempotency(r: IdempotencyRecord): Promise<void>;
}

export interface WorkflowStore {
  readonly kind: 'sqlite' | 'postgres';
  /** A human-readable location: the SQLite file, or the PostgreSQL URL without its password. */
  readonly location: string;
  /** One transaction. SQLite serialises the callers of one process (one writer anyway); PostgreSQL runs them concurrently on pooled connections. */
  tx<T>(fn: (t: WorkflowTx) => Promise<T>): Promise<T>;

  getWorkflow(id: string): Promise<WorkflowRow | undefined>;
  /** Whether any workflow is claimable now (a read without locks, so an idle engine round can skip its transaction). */
  anyDue(now: number, only?: string[]): Promise<boolean>;
  listWorkflows(filter: WorkflowFilter, page: Page): Promise<{ rows: WorkflowRow[]; total: number }>;
  getOperations(workflowId: string): Promise<OperationRow[]>;
  listTasks(filter: TaskFilter, page: Page): Promise<{ rows: OperationRow[]; total: number }>;
  /** The operation whose current task has this id. */
  getTask(taskId: string): Promise<OperationRow | undefined>;
  /** Events with `seq` > afterSeq, oldest first. */
  events(afterSeq: number, limit: number, workflowIds?: string[]): Promise<Event[]>;
  /** The smallest stored seq (0 when there are none) and the largest. */
  eventBounds(): Promise<{ oldest: number; latest: number }>;
  logs(filter: LogFilter): Promise<LogEntry[]>;
  checkpoints(filter: { workflow_id?: string; trigger?: string[]; from?: string; to?: string }, page: Page): Promise<{ rows: Checkpoint[]; total: number }>;
  getCheckpoint(id: string): Promise<Checkpoint | undefined>;
  rollbacks(filter: { workflow_id?: string; status?: string[]; mode?: string[] }, page: Page): Promise<{ rows: Rollback[]; total: number }>;
  getRollback(id: string): Promise<Rollback | undefined>;

  /** Engine instances sharing the store. */
  upsertWorker(w: WorkerRow): Promise<void>;
  removeWorker(instanceId: string): Promise<void>;
  workers(): Promise<WorkerRow[]>;

  /** Delete final workflows that ended before `before` (and their operations, events, logs, checkpoints); returns how many. */
  deleteWorkflows(ids: string[]): Promise<number>;
  /** Events and idempotency records older than this are dropped. */
  prune(before: string): Promise<void>;
  sizeBytes(): Promise<number>;

  /**
   * Called with the latest seq whenever events were appended — by this process, or (PostgreSQL
   * LISTEN/NOTIFY; SQLite by polling) by another one. Returns the unsubscribe function.
   */
  onEvents(listener: (latestSeq: number) => void): () => void;
  close(): Promise<void>;
}
