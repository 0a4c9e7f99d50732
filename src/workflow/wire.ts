/**
 * Rows → the API's wire shapes (spec/api.md §2.2–2.3): the engine's bookkeeping is dropped and
 * the derived fields are added. One task per operation: its current attempt (`task_id`,
 * `attempt`); during a rollback the operation's compensation is that task, of kind
 * `rollback.<type>`. The orchestrator's routes and the CLI both render through these.
 */
import { taskKind, taskName } from './machine.js';
import type { OperationRow, OperationSpec, ResourceRef, Status, TaskError, WorkflowKind, WorkflowRow } from './types.js';

export interface WireOperation {
  id: string; type: OperationRow['type']; workflow_id: string; status: Status; progress: number;
  infra: string; provider: string | null; servers: string[];
  /** hard dependencies: declared and implicit (`implicit` lists the ones the engine added) */
  depends_on: string[]; implicit: string[]; after: string[];
  tasks: { total: number; completed: number; failed: number; running: number };
  task_id: string; attempt: number; max_attempts: number;
  rollback_status: NonNullable<OperationRow['rollback_status']> | null;
  started_at: string | null; completed_at: string | null; duration_ms: number | null;
  resources: ResourceRef[]; result: Record<string, unknown> | null; error: TaskError | null;
}

export interface Workflow {
  id: string; name: string; kind: WorkflowKind; action: WorkflowRow['action'];
  workspace: string; infra: string | null; environment: string | null;
  status: Status; check_mode: boolean; execution: WorkflowRow['execution'];
  priority: number; parallel_limit: number; rollback_enabled: boolean;
  progress: number; current_step: string | null; eta_s: number | null;
  operations?: WireOperation[];
  operations_summary: { total: number } & Partial<Record<Status, number>>;
  last_checkpoint_id: string | null;
  submitted_by: string; labels: Record<string, string>;
  created_at: string; started_at: string | null; completed_at: string | null; duration_ms: number | null;
  plan?: Record<string, unknown> | null;
  result: WorkflowRow['result']; error: TaskError | null;
}

export interface BatchWorkflow extends Workflow { kind: 'batch'; version: string | null; fail_fast: boolean }

export interface Task {
  id: string; workflow_id: string; operation_id: string; name: string; kind: string;
  target: { infra?: string; server?: string; servers?: string[]; taskserv?: string; cluster?: string; provider?: string };
  status: Status; progress: number; priority: number;
  attempt: number; max_attempts: number; depends_on: string[];
  created_at: string; queued_at: string | null; started_at: string | null; completed_at: string | null; duration_ms: number | null;
  output_tail: string[]; result: Record<string, unknown> | null; error: TaskError | null;
}

export interface WorkflowProgress {
  workflow_id: string; status: Status; progress: number; eta_s: number | null;
  steps: { total: number; completed: number; failed: number; running: number; skipped: number };
  current_step: string | null; step: { name: string; progress: number; message: string } | null;
  operations: { id: string; status: Status; progress: number }[];
}

const RUNNING: ReadonlySet<Status> = new Set(['running', 'rolling_back']);
const FAILED: ReadonlySet<Status> = new Set(['failed', 'rollback_failed']);

const hardDeps = (s: OperationSpec) => [...s.depends_on, ...(s.implicit ?? [])];

export function toWireOperation(o: OperationRow): WireOperation {
  return {
    id: o.id, type: o.type, workflow_id: o.workflow_id, status: o.status, progress: o.progress,
    infra: o.infra, provider: o.provider, servers: o.servers, depends_on: hardDeps(o.spec), implicit: o.spec.implicit ?? [], after: o.spec.after,
    tasks: { total: 1, completed: o.status === 'completed' || o.status === 'rolled_back' ? 1 : 0, failed: FAILED.has(o.status) ? 1 : 0, running: RUNNING.has(o.status) ? 1 : 0 },
    task_id: o.task_id, attempt: o.attempt, max_attempts: o.max_attempts, rollback_status: o.rollback_status ?? null,
    started_at: o.started_at, completed_at: o.completed_at, duration_ms: o.duration_ms, resources: o.resources, result: o.result, error: o.error,
  };
}

export function operationsSummary(ops: OperationRow[]): Workflow['operations_summary'] {
  const out: Workflow['operations_summary'] = { total: ops.length };
  for (const o of ops) out[o.status] = (out[o.status] ?? 0) + 1;
  return out;
}

/** `expand`: list views leave out operations and plan unless asked (api.md §3.3). */
export function toWireWorkflow(w: WorkflowRow, ops: OperationRow[], expand: { operations?: boolean; plan?: boolean } = { operations: true, plan: true }): Workflow | BatchWorkflow {
  const out: Workflow = {
    id: w.id, name: w.name, kind: w.kind, action: w.action, workspace: w.workspace, infra: w.infra, environment: w.environment,
    status: w.status, check_mode: w.check_mode, execution: w.execution, priority: w.priority, parallel_limit: w.parallel_limit,
    rollback_enabled: w.rollback_enabled, progress: w.progress, current_step: w.current_step, eta_s: null,
    ...(expand.operations ? { operations: ops.map(toWireOperation) } : {}),
    operations_summary: operationsSummary(ops), last_checkpoint_id: w.last_checkpoint_id, submitted_by: w.submitted_by, labels: w.labels,
    created_at: w.created_at, started_at: w.started_at, completed_at: w.completed_at, duration_ms: w.duration_ms,
    ...(expand.plan ? { plan: w.plan } : {}), result: w.result, error: w.error,
  };
  return w.kind === 'batch' ? { ...out, kind: 'batch', version: w.version, fail_fast: w.fail_fast } : out;
}

/** An operation's current task; `siblings` (the workflow's operations) give `depends_on` as task ids. */
export function toWireTask(o: OperationRow, w: Pick<WorkflowRow, 'priority' | 'created_at'>, siblings: OperationRow[]): Task {
  const s = o.spec;
  const target: Task['target'] = {
    ...(o.infra ? { infra: o.infra } : {}), ...(o.servers.length === 1 ? { server: o.servers[0] } : o.servers.length > 1 ? { servers: o.servers } : {}),
    ...(s.taskserv ? { taskserv: s.taskserv } : {}), ...(s.cluster ? { cluster: s.cluster } : {}), ...(o.provider ? { provider: o.provider } : {}),
  };
  const deps = [...hardDeps(s), ...s.after].map((d) => siblings.find((x) => x.id === d)?.task_id).filter((x): x is string => x !== undefined);
  return {
    id: o.task_id, workflow_id: o.workflow_id, operation_id: o.id, name: taskName(o), kind: o.status === 'rolling_back' ? `rollback.${o.type}` : taskKind(o),
    target, status: o.status, progress: o.progress, priority: w.priority, attempt: o.attempt, max_attempts: o.max_attempts, depends_on: deps,
    created_at: w.created_at, queued_at: o.queued_at, started_at: o.started_at, completed_at: o.completed_at, duration_ms: o.duration_ms,
    output_tail: o.output_tail, result: o.result, error: o.error,
  };
}

export function toWireProgress(w: WorkflowRow, ops: OperationRow[]): WorkflowProgress {
  const n = (pred: (o: OperationRow) => boolean) => ops.filter(pred).length;
  const cur = ops.find((o) => RUNNING.has(o.status));
  return {
    workflow_id: w.id, status: w.status, progress: w.progress, eta_s: null,
    steps: { total: ops.length, completed: n((o) => o.status === 'completed'), failed: n((o) => FAILED.has(o.status)), running: n((o) => RUNNING.has(o.status)), skipped: n((o) => o.status === 'skipped') },
    current_step: w.current_step,
    step: cur ? { name: taskName(cur), progress: cur.progress, message: cur.output_tail.at(-1) ?? '' } : null,
    operations: ops.map((o) => ({ id: o.id, status: o.status, progress: o.progress })),
  };
}
