/**
 * Applying a plan for real (`server|taskserv|cluster|infra create|delete|…` without --check):
 * print the plan, confirm where the spec asks, take the infra's run lock, check the providers
 * involved, run the plan through the engine with a progress line per server, and report every
 * change. The plan itself comes from the pure planner (handlers/plan.ts).
 */
import { userInfo } from 'node:os';
import { ProvError, asProvError, exitCodeFor } from '../../errors/index.js';
import type { Config } from '../../config/index.js';
import type { DesiredState } from '../../infra/desired.js';
import { applyPlan, isWork, type ApplyResult, type ChangeResult } from '../../engine/apply.js';
import { loginKeys, openRun, type RunHandles } from '../../engine/context.js';
import type { Plan, PlanChange } from '../../plan/plan.js';
import type { Observed } from '../../providers/index.js';
import { acquireRunLock, describeLock, infraScope } from '../../store/lock.js';
import type { ResourceState } from '../../store/types.js';
import type { OrchestratorClient } from '../../orchestrator/client.js';
import type { Invocation, Result } from '../context.js';
import type * as WorkflowHandlers from './workflows.js';
import { renderPlan } from '../plan-view.js';
import { Progress } from '../progress.js';
import { durationFlag } from '../flag-values.js';
import { colors } from '../output.js';

const PAST: Record<string, string> = { create: 'created', delete: 'deleted', update: 'updated', noop: 'checked', rollback: 'rolled back' };

function parallelFlag(inv: Invocation, fallback: number): number {
  const raw = inv.flags.parallel as string | undefined;
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new ProvError('INVALID_ARGUMENT', `--parallel expects a whole number from 1 to 100; got '${raw}'`);
  return n;
}

export const human = (inv: Invocation): boolean => inv.out === 'table' || inv.out === 'text';
const useColor = (inv: Invocation, tty: boolean) => tty && !inv.io.env.NO_COLOR && inv.globals.color !== false;

export const addressText = (a: Observed['addresses'] | ResourceState['addresses'] | undefined): string =>
  [...(a?.public_ipv4 ?? []), ...(a?.private ?? []).map((p) => p.ip)].filter(Boolean)[0] ?? '';

/** The progress line a change belongs to: one per server. */
const lineOf = (c: PlanChange): string => (c.resource_type === 'server' ? c.name : c.server ?? `${c.resource_type} ${c.name}`);
const label = (c: { resource_type?: string; name: string; server?: string }): string => (c.server ? `${c.name} on ${c.server}` : c.name);

/** Hold the infra's run lock (waiting up to --lock-timeout) around `fn`. */
async function locked<T>(inv: Invocation, run: RunHandles, d: DesiredState, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const release = await acquireRunLock(run.store, infraScope(d.workspace.name, d.infra), {
    command: inv.spec.command, waitMs,
    onWait: (held) => inv.info(`waiting for the lock of infra ${d.infra}: held by ${describeLock(held)}`),
    onTakeover: (stale) => inv.warn(`took over a stale lock of infra ${d.infra} (${describeLock(stale)})`),
  });
  try {
    return await fn();
  } finally {
    await release();
  }
}

export async function applyCommand(inv: Invocation, cfg: Config, d: DesiredState, plan: Plan): Promise<Result> {
  // flag values first: a usage error must not wait for a lock or a provider
  const parallel = parallelFlag(inv, d.parallelLimit);
  const lockWaitMs = durationFlag(inv, 'lock-timeout') ?? 0;
  const active = plan.changes.filter(isWork);
  const color = useColor(inv, inv.io.stdoutIsTTY);
  if (active.length === 0) {
    return { data: { plan, results: [] }, view: { kind: 'text', text: `${renderPlan(plan, color)}\nNo changes: nothing to do.\n` } };
  }
  const blocked = active.find((c) => c.blocked);
  if (blocked) {
    throw new ProvError('INVALID_ARGUMENT', `${blocked.resource_type} ${label(blocked)}: ${blocked.blocked}`, { hint: 'nothing was changed; `--check` shows the whole plan' });
  }
  if (human(inv) && !inv.globals.quiet) inv.io.stdout.write(renderPlan(plan, color) + '\n');
  const creates = active.some((c) => c.action === 'create' || c.action === 'update');
  if (inv.spec.side_effect === 'delete' || inv.spec.confirm || (creates && cfg.get('preferences.confirm_deploy') === true)) {
    const deletes = active.filter((c) => c.action === 'delete').length;
    await inv.confirm(`${active.length} change(s) in infra ${d.infra}${deletes ? `, ${deletes} deletion(s)` : ''}.`);
  }
  // power changes are not workflow operations; everything else goes to a reachable orchestrator (execution.mode)
  if (!['server start', 'server stop', 'server restart'].includes(plan.command)) {
    const wf = await import('./workflows.js');
    const mode = await wf.executionMode(inv, cfg);
    if (mode.kind === 'orchestrated') return submitPlan(inv, cfg, plan, active, parallel, mode.client, wf);
  }
  const run = openRun(cfg, d, inv.io.env);
  const rec = await recorder(inv, cfg, plan, active, parallel);
  const progress = new Progress(inv.io.stderr, { tty: inv.io.stderrIsTTY, color: useColor(inv, inv.io.stderrIsTTY), quiet: inv.globals.quiet || !human(inv) });
  const abort = new AbortController();
  const onSigint = () => { inv.warn('interrupted: letting running steps stop; records say what exists'); abort.abort(new ProvError('INTERRUPTED', 'interrupted')); };
  process.once('SIGINT', onSigint);
  let result: ApplyResult;
  try {
    result = await locked(inv, run, d, lockWaitMs, async () => {
      const servers = active.flatMap((c) => (c.resource_type === 'server' && c.action === 'create' ? d.servers.filter((s) => s.hostname === c.name) : []));
      const providers = active.filter((c) => c.resource_type === 'server').map((c) => c.provider).filter((p): p is string => Boolean(p));
      for (const w of await run.providers.preflight(providers, servers, { workspace: d.workspace.name, infra: d.infra })) inv.warn(w);
      const keys = servers.length ? loginKeys(cfg, run.ssh, d.workspace.name) : [];
      return applyPlan(plan, {
        desired: d, store: run.store, providers: run.providers, transports: run.transports, command: inv.spec.command,
        publicKeys: keys, waitReachable: inv.globals.wait, progress: (name, m) => progress.update(name, m),
      }, {
        parallel, signal: abort.signal, keepStorage: inv.flags['keep-storage'] === true, cleanupData: inv.flags['cleanup-data'] === true, force: inv.flags.force === true,
        onStart: (c) => { rec?.start(c).catch(() => undefined); progress.start(lineOf(c), `${c.resource_type === 'server' ? '' : `${c.name}: `}${c.action} …`); },
        onEnd: (c, o, note) => { rec?.end(c, o, note).catch(() => undefined); progress.end(lineOf(c), o.status, `${c.resource_type === 'server' ? '' : `${c.name}: `}${o.status === 'done' ? `${note ?? PAST[c.action] ?? c.action} (${(o.ms / 1000).toFixed(1)}s)` : o.status === 'failed' ? `failed: ${o.error.message}` : `skipped: ${o.reason}`}`); },
      });
    });
  } finally {
    progress.stop();
    process.removeListener('SIGINT', onSigint);
    await run.close();
    await rec?.finish().catch(() => undefined);
    await rec?.store.close();
  }
  return outcome(inv, plan, result, rec?.workflowId);
}

/**
 * Orchestrated (cli.md §6.4): the plan's changes become a workflow submitted to the orchestrator,
 * whose engine plans and applies each one; prints the id, or follows it with --wait.
 */
async function submitPlan(inv: Invocation, cfg: Config, plan: Plan, active: PlanChange[], parallel: number, client: OrchestratorClient, wf: typeof WorkflowHandlers): Promise<Result> {
  const [{ planAsWorkflow }, { openWorkflowStore }] = await Promise.all([import('../../engine/record.js'), import('../../engine/host.js')]);
  const submitted = await client.submitBatch(planAsWorkflow(plan, active, parallel) as never, {});
  inv.info(`submitted ${submitted.id} (${plan.command}) to the orchestrator at ${client.url}`);
  if (!(inv.globals.wait || cfg.get('execution.wait') === true)) return wf.accepted(submitted);
  const store = await openWorkflowStore(cfg);
  try {
    return await wf.watch(inv, store, submitted.id, wf.waitTimeout(inv, cfg));
  } finally {
    await store.close();
  }
}

/**
 * The run as a workflow in the workflow store (engine/record.ts), so `workflow list` shows it. A
 * store that cannot be opened does not stop the run: the resource records are written anyway.
 */
async function recorder(inv: Invocation, cfg: Config, plan: Plan, active: PlanChange[], parallel: number) {
  try {
    const [{ openWorkflowStore }, { recordPlanRun }] = await Promise.all([import('../../engine/host.js'), import('../../engine/record.js')]);
    const store = await openWorkflowStore(cfg);
    try {
      return Object.assign(await recordPlanRun(store, plan, active, { submitted_by: `local:${userInfo().username}`, parallel }), { store });
    } catch (e) {
      await store.close();
      throw e;
    }
  } catch (e) {
    inv.warn(`this run is not recorded as a workflow: ${asProvError(e).message}`);
    return undefined;
  }
}

function failureLines(x: ChangeResult, c: ReturnType<typeof colors>): string[] {
  const e = x.error!;
  const d = e.details ?? {};
  const out = [`${c.red('✗')} ${label(x)}: ${x.action} failed: ${e.message}`];
  if (typeof d.step === 'string') out.push(`    step: ${d.step}${d.exit_code !== undefined ? ` · exit code ${String(d.exit_code)}` : ''}`, `    command: ${String(d.command)}`);
  const tail = Array.isArray(d.output_tail) ? (d.output_tail as string[]) : [];
  if (tail.length) out.push('    last output:', ...tail.map((l) => `      ${c.dim(l)}`));
  if (e.hint) out.push(`    try: ${e.hint}`);
  return out;
}

function outcome(inv: Invocation, plan: Plan, r: ApplyResult, workflowId?: string): Result {
  const c = colors(useColor(inv, inv.io.stdoutIsTTY));
  const lines: string[] = [];
  for (const x of r.results) {
    const where = x.observed ? ` ${c.dim(`${x.observed.provider_id.slice(0, 12)} ${x.observed.status}${addressText(x.observed.addresses) ? ` ${addressText(x.observed.addresses)}` : ''}`)}` : '';
    if (x.status === 'done') lines.push(`${c.green('✓')} ${label(x)}: ${x.note ?? PAST[x.action] ?? x.action}${where}`);
    else if (x.status === 'failed') lines.push(...failureLines(x, c));
    else lines.push(`${c.dim('-')} ${label(x)}: skipped (${x.reason})`);
  }
  const verb = plan.command.split(' ')[1];
  lines.push('', r.failed || r.skipped
    ? c.red(`${verb}: ${r.done} of ${r.results.length} done, ${r.failed} failed, ${r.skipped} skipped. The state records what exists; run the command again to finish.`)
    : c.bold(`${verb}: ${r.done} of ${r.results.length} done.`));
  const codes = [...new Set(r.results.filter((x) => x.error).map((x) => x.error!.code))];
  const exitCode = r.failed + r.skipped === 0 ? 0 : codes.length === 1 ? exitCodeFor(codes[0]!) : 1;
  return { data: { plan, ...r, ...(workflowId ? { workflow_id: workflowId } : {}) }, view: { kind: 'text', text: lines.join('\n') + '\n' }, exitCode };
}
