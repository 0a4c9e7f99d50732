/**
 * `batch …`, `workflow …` and `validate workflow` (spec/cli.md §17, §18): workflow files are
 * loaded like infra definitions (TS, TOML, YAML, JSON; problems with file:line), turned into
 * rows by engine/host.ts, and run either in this process (an `Engine` working only on this
 * workflow) or on the orchestrator (execution.mode, --direct/--orchestrated). Both write the
 * same store, so the read commands read the store directly; cancel/rollback/resume go through
 * the orchestrator when one answers, so its engine reacts at once. docs/workflows.md is the
 * user's guide.
 */
import { resolve, relative } from 'node:path';
import { userInfo } from 'node:os';
import { createLogUpdate } from 'log-update';
import type { Config } from '../../config/index.js';
import { parseDuration } from '../../config/schema.js';
import { WorkflowControl } from '../../engine/control.js';
import { engineOptions, openWorkflowStore, prepareWorkflow, workflowDefaults } from '../../engine/host.js';
import { createOperationRunner } from '../../engine/operations.js';
import { Engine } from '../../engine/worker.js';
import { EXIT, ProvError, asProvError } from '../../errors/index.js';
import { assertValid, loadDefinition, validateWorkflow } from '../../model/index.js';
import { OrchestratorClient, type WireWorkflow } from '../../orchestrator/client.js';
import type { WorkflowStore } from '../../store/workflows.js';
import { waves } from '../../workflow/spec.js';
import { FINAL, type Event, type LogEntry, type OperationRow, type Status, type TaskError, type WorkflowFilter, type WorkflowKind, type WorkflowRow } from '../../workflow/types.js';
import type { Invocation, Result } from '../context.js';
import { durationFlag } from '../flag-values.js';
import { colors } from '../output.js';
import { human } from './apply.js';

// ── shared ─────────────────────────────────────────────────────────────────────

const actor = () => `local:${userInfo().username}`;
const useColor = (inv: Invocation, tty: boolean) => tty && !inv.io.env.NO_COLOR && inv.globals.color !== false;
const workspaceOf = (cfg: Config) => cfg.target.workspace!;
/** `batch …` commands act on batch workflows only (the API's /batches answers 404 for other kinds). */
const kindOf = (inv: Invocation): WorkflowKind | undefined => (inv.spec.command.startsWith('batch ') ? 'batch' : undefined);
const configMs = (cfg: Config, key: string) => parseDuration(cfg.get(key))!;

async function withStore<T>(inv: Invocation, fn: (store: WorkflowStore, cfg: Config) => Promise<T>): Promise<T> {
  const cfg = await inv.config({ requireWorkspace: true });
  const store = await openWorkflowStore(cfg);
  try {
    return await fn(store, cfg);
  } finally {
    await store.close();
  }
}

async function getWorkflow(inv: Invocation, store: WorkflowStore, id: string): Promise<WorkflowRow> {
  const w = await store.getWorkflow(id);
  const kind = kindOf(inv);
  if (!w || (kind && w.kind !== kind)) {
    throw new ProvError('NOT_FOUND', `no ${kind ?? 'workflow'} ${id}`, { details: { resource_type: kind ?? 'workflow', id }, hint: `\`provisioning ${kind ?? 'workflow'} list\` shows the recorded ones` });
  }
  return w;
}

function intFlag(inv: Invocation, name: string, min: number, max: number): number | undefined {
  const raw = inv.flags[name] as string | undefined;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ProvError('INVALID_ARGUMENT', `--${name} expects a whole number from ${min} to ${max}; got '${raw}'`);
  return n;
}

/** `--from 7d` (that long ago) or an ISO-8601 timestamp, as ISO. */
function timeFlag(inv: Invocation, name: string): string | undefined {
  const raw = inv.flags[name] as string | undefined;
  if (raw === undefined) return undefined;
  const ms = parseDuration(raw);
  if (ms !== undefined) return new Date(Date.now() - ms).toISOString();
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new ProvError('INVALID_ARGUMENT', `--${name} expects a duration (7d, 24h) or an ISO-8601 timestamp; got '${raw}'`);
  return new Date(t).toISOString();
}

function statusFlag(inv: Invocation): Status[] | undefined {
  const raw = inv.flags.status as string | undefined;
  if (raw === undefined) return undefined;
  const all: Status[] = ['pending', 'queued', 'running', 'cancelling', 'completed', 'failed', 'cancelled', 'skipped', 'rolling_back', 'rolled_back', 'rollback_failed'];
  const list = raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const s of list) if (!all.includes(s as Status)) throw new ProvError('INVALID_ARGUMENT', `--status: unknown status '${s}'`, { hint: `one of ${all.join(', ')}` });
  return list as Status[];
}

const secs = (ms: number | null | undefined) => (ms === null || ms === undefined ? '' : ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`);
const durationOf = (x: { duration_ms: number | null; started_at: string | null }) => x.duration_ms ?? (x.started_at ? Date.now() - Date.parse(x.started_at) : null);
const errText = (e: TaskError | null) => (e ? `${e.code}: ${e.message}` : '');

/** Exit code from a final status (cli.md §6.4, §9): completed 0; cancelled by our Ctrl-C 130; anything else 1. */
const exitOf = (s: Status, interrupted = false) => (s === 'completed' ? EXIT.OK : s === 'cancelled' && interrupted ? EXIT.INTERRUPTED : EXIT.FAILED);

// ── execution mode ─────────────────────────────────────────────────────────────

type Mode = { kind: 'direct' } | { kind: 'orchestrated'; client: OrchestratorClient };

/**
 * execution.mode (--direct / --orchestrated set it): `direct` runs here; `orchestrated` needs the
 * service (UNAVAILABLE, exit 9, unless execution.auto_start_orchestrator); `auto` uses it when
 * its health check answers within execution.probe_timeout.
 */
export async function executionMode(inv: Invocation, cfg: Config): Promise<Mode> {
  const mode = String(cfg.get('execution.mode'));
  if (mode === 'direct') return { kind: 'direct' };
  const client = new OrchestratorClient(String(cfg.get('orchestrator.url')), { ...(inv.io.env.PROVISIONING_AUTH_TOKEN ? { token: inv.io.env.PROVISIONING_AUTH_TOKEN } : {}) });
  const health = await client.probe(configMs(cfg, 'execution.probe_timeout'));
  const ws = cfg.target.workspace?.name;
  if (health && health.workspace && ws && health.workspace !== ws) {
    // an orchestrator of another workspace would run the work against that workspace's definitions
    if (mode === 'orchestrated') throw new ProvError('UNAVAILABLE', `the orchestrator at ${client.url} serves workspace '${health.workspace}', not '${ws}'`, { hint: 'set orchestrator.port (or orchestrator.url) per workspace, or pass --direct', details: { url: client.url } });
    inv.info(`the orchestrator at ${client.url} serves workspace '${health.workspace}': running in this process`);
    return { kind: 'direct' };
  }
  if (health) return { kind: 'orchestrated', client };
  if (mode === 'orchestrated') {
    if (cfg.get('execution.auto_start_orchestrator') === true) {
      const { startDetached } = await import('./orchestrator.js');
      inv.info(`no orchestrator at ${client.url}: starting one (execution.auto_start_orchestrator)`);
      await startDetached(inv, cfg);
      return { kind: 'orchestrated', client };
    }
    throw new ProvError('UNAVAILABLE', `the orchestrator at ${client.url} does not answer and execution.mode is orchestrated`, {
      hint: 'start it with `provisioning orchestrator start`, or pass --direct to run in this process', details: { url: client.url },
    });
  }
  inv.info(`no orchestrator at ${client.url}: running in this process`);
  return { kind: 'direct' };
}

// ── following a workflow through the store ─────────────────────────────────────

/**
 * Feed the workflow's events (from `afterSeq`) to `onEvents` until it is final and every event
 * was seen; resolves with the final row. The store notifies appends (this process, PostgreSQL
 * NOTIFY, SQLite polling); a slow poll covers the rest. `stop` ends it early (undefined).
 */
async function follow(store: WorkflowStore, id: string, onEvents: (evs: Event[]) => Promise<void> | void, o: { afterSeq?: number; stop?: AbortSignal } = {}): Promise<WorkflowRow | undefined> {
  let seq = o.afterSeq ?? 0;
  let kick: (() => void) | undefined;
  const unsubscribe = store.onEvents(() => kick?.());
  const onStop = () => kick?.();
  o.stop?.addEventListener('abort', onStop);
  try {
    for (;;) {
      if (o.stop?.aborted) return undefined;
      const w = await store.getWorkflow(id);
      const evs = await store.events(seq, 500, [id]);
      if (evs.length) {
        seq = evs.at(-1)!.seq;
        await onEvents(evs);
        continue;
      }
      if (!w || FINAL.has(w.status)) return w;
      await new Promise<void>((res) => { const t = setTimeout(res, 500); kick = () => { clearTimeout(t); kick = undefined; res(); }; });
    }
  } finally {
    unsubscribe();
    o.stop?.removeEventListener('abort', onStop);
  }
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Progress of one workflow on stderr (cli.md §6.3): on a terminal a row per running operation,
 * an overall bar and an ETA, redrawn in place; elsewhere (or with --out json|yaml) one
 * timestamped line per state change; nothing with --quiet. With `ndjson`, events go to stdout as
 * NDJSON instead.
 */
class RunView {
  private readonly draw?: ReturnType<typeof createLogUpdate>;
  private timer?: NodeJS.Timeout;
  private frame = 0;
  private ops: OperationRow[] = [];
  private w?: WorkflowRow;
  private readonly c;
  private readonly plain: boolean;

  constructor(private readonly inv: Invocation, private readonly store: WorkflowStore, private readonly id: string, private readonly o: { ndjson?: boolean } = {}) {
    this.c = colors(useColor(inv, inv.io.stderrIsTTY));
    const shown = !inv.globals.quiet && !o.ndjson;
    this.plain = shown && !(inv.io.stderrIsTTY && inv.io.stdoutIsTTY && human(inv));
    if (shown && !this.plain) {
      this.draw = createLogUpdate(inv.io.stderr as NodeJS.WriteStream, { showCursor: true });
      this.timer = setInterval(() => this.render(), 120);
      this.timer.unref();
    }
  }

  readonly onEvents = async (evs: Event[]): Promise<void> => {
    for (const e of evs) {
      if (this.o.ndjson) this.inv.io.stdout.write(JSON.stringify(e) + '\n');
      else if (this.plain) this.line(e);
    }
    if (this.draw) {
      this.w = await this.store.getWorkflow(this.id);
      this.ops = await this.store.getOperations(this.id);
      this.render();
    }
  };

  private line(e: Event): void {
    const d = e.data as { status?: string; previous_status?: string | null; operation_id?: string; attempt?: number; error?: TaskError; name?: string };
    let text: string | undefined;
    if (e.event_type === 'WorkflowStatusChanged') text = `workflow ${d.name ?? this.id}: ${d.previous_status ? `${d.previous_status} → ` : ''}${d.status}${d.error && FINAL.has(d.status as Status) ? `: ${d.error.message}` : ''}`;
    else if (e.event_type === 'OperationStatusChanged') text = `  ${d.operation_id}: ${d.previous_status} → ${d.status}${d.error ? `: ${d.error.message}` : ''}`;
    else if (e.event_type === 'TaskStatusChanged' && d.status === 'running' && (d.attempt ?? 1) > 1) text = `  ${d.operation_id}: attempt ${d.attempt}`;
    if (text) this.inv.io.stderr.write(`${e.timestamp}  ${text}\n`);
  }

  private render(): void {
    if (!this.draw || !this.w) return;
    this.frame = (this.frame + 1) % FRAMES.length;
    const w = this.w;
    const active = this.ops.filter((o) => o.status === 'running' || o.status === 'rolling_back');
    const width = Math.max(4, ...active.map((o) => o.id.length));
    const rows = active.map((o) => `${this.c.cyan(FRAMES[this.frame]!)} ${o.id.padEnd(width)}  ${this.c.dim(secs(durationOf(o)).padStart(6))}  ${o.status === 'rolling_back' ? 'undoing' : `${o.type.replace('_', ' ')}${o.attempt > 1 ? ` (attempt ${o.attempt})` : ''}`}`);
    const done = this.ops.filter((o) => FINAL.has(o.status)).length;
    const barW = 24;
    const filled = Math.round((w.progress / 100) * barW);
    const elapsed = w.started_at ? Date.now() - Date.parse(w.started_at) : 0;
    const eta = w.progress > 0 && w.progress < 100 && !FINAL.has(w.status) ? ` · ETA ${secs((elapsed * (100 - w.progress)) / w.progress)}` : '';
    rows.push(`${this.c.green('█'.repeat(filled))}${this.c.dim('░'.repeat(barW - filled))} ${String(Math.round(w.progress)).padStart(3)}%  ${done}/${this.ops.length} operations · ${w.status} · ${secs(elapsed)}${eta}`);
    this.draw(rows.join('\n'));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.draw) { this.render(); this.draw.done(); }
  }
}

// ── outcome ────────────────────────────────────────────────────────────────────

function operationRecord(o: OperationRow) {
  return { id: o.id, type: o.type, status: o.status, attempt: o.attempt, duration_s: o.duration_ms === null ? null : o.duration_ms / 1000, error: o.error };
}

/** The summary of a final (or current) workflow: JSON summary, human table and failure detail. */
function summaryResult(inv: Invocation, w: WorkflowRow, ops: OperationRow[], interrupted = false): Result {
  const c = colors(useColor(inv, inv.io.stdoutIsTTY));
  const data = { workflow_id: w.id, name: w.name, status: w.status, execution: w.execution, duration_s: w.duration_ms === null ? null : w.duration_ms / 1000, operations: ops.map(operationRecord), error: w.error, last_checkpoint_id: w.last_checkpoint_id };
  const lines = ops.map((o) => `${o.status === 'completed' ? c.green('✓') : o.status === 'failed' || o.status === 'rollback_failed' ? c.red('✗') : o.status === 'rolled_back' ? c.yellow('↺') : c.dim('-')} ${o.id}  ${c.dim(o.status)}${o.duration_ms !== null ? c.dim(` ${secs(o.duration_ms)}`) : ''}`);
  for (const o of ops.filter((x) => x.error && (x.status === 'failed' || x.status === 'rollback_failed'))) lines.push('', ...failureLines(o, c));
  const verb = w.status === 'completed' ? c.bold(`workflow ${w.name} (${w.id}) completed in ${secs(w.duration_ms)}`)
    : c.red(`workflow ${w.name} (${w.id}) ${w.status.replace('_', ' ')}${w.error ? `: ${w.error.message.replace(/^cancelled: /, '')}` : ''}`);
  lines.push('', verb);
  if (w.status === 'failed' || w.status === 'cancelled' || w.status === 'rollback_failed') lines.push(`  try: provisioning workflow resume ${w.id}   (or workflow rollback ${w.id})`);
  return { data, view: { kind: 'text', text: lines.join('\n') + '\n' }, exitCode: exitOf(w.status, interrupted) };
}

function failureLines(o: OperationRow, c: ReturnType<typeof colors>): string[] {
  const e = o.error!;
  const out = [`${c.red('✗')} ${o.id} ${o.status === 'rollback_failed' ? 'compensation ' : ''}failed: ${e.message}`];
  if (e.server) out.push(`    server:  ${e.server}${e.step ? ` · step ${e.step}` : ''}`);
  if (e.command) out.push(`    command: ${e.command}${e.exit_code !== undefined ? `   (exit ${e.exit_code})` : ''}`);
  const tail = (e.output_tail?.length ? e.output_tail : o.output_tail).slice(-20);
  if (tail.length) out.push('    output:', ...tail.map((l) => `      ${c.dim(l)}`));
  out.push(`    try:     ${e.hint ?? `provisioning workflow logs ${o.workflow_id} --step ${o.id}`}`);
  return out;
}

/**
 * Run a workflow in this process until it is final: an engine working only on it, progress on
 * stderr. Ctrl-C cancels (stop scheduling, abort running steps, mark cancelled; no rollback, so
 * `workflow resume` continues it) and exits 130; a second Ctrl-C exits at once.
 */
async function runHere(inv: Invocation, cfg: Config, store: WorkflowStore, id: string, afterSeq: number): Promise<Result> {
  const ws = workspaceOf(cfg);
  const control = new WorkflowControl(store, actor());
  const { cliVersion } = await import('../main.js');
  const engine = new Engine(store, createOperationRunner({ workspacePath: ws.path, env: inv.io.env }), engineOptions(cfg, { only: [id], version: cliVersion() }));
  const view = new RunView(inv, store, id);
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(EXIT.INTERRUPTED);
    interrupted = true;
    inv.warn('interrupted: cancelling the workflow (running steps are stopped); Ctrl-C again to exit at once');
    control.cancel(id, { rollback: false, reason: 'interrupted (Ctrl-C)' }).catch((e: unknown) => { if (asProvError(e).code !== 'INVALID_STATE') inv.warn(asProvError(e).message); })
      .finally(() => { engine.abortWorkflow(id); engine.wake(); });
  };
  process.on('SIGINT', onSigint);
  const stopFollowing = new AbortController();
  const watching = follow(store, id, view.onEvents, { afterSeq, stop: stopFollowing.signal });
  try {
    await engine.start();
    await engine.done();
    await engine.stop();
    await watching;
  } finally {
    stopFollowing.abort();
    view.stop();
    process.removeListener('SIGINT', onSigint);
  }
  return summaryResult(inv, (await store.getWorkflow(id))!, await store.getOperations(id), interrupted);
}

/**
 * Follow a workflow another engine runs until it is final (--wait, `monitor`): exit code from
 * its outcome; WAIT_TIMEOUT (exit 8) after `timeoutMs`; Ctrl-C only detaches.
 */
export async function watch(inv: Invocation, store: WorkflowStore, id: string, timeoutMs: number | undefined, o: { ndjson?: boolean; afterSeq?: number } = {}): Promise<Result> {
  const view = new RunView(inv, store, id, o);
  const stop = new AbortController();
  let why: 'timeout' | 'detached' | undefined;
  const timer = timeoutMs ? setTimeout(() => { why = 'timeout'; stop.abort(); }, timeoutMs) : undefined;
  const onSigint = () => { why = 'detached'; stop.abort(); };
  process.once('SIGINT', onSigint);
  let w: WorkflowRow | undefined;
  try {
    w = await follow(store, id, view.onEvents, { ...(o.afterSeq !== undefined ? { afterSeq: o.afterSeq } : {}), stop: stop.signal });
  } finally {
    clearTimeout(timer);
    process.removeListener('SIGINT', onSigint);
    view.stop();
  }
  if (why === 'timeout') {
    throw new ProvError('WAIT_TIMEOUT', `workflow ${id} is still running after ${secs(timeoutMs!)}; it keeps running`, { hint: `follow it with \`provisioning workflow monitor ${id}\``, details: { workflow_id: id } });
  }
  if (why === 'detached' || !w) {
    inv.info(`detached; workflow ${id} keeps running — follow it with \`provisioning workflow monitor ${id}\``);
    return { data: { workflow_id: id, detached: true }, view: { kind: 'text', text: '' }, exitCode: EXIT.INTERRUPTED };
  }
  const res = summaryResult(inv, w, await store.getOperations(id));
  // after the NDJSON events, the summary is the last object (the dispatcher prints it)
  return o.ndjson ? { ...res, data: { type: 'summary', ...(res.data as object) }, ndjson: true } : res;
}

/** --timeout, else execution.wait_timeout; 0 = none. */
export function waitTimeout(inv: Invocation, cfg: Config): number | undefined {
  const ms = durationFlag(inv, 'timeout') ?? configMs(cfg, 'execution.wait_timeout');
  return ms > 0 ? ms : undefined;
}

// ── load, validate, submit ─────────────────────────────────────────────────────

interface Prepared {
  shown: string;
  spec: Awaited<ReturnType<typeof prepareWorkflow>>['spec'];
  workflow: WorkflowRow;
  operations: OperationRow[];
}

/** Load and validate a workflow file (DEFINITION_INVALID with file:line), then build its rows. Writes nothing. */
async function prepare(inv: Invocation, cfg: Config, overrides: { parallel_limit?: number; rollback_enabled?: boolean; priority?: number } = {}): Promise<Prepared> {
  const ws = workspaceOf(cfg);
  const file = resolve(inv.io.cwd, String(inv.args.file));
  const rel = relative(ws.path, file);
  const shown = rel.startsWith('..') ? file : rel;
  const def = await loadDefinition(file, { kind: 'workflow', displayPath: shown, env: inv.io.env, context: { workspace: ws.name, infra: cfg.target.infra ?? '', environment: cfg.target.environment } });
  assertValid(validateWorkflow(def.data, { file: shown, locate: def.locate }));
  const built = await prepareWorkflow(def.data, {
    workspace: ws.name, kind: 'batch', execution: 'direct', submitted_by: actor(), defaultInfra: cfg.target.infra ?? null, defaults: workflowDefaults(cfg),
    ...overrides, wsPath: ws.path, env: inv.io.env, file: shown,
  });
  return { shown, ...built };
}

/** The waves (cli.md §18): what can run together, each operation's edges, implicit ones marked. */
function planView(inv: Invocation, p: Prepared, check: boolean, plans: OperationPlan[] = []): Result {
  const w = p.workflow;
  const specs = p.operations.map((o) => o.spec);
  const groups = waves(specs, w.parallel_limit);
  const c = colors(useColor(inv, inv.io.stdoutIsTTY));
  const edges = specs.flatMap((s) => [
    ...s.depends_on.map((d) => ({ from: d, to: s.id, kind: 'hard' })), ...s.after.map((d) => ({ from: d, to: s.id, kind: 'soft' })), ...(s.implicit ?? []).map((d) => ({ from: d, to: s.id, kind: 'implicit' })),
  ]);
  const target = (o: OperationRow) => (o.spec.script ? o.spec.script.run : [o.spec.taskserv ?? o.spec.cluster, o.servers.length ? `on ${o.servers.join(',')}` : ''].filter(Boolean).join(' '));
  const data = {
    ...(check ? { check: true } : { valid: true }), file: p.shown, name: w.name, infra: w.infra, parallel_limit: w.parallel_limit, rollback_enabled: w.rollback_enabled, fail_fast: w.fail_fast,
    operations: p.operations.map((o) => ({ id: o.id, type: o.type, infra: o.infra || null, servers: o.servers, depends_on: o.spec.depends_on, after: o.spec.after, implicit: o.spec.implicit ?? [], retries: o.spec.retries, timeout_s: o.spec.timeout_ms / 1000, rollback: o.spec.rollback })),
    waves: groups, edges,
    ...(check ? { plans, estimated_cost: totalCost(plans) } : {}),
  };
  const lines = [check ? c.bold(`Check mode — nothing will be queued   workflow ${w.name} · ${p.shown}`) : `${c.green('✓')} ${p.shown}: workflow ${w.name} is valid`, ''];
  groups.forEach((g, i) => {
    lines.push(`  wave ${i + 1}`);
    for (const id of g) {
      const o = p.operations.find((x) => x.id === id)!;
      const deps = [...o.spec.depends_on, ...o.spec.after.map((d) => `${d} (after)`), ...(o.spec.implicit ?? []).map((d) => `${d} (implicit)`)];
      lines.push(`    ${id.padEnd(16)} ${o.type.padEnd(16)} ${target(o)}${deps.length ? c.dim(`  ← ${deps.join(', ')}`) : ''}`);
    }
  });
  if (plans.length) {
    lines.push('', '  each operation\'s plan against the recorded state now (operations planned after earlier ones of this workflow may find more done):');
    for (const x of plans) {
      const sum = x.summary ? Object.entries(x.summary).filter(([, n]) => n).map(([k, n]) => `${n} to ${k}`).join(', ') || 'no changes' : `not planned: ${x.error}`;
      lines.push(`    ${x.operation.padEnd(16)} ${sum}${x.estimated_cost ? c.dim(`  · est. ${x.estimated_cost.monthly.toFixed(2)} ${x.estimated_cost.currency}/month`) : ''}`);
    }
  }
  const cost = totalCost(plans);
  lines.push('', `${p.operations.length} operation(s) in ${groups.length} wave(s) · parallel_limit ${w.parallel_limit} · rollback ${w.rollback_enabled ? 'on' : 'off'}${w.fail_fast ? '' : ' · continue_on_error'}${cost ? ` · est. ${cost.monthly.toFixed(2)} ${cost.currency}/month` : ''}`);
  return { data, view: { kind: 'text', text: lines.join('\n') + '\n' } };
}

interface OperationPlan { operation: string; summary?: Record<string, number>; estimated_cost?: { currency: string; hourly: number; monthly: number } | null; error?: string }

/** cli.md §18 check mode: each server/taskserv/cluster operation's own plan, offline, against the recorded state. */
async function operationPlans(inv: Invocation, p: Prepared): Promise<OperationPlan[]> {
  const ops = p.operations.filter((o) => o.type !== 'script');
  if (!ops.length) return [];
  const [{ loadConfig }, { loadDesired }, planner, { readResources }, { operationPlan }] = await Promise.all([
    import('../../config/index.js'), import('../../infra/desired.js'), import('../../plan/plan.js'), import('../../store/sqlite/read.js'), import('../../engine/operations.js')]);
  const ws = workspaceOf(await inv.config({ requireWorkspace: true }));
  const loaded = new Map<string, Promise<{ d: Awaited<ReturnType<typeof loadDesired>>; records: ReturnType<typeof readResources> }>>();
  const infra = (name: string) => {
    let x = loaded.get(name);
    if (!x) {
      x = (async () => {
        const cfg = await loadConfig({ cwd: ws.path, env: inv.io.env, select: { workspace: ws.path, infra: name }, cli: { set: [], flags: [] }, requireWorkspace: true, requireInfra: true });
        const d = await loadDesired(cfg, { env: inv.io.env });
        return { d, records: readResources(ws.path, ws.name, name) };
      })();
      loaded.set(name, x);
    }
    return x;
  };
  return Promise.all(ops.map(async (o) => {
    try {
      const { d, records } = await infra(o.infra);
      const plan = operationPlan(o, d, records, planner);
      // a taskserv's plan also creates servers that do not exist yet: those belong to the workflow's server operations
      const kind = o.type.split('_')[0];
      const summary: Record<string, number> = { create: 0, update: 0, replace: 0, delete: 0 };
      for (const c of plan.changes) if (c.resource_type === kind && c.action !== 'noop') summary[c.action] = (summary[c.action] ?? 0) + 1;
      return { operation: o.id, summary, estimated_cost: kind === 'server' ? plan.estimated_cost : null };
    } catch (e) {
      return { operation: o.id, error: asProvError(e).message };
    }
  }));
}

function totalCost(plans: OperationPlan[]): { currency: string; hourly: number; monthly: number } | null {
  const costs = plans.map((x) => x.estimated_cost).filter((x): x is NonNullable<typeof x> => Boolean(x));
  if (!costs.length) return null;
  return { currency: costs[0]!.currency, hourly: costs.reduce((n, x) => n + x.hourly, 0), monthly: costs.reduce((n, x) => n + x.monthly, 0) };
}

export async function validate(inv: Invocation): Promise<Result> {
  const cfg = await inv.config({ requireWorkspace: true });
  return planView(inv, await prepare(inv, cfg), false);
}

export async function submit(inv: Invocation): Promise<Result> {
  const overrides = {
    ...(inv.flags['parallel-limit'] !== undefined ? { parallel_limit: intFlag(inv, 'parallel-limit', 1, 100)! } : {}),
    ...(inv.flags.rollback === false ? { rollback_enabled: false } : {}),
    ...(inv.flags.priority !== undefined ? { priority: intFlag(inv, 'priority', 0, 100)! } : {}),
  };
  const cfg = await inv.config({ requireWorkspace: true });
  const timeoutMs = waitTimeout(inv, cfg);
  const p = await prepare(inv, cfg, overrides);
  if (inv.globals.check) return planView(inv, p, true, await operationPlans(inv, p));
  const mode = await executionMode(inv, cfg);
  const store = await openWorkflowStore(cfg);
  try {
    if (mode.kind === 'orchestrated') {
      const body = { ...p.spec, ...(p.spec.infra || !p.workflow.infra ? {} : { infra: p.workflow.infra }), parallel_limit: p.workflow.parallel_limit, rollback_enabled: p.workflow.rollback_enabled };
      const wf = await mode.client.submitBatch(body, { priority: p.workflow.priority });
      inv.info(`submitted ${wf.id} to the orchestrator at ${mode.client.url}`);
      if (inv.globals.wait || cfg.get('execution.wait') === true) return await watch(inv, store, wf.id, timeoutMs);
      return accepted(wf);
    }
    const seq = (await store.eventBounds()).latest;
    await new WorkflowControl(store, actor()).submit(p.workflow, p.operations);
    inv.info(`running ${p.workflow.id} (${p.workflow.name}) in this process`);
    return await runHere(inv, cfg, store, p.workflow.id, seq);
  } finally {
    await store.close();
  }
}

export function accepted(wf: WireWorkflow): Result {
  return { data: { workflow_id: wf.id, status: wf.status }, view: { kind: 'text', text: `${wf.id} ${wf.status}\nfollow it: provisioning workflow monitor ${wf.id}\n` } };
}

// ── reads ──────────────────────────────────────────────────────────────────────

export async function list(inv: Invocation): Promise<Result> {
  const limit = intFlag(inv, 'limit', 1, 1000) ?? 20;
  const kind = kindOf(inv) ?? (inv.flags.type as string | undefined);
  const kinds: WorkflowKind[] = ['server', 'taskserv', 'cluster', 'batch', 'custom'];
  if (kind && !kinds.includes(kind as WorkflowKind)) throw new ProvError('INVALID_ARGUMENT', `--type: unknown workflow type '${kind}'`, { hint: `one of ${kinds.join(', ')}` });
  const filter: WorkflowFilter = { ...(statusFlag(inv) ? { status: statusFlag(inv)! } : {}), ...(kind ? { kind: [kind as WorkflowKind] } : {}), ...(timeFlag(inv, 'from') ? { from: timeFlag(inv, 'from')! } : {}), sort: 'created_at', order: 'desc' };
  return withStore(inv, async (store) => {
    const { rows, total } = await store.listWorkflows(filter, { limit, offset: 0 });
    const data = rows.map((w) => ({ id: w.id, name: w.name, type: w.kind, status: w.status, progress: w.progress, created_at: w.created_at, started_at: w.started_at, duration_s: w.duration_ms === null ? null : w.duration_ms / 1000, origin: w.execution }));
    if (total > rows.length) inv.info(`showing ${rows.length} of ${total}; --limit shows more`);
    return { data, view: { kind: 'table', columns: ['id', 'name', 'type', 'status', 'progress', 'started', 'duration', 'origin'], rows: rows.map((w) => [w.id, w.name, w.kind, w.status, `${Math.round(w.progress)}%`, w.started_at ?? '', secs(durationOf(w)), w.execution]) } };
  });
}

export async function status(inv: Invocation): Promise<Result> {
  return withStore(inv, async (store) => {
    const w = await getWorkflow(inv, store, String(inv.args.id));
    const ops = await store.getOperations(w.id);
    const ckpt = w.last_checkpoint_id ? await store.getCheckpoint(w.last_checkpoint_id) : undefined;
    const data = {
      id: w.id, name: w.name, kind: w.kind, status: w.status, execution: w.execution, infra: w.infra, progress: w.progress, current_step: w.current_step,
      parallel_limit: w.parallel_limit, rollback_enabled: w.rollback_enabled, submitted_by: w.submitted_by, created_at: w.created_at, started_at: w.started_at, completed_at: w.completed_at,
      duration_s: w.duration_ms === null ? null : w.duration_ms / 1000, error: w.error,
      last_checkpoint: ckpt ? { id: ckpt.id, seq: ckpt.seq, trigger: ckpt.trigger, created_at: ckpt.created_at, completed_operations: ckpt.completed_operations } : null,
      operations: ops.map(operationRecord),
    };
    const c = colors(useColor(inv, inv.io.stdoutIsTTY));
    const kv: [string, unknown][] = [['id', w.id], ['name', w.name], ['type', w.kind], ['status', w.status], ['origin', w.execution], ['progress', `${Math.round(w.progress)}%`],
      ['current step', w.current_step ?? ''], ['started', w.started_at ?? ''], ['duration', secs(durationOf(w))],
      ['last checkpoint', ckpt ? `#${ckpt.seq} ${ckpt.trigger} at ${ckpt.created_at} (${ckpt.completed_operations.length} completed)` : '(none)'], ['error', errText(w.error)]];
    const kw = Math.max(...kv.map(([k]) => k.length));
    const table = [['ID', 'TYPE', 'STATUS', 'ATTEMPT', 'DURATION', 'ERROR'], ...ops.map((o) => [o.id, o.type, o.status, String(o.attempt), secs(durationOf(o)), errText(o.error)])];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
    const text = [...kv.map(([k, v]) => `${c.bold(k.padEnd(kw))}  ${String(v)}`), '', ...table.map((r, i) => { const l = r.map((x, j) => x.padEnd(widths[j]!)).join('  ').trimEnd(); return i === 0 ? c.bold(l) : l; })].join('\n') + '\n';
    return { data, view: { kind: 'text', text } };
  });
}

export async function monitor(inv: Invocation): Promise<Result> {
  return withStore(inv, async (store, cfg) => {
    const w = await getWorkflow(inv, store, String(inv.args.id));
    return watch(inv, store, w.id, waitTimeout(inv, cfg), { ndjson: inv.out === 'json' });
  });
}

const logLine = (l: LogEntry) => `${l.timestamp}  ${l.operation_id ?? '-'}${l.server ? `@${l.server}` : ''}  ${l.level === 'info' ? '' : `${l.level.toUpperCase()} `}${l.message}`;

export async function logs(inv: Invocation): Promise<Result> {
  return withStore(inv, async (store) => {
    const w = await getWorkflow(inv, store, String(inv.args.id));
    const step = inv.flags.step as string | undefined;
    if (step) {
      const ops = await store.getOperations(w.id);
      if (!ops.some((o) => o.id === step)) throw new ProvError('NOT_FOUND', `workflow ${w.id} has no operation '${step}'`, { hint: `operations: ${ops.map((o) => o.id).join(', ')}` });
    }
    let after = 0;
    const page = async () => {
      const out: LogEntry[] = [];
      for (;;) {
        const got = await store.logs({ workflow_id: w.id, ...(step ? { operation_id: step } : {}), after_seq: after, limit: 1000 });
        out.push(...got);
        if (got.length) after = got.at(-1)!.seq;
        if (got.length < 1000) return out;
      }
    };
    const json = inv.out === 'json' || inv.out === 'yaml';
    if (!inv.flags.follow) {
      const entries = await page();
      return { data: entries, view: { kind: 'text', text: entries.map(logLine).join('\n') } };
    }
    const emit = (es: LogEntry[]) => { for (const e of es) inv.io.stdout.write(json ? JSON.stringify(e) + '\n' : logLine(e) + '\n'); };
    emit(await page());
    const stop = new AbortController();
    const onSigint = () => stop.abort();
    process.once('SIGINT', onSigint);
    try {
      await follow(store, w.id, async () => emit(await page()), { afterSeq: (await store.eventBounds()).latest, stop: stop.signal });
      emit(await page());
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
    return { data: undefined, view: { kind: 'text', text: '' } };
  });
}

export async function stats(inv: Invocation): Promise<Result> {
  const from = timeFlag(inv, 'from');
  const kind = kindOf(inv);
  return withStore(inv, async (store) => {
    const rows: WorkflowRow[] = [];
    for (let offset = 0; ; offset += 1000) {
      const got = await store.listWorkflows({ ...(from ? { from } : {}), ...(kind ? { kind: [kind] } : {}) }, { limit: 1000, offset });
      rows.push(...got.rows);
      if (got.rows.length < 1000) break;
    }
    const count = (key: (w: WorkflowRow) => string) => rows.reduce<Record<string, number>>((m, w) => ({ ...m, [key(w)]: (m[key(w)] ?? 0) + 1 }), {});
    const finished = rows.filter((w) => FINAL.has(w.status));
    const timed = finished.filter((w) => w.duration_ms !== null);
    const rb = rows.filter((w) => w.rollback_id);
    const data = {
      total: rows.length, by_status: count((w) => w.status), by_type: count((w) => w.kind),
      success_rate: finished.length ? Math.round((finished.filter((w) => w.status === 'completed').length / finished.length) * 1000) / 1000 : null,
      avg_duration_s: timed.length ? Math.round(timed.reduce((s, w) => s + w.duration_ms!, 0) / timed.length) / 1000 : null,
      rollbacks: { total: rb.length, succeeded: rb.filter((w) => w.status === 'rolled_back').length },
      ...(from ? { from } : {}),
    };
    const kv: [string, unknown][] = [['total', data.total], ...Object.entries(data.by_status).map(([k, v]): [string, unknown] => [`status ${k}`, v]), ...Object.entries(data.by_type).map(([k, v]): [string, unknown] => [`type ${k}`, v]),
      ['success rate', data.success_rate === null ? '' : `${Math.round(data.success_rate * 1000) / 10}%`], ['average duration', data.avg_duration_s === null ? '' : `${data.avg_duration_s}s`], ['rollbacks', `${data.rollbacks.total} (${data.rollbacks.succeeded} succeeded)`]];
    return { data, view: { kind: 'kv', entries: kv } };
  });
}

export async function cleanup(inv: Invocation): Promise<Result> {
  const olderMs = durationFlag(inv, 'older-than') ?? 30 * 86_400_000;
  const statuses = statusFlag(inv) ?? ['completed'];
  const open = statuses.filter((s) => !FINAL.has(s));
  if (open.length) throw new ProvError('INVALID_ARGUMENT', `--status ${open.join(',')}: only finished runs can be deleted`, { hint: `finished statuses: ${[...FINAL].join(', ')}` });
  const before = new Date(Date.now() - olderMs).toISOString();
  return withStore(inv, async (store) => {
    const ids: string[] = [];
    for (let offset = 0; ; offset += 1000) {
      const got = await store.listWorkflows({ status: statuses, to: before }, { limit: 1000, offset });
      ids.push(...got.rows.filter((w) => (w.completed_at ?? w.created_at) < before).map((w) => w.id));
      if (got.rows.length < 1000) break;
    }
    const what = `${ids.length} ${statuses.join('/')} workflow record(s) finished before ${before}`;
    if (inv.globals.check || ids.length === 0) {
      return { data: { check: inv.globals.check, count: ids.length, statuses, before, workflow_ids: ids }, view: { kind: 'text', text: `${inv.globals.check ? 'would delete ' : 'nothing to delete: '}${what}\n` } };
    }
    await inv.confirm(`delete ${what} (with their operations, events, logs and checkpoints)?`);
    const n = await store.deleteWorkflows(ids);
    return { data: { deleted: n, statuses, before }, view: { kind: 'text', text: `deleted ${n} workflow record(s)\n` } };
  });
}

// ── cancel, rollback, resume ───────────────────────────────────────────────────

type Action = 'cancel' | 'rollback' | 'resume';

/** What an action would do, in order (the --check view and the confirmation). */
function preview(action: Action, w: WorkflowRow, ops: OperationRow[]): { lines: string[]; steps: { id: string; what: string }[] } {
  let steps: { id: string; what: string }[];
  if (action === 'cancel') {
    steps = ops.filter((o) => o.status === 'running' || o.status === 'rolling_back').map((o) => ({ id: o.id, what: 'stop (running)' }))
      .concat(ops.filter((o) => o.status === 'pending' || o.status === 'queued').map((o) => ({ id: o.id, what: 'not started: cancelled' })));
  } else if (action === 'rollback') {
    steps = ops.filter((o) => o.status === 'completed').sort((a, b) => (b.completed_order ?? 0) - (a.completed_order ?? 0))
      .map((o) => ({ id: o.id, what: !o.spec.rollback ? 'kept (rollback = false)' : o.type.endsWith('_delete') ? 'cannot be undone' : o.type === 'script' && !o.spec.script?.undo ? 'nothing to undo (no undo command)' : 'undo' }));
  } else {
    steps = w.status === 'rollback_failed' ? ops.filter((o) => o.rollback_status === 'failed').map((o) => ({ id: o.id, what: 'retry compensation' }))
      : ops.filter((o) => o.status !== 'completed').map((o) => ({ id: o.id, what: `run again (was ${o.status})` }));
  }
  return { steps, lines: steps.map((s, i) => `  ${String(i + 1).padStart(2)}. ${s.id.padEnd(16)} ${s.what}`) };
}

const ALLOWED: Record<Action, Status[]> = {
  cancel: ['pending', 'queued', 'running', 'cancelling', 'rolling_back'],
  rollback: ['failed', 'cancelled', 'rollback_failed'],
  resume: ['failed', 'cancelled', 'rollback_failed'],
};

async function act(inv: Invocation, action: Action): Promise<Result> {
  return withStore(inv, async (store, cfg) => {
    const w = await getWorkflow(inv, store, String(inv.args.id));
    const ops = await store.getOperations(w.id);
    const force = inv.flags.force === true;
    const allowed = action === 'rollback' && force ? [...ALLOWED.rollback, 'completed'] : ALLOWED[action];
    if (!allowed.includes(w.status)) {
      throw new ProvError('INVALID_STATE', `cannot ${action} workflow ${w.id}: it is ${w.status}`, {
        details: { status: w.status, allowed_from: allowed },
        hint: action === 'rollback' && w.status === 'completed' ? 'pass --force to roll back a completed workflow' : action === 'rollback' && !FINAL.has(w.status) ? `cancel it first: provisioning workflow cancel ${w.id}` : `\`provisioning workflow status ${w.id}\``,
      });
    }
    const ckpt = w.last_checkpoint_id ? await store.getCheckpoint(w.last_checkpoint_id) : undefined;
    const p = preview(action, w, ops);
    const head = action === 'resume' ? `resume ${w.id} (${w.name}) from ${ckpt ? `checkpoint #${ckpt.seq} (${ckpt.completed_operations.length} completed: ${ckpt.completed_operations.join(', ') || 'none'})` : 'the start'}`
      : `${action} ${w.id} (${w.name}), ${w.status}`;
    if (inv.globals.check) {
      return { data: { check: true, action, workflow_id: w.id, status: w.status, ...(action === 'resume' ? { checkpoint: ckpt ?? null } : {}), steps: p.steps }, view: { kind: 'text', text: `Check mode — nothing will be changed\n${head}:\n${p.lines.join('\n') || '  (no steps)'}\n` } };
    }
    if (action !== 'resume') {
      if (!inv.globals.quiet && human(inv)) inv.io.stderr.write(`${head}:\n${p.lines.join('\n') || '  (no steps)'}\n`);
      await inv.confirm(`${action} workflow ${w.id}?`);
    }
    const mode = await executionMode(inv, cfg);
    const seq = (await store.eventBounds()).latest;
    if (mode.kind === 'orchestrated') {
      const reason = inv.flags.reason as string | undefined;
      if (action === 'cancel') await mode.client.cancel(w.id, { rollback: false, ...(reason ? { reason } : {}) });
      else if (action === 'rollback') await mode.client.rollback(w.id, { ...(force ? { force } : {}), ...(reason ? { reason } : {}) });
      else await mode.client.resume(w.id);
      if (inv.globals.wait || cfg.get('execution.wait') === true) return succeeded(action, await watch(inv, store, w.id, waitTimeout(inv, cfg), { afterSeq: seq }));
      const now = (await store.getWorkflow(w.id))!;
      return { data: { workflow_id: w.id, status: now.status }, view: { kind: 'text', text: `${w.id} ${now.status}\nfollow it: provisioning workflow monitor ${w.id}\n` } };
    }
    const control = new WorkflowControl(store, actor());
    const reason = inv.flags.reason as string | undefined;
    if (action === 'cancel') await control.cancel(w.id, { rollback: false, ...(reason ? { reason } : {}) });
    else if (action === 'rollback') await control.rollback(w.id, { ...(force ? { force } : {}), ...(reason ? { reason } : {}) });
    else await control.resume(w.id);
    // nobody else may be running it (its engine died, or it ran in a CLI that ended): run it here to the end
    return succeeded(action, await runHere(inv, cfg, store, w.id, seq));
  });
}

/** A cancel that ends cancelled and a rollback that ends rolled back did what was asked: exit 0. */
function succeeded(action: Action, r: Result): Result {
  const s = (r.data as { status?: Status } | undefined)?.status;
  return (action === 'cancel' && s === 'cancelled') || (action === 'rollback' && s === 'rolled_back') ? { ...r, exitCode: EXIT.OK } : r;
}

export const cancel = (inv: Invocation) => act(inv, 'cancel');
export const rollback = (inv: Invocation) => act(inv, 'rollback');
export const resume = (inv: Invocation) => act(inv, 'resume');
