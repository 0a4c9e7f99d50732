/**
 * From a validated workflow file (models.md §6) to the rows the engine runs: targets expanded
 * against the infra, defaults filled in, implicit edges added (an operation on a server that a
 * `server_create` of the same workflow creates depends on it), references checked. Pure: the
 * infra is given as an index.
 */
import { newId } from './ids.js';
import { ProvError } from '../errors/index.js';
import { topoOrder } from '../graph/topo.js';
import { parseDuration, type BatchWorkflow, type Operation } from '../model/index.js';
import { closest } from '../cli/suggest.js';
import { newTaskId } from './machine.js';
import type { OperationRow, OperationSpec, WorkflowKind, WorkflowRow } from './types.js';

/** What an infra offers to a workflow: its servers (with provider and taskservs) and clusters. */
export interface InfraIndex {
  name: string;
  environment: string | null;
  servers: { name: string; provider: string; taskservs: string[] }[];
  taskservs: string[];
  clusters: string[];
}

export interface BuildOptions {
  workspace: string;
  kind: WorkflowKind;
  action?: 'create' | 'update' | 'delete' | null;
  execution: 'orchestrated' | 'direct';
  submitted_by: string;
  /** the infra used when neither the file nor an operation names one */
  defaultInfra: string | null;
  infra(name: string): InfraIndex | undefined;
  knownInfras: string[];
  defaults: { parallel_limit: number; retries: number; retry_delay_ms: number; timeout_ms: number };
  priority?: number;
  check_mode?: boolean;
  labels?: Record<string, string>;
  not_before?: number;
  parallel_limit?: number;
  rollback_enabled?: boolean;
  workdir?: string | null;
  now: number;
}

const ms = (d: string | number | undefined): number | undefined => (d === undefined ? undefined : parseDuration(d)! * 1000);

export function buildWorkflow(wf: BatchWorkflow, o: BuildOptions): { workflow: WorkflowRow; operations: OperationRow[] } {
  const id = newId('wf', o.now);
  const iso = new Date(o.now).toISOString();
  const specs = wf.operations.map((op) => operationSpec(op, wf, o));
  addImplicitEdges(specs);
  const order = topoOrder(specs.map((s) => s.id), (n) => { const s = specs.find((x) => x.id === n)!; return [...s.depends_on, ...s.after, ...(s.implicit ?? [])]; });
  if (!order.ok) throw new ProvError('DEPENDENCY_CYCLE', `dependency cycle: ${order.cycle.join(' → ')}`, { details: { cycle: order.cycle.slice(0, -1) } });
  const infraName = wf.infra ?? o.defaultInfra;
  const environment = infraName ? o.infra(infraName)?.environment ?? null : null;
  if (wf.environment && environment && wf.environment !== environment) {
    throw new ProvError('ENV_MISMATCH', `workflow ${wf.name} is meant for environment '${wf.environment}', infra ${infraName} is '${environment}'`, { hint: 'run it against an infra of that environment, or change `environment` in the file' });
  }
  const workflow: WorkflowRow = {
    id, name: wf.name, kind: o.kind, action: o.action ?? null, workspace: o.workspace, infra: infraName, environment,
    status: o.not_before !== undefined && o.not_before > o.now ? 'pending' : 'queued', check_mode: o.check_mode ?? false, execution: o.execution, priority: o.priority ?? 50,
    parallel_limit: o.parallel_limit ?? wf.parallel_limit ?? o.defaults.parallel_limit, rollback_enabled: o.rollback_enabled ?? wf.rollback_enabled ?? true,
    fail_fast: !(wf.continue_on_error ?? false), version: wf.version ?? null, progress: 0, current_step: null, last_checkpoint_id: null,
    submitted_by: o.submitted_by, labels: { ...wf.labels, ...o.labels }, created_at: iso, started_at: null, completed_at: null, duration_ms: null,
    plan: null, result: null, error: null, wake_at: o.not_before ?? o.now, completions: 0, checkpoints: 0, rollback_id: null, rollback_after_cancel: false,
    deadline: wf.timeout !== undefined ? (o.not_before ?? o.now) + ms(wf.timeout)! : null, workdir: o.workdir ?? null,
  };
  const operations: OperationRow[] = specs.map((s, idx) => {
    const deps = [...s.depends_on, ...(s.implicit ?? [])];
    const ready = deps.length === 0 && s.after.length === 0;
    return {
      workflow_id: id, id: s.id, idx, type: s.type, status: ready ? 'queued' : 'pending', progress: 0, infra: s.infra ?? infraName ?? '',
      provider: s.provider ?? null, servers: Array.isArray(s.servers) ? s.servers : [], spec: s, task_id: newTaskId(), attempt: 0, max_attempts: s.retries + 1,
      not_before: null, lease_owner: null, lease_expires_at: null, queued_at: ready ? iso : null, started_at: null, completed_at: null, duration_ms: null,
      completed_order: null, resources: [], result: null, output_tail: [], error: null,
    };
  });
  return { workflow, operations };
}

function operationSpec(op: Operation, wf: BatchWorkflow, o: BuildOptions): OperationSpec {
  const base = {
    id: op.id, type: op.type, depends_on: op.dependencies ?? [], after: op.after ?? [],
    retries: op.retries ?? wf.defaults?.retries ?? o.defaults.retries,
    retry_delay_ms: ms(op.retry_delay ?? wf.defaults?.retry_delay) ?? o.defaults.retry_delay_ms,
    timeout_ms: ms(op.timeout ?? wf.defaults?.timeout) ?? o.defaults.timeout_ms,
    continue_on_error: op.continue_on_error ?? false, rollback: op.rollback ?? true,
    ...(op.provider ? { provider: op.provider } : {}), ...(op.description ? { description: op.description } : {}),
  };
  const where = (field: string) => `operation ${op.id}${field ? ` (${field})` : ''}`;
  const infraOf = (name: string | undefined) => {
    const n = name ?? wf.infra ?? o.defaultInfra;
    if (!n) throw new ProvError('INFRA_REQUIRED', `${where('infra')}: no infra named and none selected`, { hint: 'set `infra` in the workflow file or pass --infra' });
    const idx = o.infra(n);
    if (!idx) throw unknownRef('infra', n, o.knownInfras);
    return idx;
  };
  const serverList = (idx: InfraIndex, sel: string | string[] | '*' | undefined, dflt: () => string[]): string[] => {
    const names = sel === undefined ? dflt() : sel === '*' ? idx.servers.map((s) => s.name) : typeof sel === 'string' ? [sel] : sel;
    for (const n of names) if (!idx.servers.some((s) => s.name === n)) throw unknownRef('server', n, idx.servers.map((s) => s.name), `infra ${idx.name}`);
    return names;
  };
  switch (op.type) {
    case 'server_create': case 'server_update': case 'server_delete': {
      const t = op.target;
      const obj = typeof t === 'object' && !Array.isArray(t) ? t : undefined;
      const sel = typeof t === 'object' && !Array.isArray(t) ? t.servers : t;
      const idx = infraOf(obj?.infra);
      let servers = serverList(idx, sel, () => []);
      if (op.provider) {
        const other = servers.find((n) => idx.servers.find((s) => s.name === n)!.provider !== op.provider);
        if (other) throw new ProvError('DEFINITION_INVALID', `${where('provider')}: server ${other} is not a ${op.provider} server`, { hint: 'name only servers of that provider, or drop `provider`' });
        if (sel === '*') servers = servers.filter((n) => idx.servers.find((s) => s.name === n)!.provider === op.provider);
      }
      return { ...base, infra: idx.name, servers };
    }
    case 'taskserv_create': case 'taskserv_update': case 'taskserv_delete': {
      const t = typeof op.target === 'string' ? { taskserv: op.target } : op.target;
      const idx = infraOf(t.infra);
      const servers = serverList(idx, t.servers, () => idx.servers.filter((s) => s.taskservs.includes(t.taskserv)).map((s) => s.name));
      if (!idx.taskservs.includes(t.taskserv) && t.servers === undefined) throw unknownRef('taskserv', t.taskserv, idx.taskservs, `infra ${idx.name}`);
      return { ...base, infra: idx.name, taskserv: t.taskserv, servers, ...(t.version ? { version: t.version } : {}) };
    }
    case 'cluster_create': case 'cluster_delete': {
      const t = typeof op.target === 'string' ? { cluster: op.target } : op.target;
      const idx = infraOf(t.infra);
      if (!idx.clusters.includes(t.cluster)) throw unknownRef('cluster', t.cluster, idx.clusters, `infra ${idx.name}`);
      return { ...base, infra: idx.name, cluster: t.cluster, servers: [] };
    }
    case 'script': {
      const t = op.target;
      const on = t.on ?? 'local';
      let servers: string[] = [];
      let infra: string | undefined;
      if (on !== 'local') {
        const idx = infraOf(undefined);
        servers = serverList(idx, on.servers, () => []);
        infra = idx.name;
      }
      return { ...base, ...(infra ? { infra } : {}), servers, script: { run: t.run, on: on === 'local' ? 'local' : { servers }, ...(t.shell ? { shell: t.shell } : {}), ...(t.env ? { env: t.env } : {}), ...(t.undo ? { undo: t.undo } : {}), ...(t.idempotent ? { idempotent: true } : {}) } };
    }
  }
}

/** models.md §6: an operation on a server created by a server_create of this workflow waits for it. */
function addImplicitEdges(specs: OperationSpec[]): void {
  const creators = specs.filter((s) => s.type === 'server_create');
  for (const s of specs) {
    if (s.type === 'server_create' || !Array.isArray(s.servers)) continue;
    const implicit = creators.filter((c) => c.id !== s.id && c.infra === s.infra && (c.servers as string[]).some((n) => (s.servers as string[]).includes(n))
      && !s.depends_on.includes(c.id)).map((c) => c.id);
    if (implicit.length) s.implicit = implicit;
  }
}

export function unknownRef(kind: string, name: string, known: string[], where?: string): ProvError {
  const near = closest(name, known, 1)[0];
  return new ProvError('UNKNOWN_REFERENCE', `unknown ${kind} '${name}'${where ? ` in ${where}` : ''}`, {
    details: { kind, name, ...(near ? { did_you_mean: near } : {}) },
    hint: near ? `did you mean '${near}'?` : known.length ? `known: ${known.slice(0, 10).join(', ')}` : `no ${kind} is defined`,
  });
}

/**
 * Waves for `batch validate` / `--check`: operations grouped by the earliest round they can start in
 * (every dependency in an earlier wave), each wave split into chunks of `parallel_limit`.
 */
export function waves(ops: OperationSpec[], parallelLimit: number): string[][] {
  const level = new Map<string, number>();
  const order = topoOrder(ops.map((s) => s.id), (n) => { const s = ops.find((x) => x.id === n)!; return [...s.depends_on, ...s.after, ...(s.implicit ?? [])]; });
  if (!order.ok) return [];
  for (const id of order.order) {
    const s = ops.find((x) => x.id === id)!;
    level.set(id, Math.max(0, ...[...s.depends_on, ...s.after, ...(s.implicit ?? [])].map((d) => (level.get(d) ?? 0) + 1)));
  }
  const out: string[][] = [];
  for (const s of ops) {
    const l = level.get(s.id)!;
    (out[l] ??= []).push(s.id);
  }
  return out.flatMap((w) => Array.from({ length: Math.ceil(w.length / parallelLimit) }, (_, i) => w.slice(i * parallelLimit, (i + 1) * parallelLimit)));
}
