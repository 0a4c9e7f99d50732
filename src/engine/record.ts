/**
 * A plan applied directly by the CLI (`server create`, `taskserv delete` …) is recorded as a
 * workflow in the workflow store — one operation per change, with the plan's dependencies — and
 * its operations move through the same state machine as every other workflow's, so
 * `workflow list|status|logs` show it next to batches and orchestrated runs. The CLI process holds
 * the leases as a registered instance; if it dies, an engine on the same host (an orchestrator,
 * or `workflow resume`) finds its process gone and re-runs what was running through the real
 * operation runner, as it would for any engine.
 */
import { hostname } from 'node:os';
import { newId } from '../workflow/ids.js';
import type { Plan, PlanChange } from '../plan/plan.js';
import type { WorkflowStore } from '../store/workflows.js';
import { Round, settle, setOpStatus, setWorkflowStatus, advance, newTaskId } from '../workflow/machine.js';
import type { OperationRow, OperationSpec, TaskError, WorkflowRow } from '../workflow/types.js';
import { load, persist } from './control.js';
import type { Outcome as StepOutcome } from './scheduler.js';

const LEASE_MS = 24 * 3600_000;

export interface PlanRecorder {
  readonly workflowId: string;
  start(c: PlanChange): Promise<void>;
  end(c: PlanChange, outcome: StepOutcome, note?: string): Promise<void>;
  /** mark what never ran (the run stopped before it) and release the instance */
  finish(): Promise<WorkflowRow | undefined>;
}

const opId = (c: PlanChange) => `${c.resource_type}-${c.server ? `${c.server}-` : ''}${c.name}`.toLowerCase().replace(/[^a-z0-9_-]/g, '-').slice(0, 56) + `-${c.order}`;
const opType = (c: PlanChange): OperationSpec['type'] => {
  const act = c.action === 'delete' ? 'delete' : c.action === 'create' ? 'create' : 'update';
  return c.resource_type === 'cluster' && act === 'update' ? 'cluster_create' : `${c.resource_type}_${act}` as OperationSpec['type'];
};

/** A plan's changes as workflow operations: one per change, the plan's order as dependencies (only ordering for a teardown, which goes on past failures as engine/apply.ts does). */
export function planOperations(plan: Plan, changes: PlanChange[]): { change: PlanChange; id: string; type: OperationSpec['type']; servers: string[]; depends_on: string[]; after: string[] }[] {
  const ids = new Map(changes.map((c) => [c.order, opId(c)]));
  const soft = plan.command === 'cluster delete' || plan.command === 'infra delete';
  return changes.map((c) => {
    const deps = c.depends_on.map((d) => ids.get(d)).filter((x): x is string => Boolean(x));
    return { change: c, id: ids.get(c.order)!, type: opType(c), servers: c.resource_type === 'cluster' ? [] : [c.server ?? c.name], depends_on: soft ? [] : deps, after: soft ? deps : [] };
  });
}

/** The same operations as a workflow file's content, for submitting a plan to the orchestrator. */
export function planAsWorkflow(plan: Plan, changes: PlanChange[], parallel: number): Record<string, unknown> {
  return {
    name: plan.command.replace(' ', '-'), infra: plan.infra, parallel_limit: parallel, rollback_enabled: false, continue_on_error: true,
    labels: { command: plan.command.replace(' ', '_') },
    operations: planOperations(plan, changes).map((o) => ({
      id: o.id, type: o.type, description: o.change.reason, retries: 0,
      target: o.change.resource_type === 'server' ? o.servers : o.change.resource_type === 'taskserv' ? { taskserv: o.change.name, servers: o.servers } : { cluster: o.change.name },
      ...(o.depends_on.length ? { dependencies: o.depends_on } : {}), ...(o.after.length ? { after: o.after } : {}),
    })),
  };
}

export async function recordPlanRun(store: WorkflowStore, plan: Plan, changes: PlanChange[], o: { submitted_by: string; parallel: number }): Promise<PlanRecorder> {
  const now = Date.now();
  const iso = new Date(now).toISOString();
  const [kind, action] = plan.command.split(' ') as [string, string];
  const owner = `cli:${hostname()}:${process.pid}:${newId('i').slice(-6)}`;
  const ids = new Map(changes.map((c) => [c.order, opId(c)]));
  const wf: WorkflowRow = {
    id: newId('wf', now), name: plan.command.replace(' ', '-'), kind: kind === 'server' || kind === 'taskserv' || kind === 'cluster' ? kind : 'custom',
    action: action === 'create' || action === 'delete' ? action : 'update', workspace: plan.workspace, infra: plan.infra, environment: plan.environment,
    status: 'queued', check_mode: false, execution: 'direct', priority: 50, parallel_limit: o.parallel, rollback_enabled: false, fail_fast: false, version: null,
    progress: 0, current_step: null, last_checkpoint_id: null, submitted_by: o.submitted_by, labels: { command: plan.command.replace(' ', '_') },
    created_at: iso, started_at: null, completed_at: null, duration_ms: null, plan: { summary: plan.summary, changes: plan.changes.length }, result: null, error: null,
    wake_at: null, completions: 0, checkpoints: 0, rollback_id: null, rollback_after_cancel: false, deadline: null, workdir: null,
  };
  const ops: OperationRow[] = planOperations(plan, changes).map(({ change: c, id, type, servers, depends_on, after }, idx) => {
    const deps = [...depends_on, ...after];
    const spec: OperationSpec = {
      id, type, infra: plan.infra, ...(c.provider ? { provider: c.provider } : {}),
      servers, ...(c.resource_type === 'taskserv' ? { taskserv: c.name } : {}), ...(c.resource_type === 'cluster' ? { cluster: c.name } : {}),
      depends_on, after, retries: 0, retry_delay_ms: 0, timeout_ms: 0, continue_on_error: false, rollback: false, description: c.reason,
    };
    return {
      workflow_id: wf.id, id: spec.id, idx, type: spec.type, status: deps.length ? 'pending' : 'queued', progress: 0, infra: plan.infra, provider: c.provider ?? null,
      servers: spec.servers as string[], spec, task_id: newTaskId(), attempt: 0, max_attempts: 1, not_before: null, lease_owner: null, lease_expires_at: null,
      queued_at: deps.length ? null : iso, started_at: null, completed_at: null, duration_ms: null, completed_order: null, resources: [], result: null, output_tail: [], error: null,
    };
  });
  await store.upsertWorker({ instance_id: owner, host: hostname(), pid: process.pid, version: '', started_at: iso, last_heartbeat_at: iso, capacity: o.parallel, running_tasks: 0 });
  await store.tx(async (t) => {
    await t.insertWorkflow(wf, ops);
    await t.appendEvents([{ event_type: 'WorkflowStatusChanged', category: 'workflow', workflow_id: wf.id, metadata: { infra: wf.infra, workspace: wf.workspace },
      data: { workflow_id: wf.id, kind: wf.kind, name: wf.name, status: 'queued', previous_status: null, check_mode: false } }]);
  });

  // one transaction per change event, in the order they happen
  let chain: Promise<unknown> = Promise.resolve();
  const step = (fn: (r: Round, w: WorkflowRow, ops: OperationRow[]) => void) => {
    const next = chain.then(() => store.tx(async (t) => {
      const [w] = await t.lockWorkflows({ ids: [wf.id] });
      const r = new Round(Date.now());
      const rows = (await load(store, t, r, [w!])).get(wf.id)!;
      fn(r, w!, rows);
      // this process runs the steps: no engine may lease them while it lives (a dead CLI's leases are recovered, which sets a wake time again)
      w!.wake_at = null;
      r.touchWf(w!);
      await persist(t, r);
    }));
    chain = next.catch(() => undefined);
    return next;
  };
  const find = (rows: OperationRow[], c: PlanChange) => rows.find((x) => x.id === ids.get(c.order));

  return {
    workflowId: wf.id,
    start: (c) => step((r, w, rows) => {
      const op = find(rows, c);
      if (!op) return;
      op.attempt = 1;
      op.lease_owner = owner;
      op.lease_expires_at = Date.now() + LEASE_MS;
      setWorkflowStatus(r, w, 'running');
      setOpStatus(r, w, op, 'running');
      advance(r, w, rows);
    }),
    end: (c, out, note) => step((r, w, rows) => {
      const op = find(rows, c);
      if (!op || op.status !== 'running') return;
      if (out.status === 'skipped') return; // advance() skips it with its failed dependency
      const error: TaskError | undefined = out.status === 'failed' ? { code: out.error.code, message: out.error.message, ...(out.error.hint ? { hint: out.error.hint } : {}) } : undefined;
      settle(r, w, rows, [{ workflow_id: wf.id, op_id: op.id, task_id: op.task_id, owner, ok: out.status === 'done', final: true, ...(error ? { error } : {}), ...(note ? { result: { note } } : {}) }]);
    }),
    async finish() {
      await chain;
      // steps the scheduler never started (interrupted, or skipped before start) end here
      await step((r, w, rows) => {
        if (rows.some((op) => op.status === 'queued' || op.status === 'pending')) setWorkflowStatus(r, w, 'cancelling', { code: 'INTERRUPTED', message: 'the run stopped before every step started' });
        advance(r, w, rows);
      }).catch(() => undefined);
      await store.removeWorker(owner);
      return store.getWorkflow(wf.id);
    },
  };
}
