/**
 * The real operations of a workflow (models.md §6): server, taskserv and cluster operations
 * are planned for their targets with the same planner as the CLI commands and applied with
 * `applyPlan`; `script` runs a command on the engine's host or on servers. Each operation
 * holds its infra's run lock (holder `workflow:<id>`, shared by the workflow's operations) while
 * it runs, so a CLI run on the same infra waits or fails with LOCKED.
 */
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import { ProvError } from '../errors/index.js';
import type { DesiredState } from '../infra/desired.js';
import type { Plan } from '../plan/plan.js';
import type * as Planner from '../plan/plan.js';
import type { ResourceState } from '../store/types.js';
import { describeLock, infraScope, lockedError } from '../store/lock.js';
import type { OperationRow, ResourceRef, WorkflowRow } from '../workflow/types.js';
import type { RunHandles } from './context.js';
import { runScript } from './spawner.js';
import type { OperationRunner, TaskIO } from './worker.js';

/**
 * Definitions, planner, providers and transports load on the first operation that needs them:
 * an engine that runs only local scripts (or restarts after a crash) starts in a fraction of the time.
 */
const heavy = async () => {
  const [config, desired, plan, apply, context, taskservs] = await Promise.all([
    import('../config/index.js'), import('../infra/desired.js'), import('../plan/plan.js'), import('./apply.js'), import('./context.js'), import('./taskservs.js'),
  ]);
  return { loadConfig: config.loadConfig, loadDesired: desired.loadDesired, ...plan, applyPlan: apply.applyPlan, loginKeys: context.loginKeys, openRun: context.openRun, ServerSessions: taskservs.ServerSessions };
};
type Heavy = Awaited<ReturnType<typeof heavy>>;

export interface RunnerOptions {
  /** the workspace the operations run in */
  workspacePath: string;
  env: Record<string, string | undefined>;
}

/** Operations that find what an earlier attempt made (adoption by tags, taskserv `check`), so running them again is safe. */
const RETRY_SAFE = new Set(['server_create', 'server_delete', 'server_update', 'taskserv_create', 'taskserv_update', 'taskserv_delete', 'cluster_create', 'cluster_delete']);

export function createOperationRunner(o: RunnerOptions): OperationRunner {
  const held = new Map<string, number>();

  async function withInfra<T>(wf: WorkflowRow, infra: string, io: TaskIO, fn: (cfg: Config, d: DesiredState, run: RunHandles, m: Heavy) => Promise<T>): Promise<T> {
    const m = await heavy();
    const cfg = await m.loadConfig({ cwd: o.workspacePath, env: o.env, select: { workspace: o.workspacePath, infra }, cli: { set: [], flags: [] }, requireWorkspace: true, requireInfra: true });
    const d = await m.loadDesired(cfg, { env: o.env });
    const run = m.openRun(cfg, d, o.env);
    const scope = infraScope(d.workspace.name, d.infra);
    const holder = `workflow:${wf.id}`;
    try {
      // another run holds the infra (a CLI run, a maintenance lock): wait for it, as queue_on_lock asks
      for (let told = false; !held.get(scope);) {
        const r = await run.store.tryLock({ scope, holder, pid: process.pid, host: hostname(), command: `workflow ${wf.name}`, reason: `workflow ${wf.id}`, acquired_at: new Date().toISOString() });
        if (r.acquired || r.held.holder === holder) break;
        if (io.signal.aborted) throw lockedError(scope, r.held);
        if (!told) { io.log(`waiting for ${scope}: held by ${describeLock(r.held)}`, { level: 'warn' }); told = true; }
        await new Promise((res) => setTimeout(res, 500));
      }
      held.set(scope, (held.get(scope) ?? 0) + 1);
      try {
        return await fn(cfg, d, run, m);
      } finally {
        const n = (held.get(scope) ?? 1) - 1;
        if (n === 0) { held.delete(scope); await run.store.releaseLock(scope, holder); } else held.set(scope, n);
      }
    } finally {
      await run.close();
    }
  }

  async function apply(wf: WorkflowRow, op: OperationRow, io: TaskIO, plan: (d: DesiredState, run: RunHandles, m: Heavy) => Promise<Plan>): Promise<{ result: Record<string, unknown>; resources: ResourceRef[] }> {
    return withInfra(wf, op.infra, io, async (cfg, d, run, m) => {
      const p = await plan(d, run, m);
      const creates = p.changes.filter((c) => c.resource_type === 'server' && c.action === 'create');
      const servers = creates.flatMap((c) => d.servers.filter((s) => s.hostname === c.name));
      const providers = p.changes.filter((c) => c.resource_type === 'server').map((c) => c.provider).filter((x): x is string => Boolean(x));
      if (providers.length) for (const w of await run.providers.preflight(providers, servers, { workspace: d.workspace.name, infra: d.infra })) io.log(w, { level: 'warn' });
      const res = await m.applyPlan(p, {
        desired: d, store: run.store, providers: run.providers, transports: run.transports, command: `workflow ${wf.name} ${op.id}`,
        publicKeys: servers.length ? m.loginKeys(cfg, run.ssh, d.workspace.name) : [], waitReachable: true, progress: (name, m) => io.log(`${name}: ${m}`, { server: name }),
      }, {
        parallel: wf.parallel_limit, signal: io.signal,
        onEnd: (c, out, note) => io.log(`${c.resource_type} ${c.server ? `${c.server}/` : ''}${c.name}: ${c.action} ${out.status}${note ? ` (${note})` : ''}${out.status === 'failed' ? `: ${out.error.message}` : ''}`, { level: out.status === 'failed' ? 'error' : 'info', ...(c.server ?? (c.resource_type === 'server' ? c.name : undefined) ? { server: c.server ?? c.name } : {}) }),
      });
      const resources: ResourceRef[] = res.results.filter((x) => x.status === 'done' && x.action === op.type.split('_')[1]).map((x) => ({
        provider: x.observed ? p.changes.find((c) => c.order === x.order)?.provider ?? '' : '', type: x.id.split(':')[0]!, id: x.observed?.provider_id ?? x.id, name: x.server ? `${x.server}/${x.name}` : x.name, infra: d.infra,
      }));
      const bad = res.results.find((x) => x.status === 'failed') ?? res.results.find((x) => x.status === 'skipped');
      if (bad) {
        throw new ProvError(bad.error?.code ?? 'OPERATION_FAILED', bad.error?.message ?? `${bad.name}: skipped (${bad.reason})`, { ...(bad.error?.hint ? { hint: bad.error.hint } : {}), details: { ...bad.error?.details, resources } });
      }
      return { result: { changes: res.results.length, done: res.done, summary: `${res.done} of ${res.results.length} change(s) applied` }, resources };
    });
  }

  return {
    retrySafe: (op) => RETRY_SAFE.has(op.type) || Boolean(op.spec.script?.idempotent),

    async run(op, wf, io) {
      const s = op.spec;
      switch (op.type) {
        case 'script':
          await script(wf, op, s.script!.run, io);
          return { result: { ran: s.script!.run } };
        default:
          return apply(wf, op, io, async (d, run, m) => operationPlan(op, d, await records(d, run), m));
      }
    },

    async undo(op, wf, io) {
      const s = op.spec;
      switch (op.type) {
        case 'server_create': {
          const created = op.resources.filter((r) => r.type === 'server').map((r) => r.name);
          if (!created.length) { io.log('created no server: nothing to undo'); return; }
          await apply(wf, op, io, async (d, run, m) => {
            const kept = created.filter((n) => d.servers.find((x) => x.hostname === n)?.protected);
            for (const n of kept) io.log(`${n} is protected: kept`, { level: 'warn', server: n });
            return m.planServers(d, await records(d, run), { action: 'delete', names: created.filter((n) => !kept.includes(n)) });
          });
          return;
        }
        case 'taskserv_create': {
          const on = [...new Set(op.resources.filter((r) => r.type === 'taskserv').map((r) => r.name.split('/')[0]!))];
          if (!on.length) { io.log('installed nothing: nothing to undo'); return; }
          await apply(wf, op, io, async (d, run, m) => m.planTaskservs(d, await records(d, run), { action: 'delete', names: [s.taskserv!], servers: on }));
          return;
        }
        case 'cluster_create':
          await apply(wf, op, io, async (d, run, m) => m.planCluster(d, await records(d, run), { action: 'delete', name: s.cluster! }));
          return;
        case 'script':
          if (s.script!.undo) await script(wf, op, s.script!.undo, io);
          else io.log('no `undo` command: nothing to undo');
          return;
        default:
          throw new ProvError('UNSUPPORTED', `a ${op.type} cannot be undone by this release`, { hint: 're-apply the previous definitions with the matching update command' });
      }
    },
  };

  async function script(wf: WorkflowRow, op: OperationRow, command: string, io: TaskIO): Promise<void> {
    const sc = op.spec.script!;
    const env = { ...sc.env, PROVISIONING_WORKFLOW_ID: wf.id, PROVISIONING_OPERATION_ID: op.id, PROVISIONING_TASK_ID: op.task_id, PROVISIONING_ATTEMPT: String(op.attempt), PROVISIONING_ENGINE_INSTANCE: op.lease_owner ?? '' };
    if (sc.on === 'local') {
      await localScript(command, sc.shell ?? 'sh', { ...o.env, ...env } as Record<string, string>, wf.workdir ?? o.workspacePath, io);
      return;
    }
    await withInfra(wf, op.infra, io, async (_cfg, d, run, m) => {
      const sessions = new m.ServerSessions({ desired: d, store: run.store, providers: run.providers, transports: run.transports, command: `workflow ${wf.name} ${op.id}`, publicKeys: [], waitReachable: false, progress: () => undefined });
      const failures: string[] = [];
      await Promise.all(op.servers.map(async (host) => {
        const { t } = await sessions.get(host);
        const r = await t.exec({ script: command }, {
          env, signal: io.signal, sudo: false,
          onStdout: (b) => io.log(b.toString().trimEnd(), { stream: 'stdout', server: host }), onStderr: (b) => io.log(b.toString().trimEnd(), { stream: 'stderr', server: host }),
        });
        if (r.code !== 0) failures.push(`${host} (exit ${r.code})`);
      }));
      if (failures.length) throw new ProvError('COMMAND_FAILED', `script of ${op.id} failed on ${failures.join(', ')}`, { details: { command } });
    });
  }
}

async function records(d: DesiredState, run: RunHandles) {
  return run.store.listResources({ workspace: d.workspace.name, infra: d.infra, includeDeleted: true });
}

/** A command on the engine's host, in the workspace (or the batch file's directory), killed with its group on abort. */
async function localScript(command: string, shell: string, env: Record<string, string>, cwd: string, io: TaskIO): Promise<void> {
  const partial = { stdout: '', stderr: '' };
  const run = runScript(shell, command, cwd, env, (stream, text) => {
    const lines = (partial[stream] + text).split('\n');
    partial[stream] = lines.pop()!;
    for (const l of lines) io.log(l, { stream });
  });
  const kill = () => run.kill();
  io.signal.addEventListener('abort', kill, { once: true });
  try {
    const r = await run.done;
    for (const st of ['stdout', 'stderr'] as const) if (partial[st]) io.log(partial[st], { stream: st });
    if (io.signal.aborted) throw io.signal.reason;
    if (r.error) throw new ProvError('COMMAND_FAILED', `cannot run \`${command}\` with ${shell}: ${r.error}`, { details: { command } });
    if (r.code !== 0) throw new ProvError('COMMAND_FAILED', `\`${command}\` exited with ${r.code ?? r.signal}`, { details: { command, exit_code: r.code ?? 128 } });
  } finally {
    io.signal.removeEventListener('abort', kill);
  }
}

/** The plan a server, taskserv or cluster operation applies: the planner's, for its targets (also what `batch submit --check` shows). */
export function operationPlan(op: Pick<OperationRow, 'type' | 'servers' | 'spec'>, d: DesiredState, records: ResourceState[], planner: Pick<typeof Planner, 'planServers' | 'planTaskservs' | 'planCluster'>): Plan {
  const action = op.type.split('_')[1] as 'create' | 'delete' | 'update';
  if (op.type.startsWith('server_')) return planner.planServers(d, records, { action, names: op.servers });
  if (op.type.startsWith('taskserv_')) return planner.planTaskservs(d, records, { action, names: [op.spec.taskserv!], servers: op.servers, ...(op.spec.version ? { version: op.spec.version } : {}) });
  if (op.type.startsWith('cluster_')) return planner.planCluster(d, records, { action: action === 'delete' ? 'delete' : 'create', name: op.spec.cluster! });
  throw new ProvError('INVALID_ARGUMENT', `a ${op.type} operation has no plan`);
}
