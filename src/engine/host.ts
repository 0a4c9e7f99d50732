/**
 * What hosts of the engine share — the CLI (direct) and the orchestrator service: opening the
 * workflow store named by `orchestrator.storage.url`, the engine's settings from config, and
 * turning a workflow file (or an API body) into rows, with its targets checked against the
 * workspace's infras.
 */
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../config/index.js';
import { parseDuration } from '../config/schema.js';
import { listInfras } from '../config/target.js';
import { ProvError } from '../errors/index.js';
import { loadDesired } from '../infra/desired.js';
import { topoOrder } from '../graph/topo.js';
import { assertValid, normalizeWorkflowInput, validateWorkflow, type BatchWorkflow } from '../model/index.js';
import type { WorkflowStore } from '../store/workflows.js';
import { buildWorkflow, type BuildOptions, type InfraIndex } from '../workflow/spec.js';
import type { OperationRow, WorkflowRow } from '../workflow/types.js';
import type { EngineOptions } from './worker.js';

/** config durations are milliseconds already (config/schema.ts) */
const msOf = (cfg: Config, key: string) => parseDuration(cfg.get(key))!;

export async function openWorkflowStore(cfg: Config): Promise<WorkflowStore> {
  const url = String(cfg.get('orchestrator.storage.url'));
  const type = String(cfg.get('orchestrator.storage.type'));
  const scheme = url.split(':')[0];
  const want = scheme === 'postgres' || scheme === 'postgresql' ? 'postgres' : scheme === 'sqlite' ? 'sqlite' : undefined;
  if (!want) throw new ProvError('CONFIG_INVALID', `orchestrator.storage.url must start with sqlite:// or postgres://, got ${scheme}://…`, { hint: 'e.g. sqlite:///path/state.db or postgres://prov@127.0.0.1:5432/prov' });
  if (want !== type) throw new ProvError('CONFIG_INVALID', `orchestrator.storage.type is "${type}" but orchestrator.storage.url is a ${want} URL`, { hint: `set orchestrator.storage.type = "${want}"` });
  if (want === 'sqlite') {
    const { SqliteWorkflowStore } = await import('../store/sqlite/workflows.js');
    return new SqliteWorkflowStore(url.startsWith('sqlite://') ? decodeURIComponent(url.slice('sqlite://'.length)) : fileURLToPath(url), { busyTimeoutMs: msOf(cfg, 'orchestrator.storage.busy_timeout') });
  }
  const { PostgresWorkflowStore } = await import('../store/postgres/workflows.js');
  return PostgresWorkflowStore.open(url, { poolSize: Number(cfg.get('orchestrator.storage.pool_size')) });
}

export function engineOptions(cfg: Config, extra: Partial<EngineOptions> = {}): EngineOptions {
  return {
    capacity: Number(cfg.get('orchestrator.queue.max_concurrent_tasks')),
    leaseMs: msOf(cfg, 'orchestrator.storage.lease_ttl'),
    heartbeatMs: msOf(cfg, 'orchestrator.heartbeat_interval'),
    ...extra,
  };
}

export function workflowDefaults(cfg: Config): BuildOptions['defaults'] {
  return {
    parallel_limit: Number(cfg.get('execution.parallel_limit')),
    retries: Number(cfg.get('orchestrator.queue.retries')),
    retry_delay_ms: msOf(cfg, 'orchestrator.queue.retry_delay'),
    timeout_ms: msOf(cfg, 'orchestrator.queue.task_timeout'),
  };
}

/** The infras of a workspace as the workflow builder sees them, loaded on first use. */
export function infraIndexer(wsPath: string, env: Record<string, string | undefined>): { names: string[]; load(name: string): Promise<InfraIndex | undefined> } {
  // listed on first use: a workflow of local scripts names no infra
  let listed: string[] | undefined;
  const cache = new Map<string, Promise<InfraIndex>>();
  return {
    get names() { return (listed ??= listInfras(wsPath)); },
    load(name) {
      if (!this.names.includes(name)) return Promise.resolve(undefined);
      let p = cache.get(name);
      if (p === undefined) {
        p = (async (): Promise<InfraIndex> => {
          const cfg = await loadConfig({ cwd: wsPath, env, select: { workspace: wsPath, infra: name }, cli: { set: [], flags: [] }, requireWorkspace: true, requireInfra: true });
          const d = await loadDesired(cfg, { env });
          return {
            name, environment: d.environment ?? null,
            servers: d.servers.map((s) => ({ name: s.hostname, provider: s.provider ?? '', taskservs: (d.taskservs.get(s.hostname) ?? []).map((t) => t.name) })),
            taskservs: [...new Set([...d.taskservs.values()].flat().map((t) => t.name))],
            clusters: d.clusters.map((c) => c.name),
          };
        })();
        cache.set(name, p);
      }
      return p as Promise<InfraIndex | undefined>;
    },
  };
}

export type SubmitOptions = Omit<BuildOptions, 'infra' | 'knownInfras' | 'now'>;

/**
 * A workflow file's content (already parsed) → rows: schema and rules (DEFINITION_INVALID with
 * every problem), then targets against the infras (UNKNOWN_REFERENCE), cycles (DEPENDENCY_CYCLE).
 */
export async function prepareWorkflow(raw: unknown, o: SubmitOptions & { wsPath: string; env: Record<string, string | undefined>; file?: string }): Promise<{ spec: BatchWorkflow; workflow: WorkflowRow; operations: OperationRow[] }> {
  const checked = validateWorkflow(raw, o.file ? { file: o.file } : {});
  if (checked.errors.length && checked.errors.every((p) => p.code === 'DEF_CYCLE')) throw cycleError(raw);
  const spec = assertValid(checked);
  const idx = infraIndexer(o.wsPath, o.env);
  const wanted = new Set<string>([spec.infra ?? o.defaultInfra ?? '', ...spec.operations.map((op) => (typeof op.target === 'object' && op.target && 'infra' in op.target ? op.target.infra ?? '' : ''))]);
  const loaded = new Map<string, InfraIndex>();
  for (const n of wanted) { if (!n) continue; const i = await idx.load(n); if (i) loaded.set(n, i); }
  const built = buildWorkflow(spec, { ...o, infra: (n) => loaded.get(n), get knownInfras() { return idx.names; }, now: Date.now() });
  return { spec, ...built };
}

/** A definition whose only problem is a cycle is DEPENDENCY_CYCLE (api.md §6.2), with the loop as a list. */
function cycleError(raw: unknown): ProvError {
  const ops = ((normalizeWorkflowInput(raw) as { operations: { id: string; dependencies?: string[]; after?: string[] }[] }).operations);
  const order = topoOrder(ops.map((x) => x.id), (id) => { const x = ops.find((y) => y.id === id)!; return [...(x.dependencies ?? []), ...(x.after ?? [])]; });
  // topoOrder closes the loop (a → b → a); the list names each member once
  const loop = order.ok ? [] : order.cycle;
  const cycle = loop.slice(0, -1);
  return new ProvError('DEPENDENCY_CYCLE', `dependency cycle: ${loop.join(' → ')}`, { details: { cycle }, hint: 'remove one of these dependencies (`dependencies` or `after`)' });
}
