/**
 * Workflows as the store keeps them and the API shows them (spec/api.md §2).
 *
 * workflow    A durable run of the engine: a DAG of operations with a status (§2.1).
 * operation   One node of that DAG (server_create, taskserv_create, script …); it runs as one
 *             task per attempt, leased by one engine instance at a time.
 * task        The current attempt of an operation (`tsk_…`); `attempt` counts retries.
 * checkpoint  What had completed after each completed operation (and before a rollback); a
 *             restarted engine resumes from the store, which is the checkpoint.
 * rollback    Compensations of completed operations, run in reverse completion order.
 * lease       An engine instance's claim on a running operation, renewed by its heartbeat;
 *             an expired lease means the instance died and the operation is re-examined.
 *
 * Rows carry the wire shape plus the engine's bookkeeping (`spec`, leases, order counters);
 * `toWire*` drop the bookkeeping.
 */
import type { OperationType } from '../model/schema.js';

export type Status =
  | 'pending' | 'queued' | 'running' | 'cancelling'
  | 'completed' | 'failed' | 'cancelled' | 'skipped'
  | 'rolling_back' | 'rolled_back' | 'rollback_failed';

export const FINAL: ReadonlySet<Status> = new Set(['completed', 'failed', 'cancelled', 'skipped', 'rolled_back', 'rollback_failed']);
/** Workflow statuses an engine instance has work for (a pending one once its `not_before` passed). */
export const ACTIVE: readonly Status[] = ['pending', 'queued', 'running', 'cancelling', 'rolling_back'];

export type WorkflowKind = 'server' | 'taskserv' | 'cluster' | 'batch' | 'custom';

export interface TaskError {
  code: string;
  message: string;
  hint?: string;
  server?: string;
  step?: string;
  command?: string;
  exit_code?: number;
  output_tail?: string[];
}

export interface ResourceRef { provider: string; type: string; id: string; name: string; infra: string }

/** What the engine runs for one operation: the normalized form of a workflow file's operation. */
export interface OperationSpec {
  id: string;
  type: OperationType;
  /** server ops: hostnames or '*'; taskserv ops: where to install (undefined = every server listing it) */
  servers?: string[] | '*';
  taskserv?: string;
  cluster?: string;
  version?: string;
  infra?: string;
  provider?: string;
  script?: { run: string; on: 'local' | { servers: string[] | '*' }; shell?: string; env?: Record<string, string>; undo?: string; idempotent?: boolean };
  depends_on: string[];
  after: string[];
  retries: number;
  retry_delay_ms: number;
  timeout_ms: number;
  continue_on_error: boolean;
  rollback: boolean;
  /** dependencies the engine added (an op on a server created by a server_create of this workflow) */
  implicit?: string[];
  description?: string;
}

export interface OperationRow {
  workflow_id: string;
  id: string;
  /** declaration order: ready operations start in this order */
  idx: number;
  type: OperationType;
  status: Status;
  progress: number;
  infra: string;
  provider: string | null;
  servers: string[];
  spec: OperationSpec;
  task_id: string;
  attempt: number;
  max_attempts: number;
  /** a retry waits until this time (epoch ms) */
  not_before: number | null;
  lease_owner: string | null;
  /** epoch ms */
  lease_expires_at: number | null;
  queued_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  /** position in the workflow's completion order (rollback runs these in reverse) */
  completed_order: number | null;
  /** rollback of this operation: undefined = not part of one */
  rollback_status?: 'pending' | 'running' | 'completed' | 'failed' | 'skipped';
  resources: ResourceRef[];
  result: Record<string, unknown> | null;
  output_tail: string[];
  error: TaskError | null;
}

export interface WorkflowRow {
  id: string;
  name: string;
  kind: WorkflowKind;
  action: 'create' | 'update' | 'delete' | null;
  workspace: string;
  infra: string | null;
  environment: string | null;
  status: Status;
  check_mode: boolean;
  execution: 'orchestrated' | 'direct';
  priority: number;
  parallel_limit: number;
  rollback_enabled: boolean;
  fail_fast: boolean;
  version: string | null;
  progress: number;
  current_step: string | null;
  last_checkpoint_id: string | null;
  submitted_by: string;
  labels: Record<string, string>;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  plan: Record<string, unknown> | null;
  result: { resources: ResourceRef[]; summary: string } | null;
  error: TaskError | null;
  /** when an engine should look at it next (epoch ms); null = only when a running operation ends */
  wake_at: number | null;
  /** completions so far (gives each operation its completed_order) */
  completions: number;
  /** checkpoints so far */
  checkpoints: number;
  /** ids of completed operations in completion order (rebuilt from the operations when absent) */
  completed_ids?: string[];
  /** the hash chain of the checkpoints so far */
  state_sha256?: string;
  /** revision: incremented by every save */
  rev?: number;
  /** when the last BatchOperationUpdate event was sent (epoch ms) */
  batch_update_at?: number;
  /** the rollback being run, when rolling back */
  rollback_id: string | null;
  /** a cancel asked for a rollback afterwards */
  rollback_after_cancel: boolean;
  /** whole-run limit (epoch ms), from the file's `timeout` */
  deadline: number | null;
  workdir: string | null;
}

export interface Checkpoint {
  id: string;
  workflow_id: string;
  seq: number;
  trigger: 'operation' | 'interval' | 'manual' | 'pre_rollback';
  name: string | null;
  description: string | null;
  completed_operations: string[];
  state_sha256: string;
  size_bytes: number;
  created_at: string;
  created_by: string | null;
}

export interface Rollback {
  id: string;
  workflow_id: string;
  mode: 'full' | 'partial';
  checkpoint_id: string | null;
  operation_ids: string[];
  status: 'queued' | 'running' | 'completed' | 'failed';
  actions: { total: number; executed: number; failed: number; skipped: number };
  requested_by: string;
  reason: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  error: TaskError | null;
}

export type EventCategory = 'workflow' | 'task' | 'batch' | 'rollback' | 'resource' | 'log' | 'system' | 'metric' | 'ssh' | 'security' | 'secret';

export interface NewEvent {
  event_type: string;
  category: EventCategory;
  workflow_id?: string;
  task_id?: string;
  data: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

export interface Event extends NewEvent {
  type: 'event';
  id: string;
  seq: number;
  timestamp: string;
  source: 'orchestrator' | 'control-center';
  metadata: Record<string, unknown>;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Levels as numbers, for "at least this level" filters. */
export const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface NewLog {
  level: LogLevel;
  component: string;
  message: string;
  workflow_id?: string;
  operation_id?: string;
  task_id?: string;
  server?: string;
  stream?: 'stdout' | 'stderr';
  details?: Record<string, unknown>;
}

export interface LogEntry extends NewLog { seq: number; timestamp: string }

export interface WorkerRow {
  instance_id: string;
  host: string;
  pid: number;
  version: string;
  started_at: string;
  last_heartbeat_at: string;
  capacity: number;
  running_tasks: number;
}

/** One stored answer for an Idempotency-Key (api.md §1.7). */
export interface IdempotencyRecord {
  key: string;
  body_sha256: string;
  status: number | null;
  response: unknown;
  created_at: string;
}

export interface Page { limit: number; offset: number }

export interface WorkflowFilter {
  status?: Status[];
  kind?: WorkflowKind[];
  infra?: string[];
  workspace?: string[];
  submitted_by?: string[];
  check_mode?: boolean;
  execution?: ('orchestrated' | 'direct')[];
  labels?: Record<string, string>;
  from?: string;
  to?: string;
  sort?: 'created_at' | 'status' | 'name' | 'priority';
  order?: 'asc' | 'desc';
}

export interface TaskFilter {
  status?: Status[];
  workflow_id?: string[];
  operation_id?: string[];
  kind?: string[];
  server?: string[];
  infra?: string[];
  from?: string;
  to?: string;
}

export interface LogFilter {
  workflow_id?: string;
  operation_id?: string;
  task_id?: string;
  server?: string;
  /** minimum level */
  level?: LogLevel;
  after_seq?: number;
  limit: number;
}
