/**
 * `server create|delete|start|stop|restart` applied for real, and `server list|status|ssh`.
 * The plan comes from the pure planner (handlers/plan.ts); this module carries it out through
 * the engine (src/engine) under the infra's run lock, with a progress line per server.
 */
import { ProvError, asProvError, exitCodeFor } from '../../errors/index.js';
import type { Config } from '../../config/index.js';
import { loadDesired, type DesiredState } from '../../infra/desired.js';
import { applyPlan, type ApplyResult } from '../../engine/apply.js';
import { loginKeys, openRun, type RunHandles } from '../../engine/context.js';
import { scopeTags } from '../../engine/providers.js';
import { serverRecord } from '../../engine/servers.js';
import type { Plan } from '../../plan/plan.js';
import { systemTags, TAG, type Observed } from '../../providers/index.js';
import { acquireRunLock, describeLock, infraScope } from '../../store/lock.js';
import type { ResourceState } from '../../store/types.js';
import type { Invocation, Result } from '../context.js';
import { renderPlan } from '../plan-view.js';
import { Progress } from '../progress.js';
import { durationFlag } from '../flag-values.js';
import { colors } from '../output.js';

const PAST: Record<string, string> = { create: 'created', delete: 'deleted', update: 'updated' };

function parallelFlag(inv: Invocation, fallback: number): number {
  const raw = inv.flags.parallel as string | undefined;
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new ProvError('INVALID_ARGUMENT', `--parallel expects a whole number from 1 to 100; got '${raw}'`);
  return n;
}

const human = (inv: Invocation) => inv.out === 'table' || inv.out === 'text';
const useColor = (inv: Invocation, tty: boolean) => tty && !inv.io.env.NO_COLOR && inv.globals.color !== false;

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

export async function applyServers(inv: Invocation, cfg: Config, d: DesiredState, plan: Plan): Promise<Result> {
  // flag values first: a usage error must not wait for a lock or a provider
  const parallel = parallelFlag(inv, d.parallelLimit);
  const lockWaitMs = durationFlag(inv, 'lock-timeout') ?? 0;
  const active = plan.changes.filter((c) => c.action !== 'noop');
  const color = useColor(inv, inv.io.stdoutIsTTY);
  if (active.length === 0) {
    return { data: { plan, results: [] }, view: { kind: 'text', text: `${renderPlan(plan, color)}\nNo changes: nothing to do.\n` } };
  }
  const blocked = active.find((c) => c.blocked);
  if (blocked) {
    throw new ProvError('INVALID_ARGUMENT', `${blocked.resource_type} ${blocked.name}: ${blocked.blocked}`, { hint: 'nothing was changed; `--check` shows the whole plan' });
  }
  if (human(inv)) inv.io.stdout.write(renderPlan(plan, color) + '\n');
  const action = inv.spec.command.split(' ')[1]!;
  const deletes = active.filter((c) => c.action === 'delete').length;
  if (inv.spec.side_effect === 'delete' || inv.spec.confirm || (action === 'create' && cfg.get('preferences.confirm_deploy') === true)) {
    await inv.confirm(`${active.length} server change(s) in infra ${d.infra}${deletes ? `, ${deletes} deletion(s)` : ''}.`);
  }
  const run = openRun(cfg, d, inv.io.env);
  const progress = new Progress(inv.io.stderr, { tty: inv.io.stderrIsTTY, color: useColor(inv, inv.io.stderrIsTTY), quiet: inv.globals.quiet || !human(inv) });
  const abort = new AbortController();
  const onSigint = () => { inv.warn('interrupted: letting running steps stop; records say what exists'); abort.abort(new ProvError('INTERRUPTED', 'interrupted')); };
  process.once('SIGINT', onSigint);
  let result: ApplyResult;
  try {
    result = await locked(inv, run, d, lockWaitMs, async () => {
      const servers = active.flatMap((c) => (c.action === 'create' ? d.servers.filter((s) => s.hostname === c.name) : []));
      const providers = active.map((c) => c.provider).filter((p): p is string => Boolean(p));
      for (const w of await run.providers.preflight(providers, servers, { workspace: d.workspace.name, infra: d.infra })) inv.warn(w);
      const keys = action === 'create' ? loginKeys(cfg, run.ssh, d.workspace.name) : [];
      return applyPlan(plan, {
        desired: d, store: run.store, providers: run.providers, transports: run.transports, command: inv.spec.command,
        publicKeys: keys, waitReachable: inv.globals.wait, progress: (name, m) => progress.update(name, m),
      }, {
        parallel, signal: abort.signal, keepStorage: inv.flags['keep-storage'] === true,
        onStart: (c) => progress.start(c.name, `${c.action} …`),
        onEnd: (c, o) => progress.end(c.name, o.status, o.status === 'done' ? `${PAST[c.action] ?? c.action} (${(o.ms / 1000).toFixed(1)}s)` : o.status === 'failed' ? `failed: ${o.error.message}` : `skipped: ${o.reason}`),
      });
    });
  } finally {
    progress.stop();
    process.removeListener('SIGINT', onSigint);
    await run.close();
  }
  return outcome(inv, plan, result);
}

function outcome(inv: Invocation, plan: Plan, r: ApplyResult): Result {
  const c = colors(useColor(inv, inv.io.stdoutIsTTY));
  const lines: string[] = [];
  for (const x of r.results) {
    const where = x.observed ? ` ${c.dim(`${x.observed.provider_id.slice(0, 12)} ${x.observed.status}${addressText(x.observed.addresses) ? ` ${addressText(x.observed.addresses)}` : ''}`)}` : '';
    if (x.status === 'done') lines.push(`${c.green('✓')} ${x.name}: ${PAST[x.action] ?? x.action}${where}`);
    else if (x.status === 'failed') lines.push(`${c.red('✗')} ${x.name}: ${x.action} failed: ${x.error!.message}${x.error!.hint ? `\n    try: ${x.error!.hint}` : ''}`);
    else lines.push(`${c.dim('-')} ${x.name}: skipped (${x.reason})`);
  }
  const verb = plan.command.split(' ')[1];
  lines.push('', r.failed || r.skipped
    ? c.red(`${verb}: ${r.done} of ${r.results.length} done, ${r.failed} failed, ${r.skipped} skipped. The state records what exists; run the command again to finish.`)
    : c.bold(`${verb}: ${r.done} of ${r.results.length} done.`));
  const codes = [...new Set(r.results.filter((x) => x.error).map((x) => x.error!.code))];
  const exitCode = r.failed + r.skipped === 0 ? 0 : codes.length === 1 ? exitCodeFor(codes[0]!) : 1;
  return { data: { plan, ...r }, view: { kind: 'text', text: lines.join('\n') + '\n' }, exitCode };
}

const addressText = (a: Observed['addresses'] | ResourceState['addresses'] | undefined): string =>
  [...(a?.public_ipv4 ?? []), ...(a?.private ?? []).map((p) => p.ip)].filter(Boolean)[0] ?? '';

// ── list ───────────────────────────────────────────────────────────────────────

interface Row { name: string; provider: string; plan: string; cores: unknown; memory: string; disk: string; ip: string; status: string; drift?: string }

export async function list(inv: Invocation): Promise<Result> {
  const cfg = await inv.config({ requireWorkspace: true, requireInfra: !inv.globals.settings });
  const d = await loadDesired(cfg, { settingsFile: inv.globals.settings, env: inv.io.env });
  const run = openRun(cfg, d, inv.io.env);
  try {
    const records = await run.store.listResources({ workspace: d.workspace.name, ...(inv.flags.all ? {} : { infra: d.infra }), kind: 'server', includeDeleted: false });
    const drift = new Map<string, string>();
    const unmanaged: Observed[] = [];
    if (inv.flags.refresh === true) await refresh(run, d, records.filter((r) => r.infra === d.infra), drift, unmanaged, inv.spec.command);
    const rows: Row[] = [];
    const now = await run.store.listResources({ workspace: d.workspace.name, ...(inv.flags.all ? {} : { infra: d.infra }), kind: 'server' });
    for (const r of now) {
      const spec = r.applied as { plan?: string; cores?: number; memory_mb?: number; disk_gb?: number };
      rows.push({ name: inv.flags.all ? `${r.infra}/${r.name}` : r.name, provider: r.provider ?? '', plan: spec.plan ?? '', cores: spec.cores ?? '', memory: mem(spec.memory_mb), disk: spec.disk_gb ? `${spec.disk_gb} GiB` : '', ip: addressText(r.addresses), status: r.status, ...(drift.has(r.id) ? { drift: drift.get(r.id)! } : {}) });
    }
    for (const s of d.servers) {
      if (!now.some((r) => r.infra === d.infra && r.name === s.hostname)) rows.push({ name: inv.flags.all ? `${d.infra}/${s.hostname}` : s.hostname, provider: s.provider ?? '', plan: s.plan ?? '', cores: s.cores ?? '', memory: mem(s.memory_mb), disk: `${s.disk_gb} GiB`, ip: '', status: 'not created' });
    }
    for (const o of unmanaged) rows.push({ name: o.tags[TAG.name] ?? o.provider_id, provider: '', plan: o.plan ?? '', cores: o.cores, memory: mem(o.memory_mb), disk: o.disk_gb ? `${o.disk_gb} GiB` : '', ip: addressText(o.addresses), status: 'unmanaged', drift: `${o.provider_id} carries this infra's tags but has no record` });
    const wanted = inv.flags.status as string | undefined;
    const shown = wanted ? rows.filter((r) => r.status === wanted) : rows;
    const withDrift = shown.some((r) => r.drift);
    return {
      data: shown,
      view: { kind: 'table', columns: ['name', 'provider', 'plan', 'cores', 'memory', 'disk', 'ip', 'status', ...(withDrift ? ['drift'] : [])], rows: shown.map((r) => [r.name, r.provider, r.plan, r.cores, r.memory, r.disk, r.ip, r.status, ...(withDrift ? [r.drift ?? ''] : [])]) },
    };
  } finally {
    await run.close();
  }
}

const mem = (mb: number | undefined) => (mb === undefined ? '' : mb >= 1024 ? `${+(mb / 1024).toFixed(1)} GiB` : `${mb} MiB`);

/**
 * Ask each provider about the recorded servers (and for objects with this infra's tags that
 * have no record), record what changed, and say how reality drifted from the records.
 */
async function refresh(run: RunHandles, d: DesiredState, records: ResourceState[], drift: Map<string, string>, unmanaged: Observed[], command: string): Promise<void> {
  const writes: Parameters<RunHandles['store']['applyChanges']>[0] = [];
  const seen = new Set<string>();
  for (const r of records) {
    if (!r.provider) continue;
    const provider = await run.providers.get(r.provider);
    const obs = await provider.find({ ...(r.provider_id ? { provider_id: r.provider_id } : {}), tags: systemTags(d.workspace.name, d.infra, r.name) });
    if (obs) seen.add(obs.provider_id);
    const status = obs ? obs.status : 'missing';
    if (status !== r.status) {
      drift.set(r.id, obs ? `recorded ${r.status}, provider says ${obs.status}` : `recorded ${r.status}, gone at ${r.provider}`);
      writes.push({ record: serverRecord(d, r.name, r, { status, ...(obs ? { observed: obs } : {}) }), action: 'observe', command });
    }
  }
  for (const name of new Set(records.map((r) => r.provider).filter(Boolean).concat(d.servers.map((s) => s.provider)))) {
    if (!name) continue;
    const provider = await run.providers.get(name);
    for (const o of await provider.list(scopeTags(d.workspace.name, d.infra))) if (!seen.has(o.provider_id) && !records.some((r) => r.provider_id === o.provider_id)) unmanaged.push(o);
  }
  if (writes.length) await run.store.applyChanges(writes);
}

// ── status ─────────────────────────────────────────────────────────────────────

/** The recorded server, or NOT_FOUND saying whether it is defined but not created. */
async function recorded(run: RunHandles, d: DesiredState, name: string): Promise<ResourceState> {
  const rec = await run.store.getResource(`server:${d.infra}/${name}`);
  if (rec && rec.status !== 'deleted') return rec;
  const defined = d.servers.some((s) => s.hostname === name);
  throw new ProvError('NOT_FOUND', defined ? `server '${name}' is defined but not created` : `server '${name}' is not defined in infra '${d.infra}'`, {
    hint: defined ? '`provisioning server create` creates it' : `defined: ${d.servers.map((s) => s.hostname).join(', ') || '(none)'}`,
  });
}

export async function status(inv: Invocation): Promise<Result> {
  const cfg = await inv.config({ requireWorkspace: true, requireInfra: !inv.globals.settings });
  const d = await loadDesired(cfg, { settingsFile: inv.globals.settings, env: inv.io.env });
  const run = openRun(cfg, d, inv.io.env);
  try {
    const rec = await recorded(run, d, String(inv.args.name));
    const provider = await run.providers.get(rec.provider);
    const obs = await provider.find({ ...(rec.provider_id ? { provider_id: rec.provider_id } : {}), tags: systemTags(d.workspace.name, d.infra, rec.name) });
    let reach = 'not checked (not running)';
    if (obs?.status === 'running') {
      const t0 = Date.now();
      try {
        const t = await run.transports.open(provider.connect(obs));
        const r = await t.exec(['true'], { timeoutMs: 15_000, sudo: false });
        reach = r.code === 0 ? `ok over ${t.kind} ${t.target} (${Date.now() - t0} ms)` : `\`true\` exited ${r.code}`;
      } catch (err) {
        reach = `unreachable: ${asProvError(err).message}`;
      }
    }
    const taskservs = (await run.store.listResources({ workspace: d.workspace.name, infra: d.infra, kind: 'taskserv' })).filter((t) => t.parent === rec.id);
    const last = (await run.store.history({ resource_id: rec.id, limit: 1 }))[0];
    const data = {
      name: rec.name, provider: rec.provider, provider_id: rec.provider_id, recorded_status: rec.status, provider_status: obs?.status ?? 'missing',
      addresses: obs?.addresses ?? rec.addresses, reachability: reach, taskservs: taskservs.map((t) => ({ name: t.name, status: t.status, version: t.version })),
      last_operation: last ? { action: last.action, command: last.command, at: last.at } : null,
    };
    return {
      data,
      view: { kind: 'kv', entries: [['name', data.name], ['provider', `${data.provider} ${data.provider_id ?? ''}`], ['status', `${data.provider_status} (recorded: ${data.recorded_status})`], ['address', addressText(data.addresses)], ['reachability', reach], ['taskservs', taskservs.map((t) => `${t.name} ${t.status}`).join(', ') || '(none)'], ['last operation', last ? `${last.action} by \`${last.command}\` at ${last.at}` : '(none)']] },
      exitCode: obs ? 0 : exitCodeFor('NOT_FOUND'),
    };
  } finally {
    await run.close();
  }
}

// ── ssh / exec ─────────────────────────────────────────────────────────────────

export async function ssh(inv: Invocation): Promise<Result> {
  const cfg = await inv.config({ requireWorkspace: true, requireInfra: !inv.globals.settings });
  const d = await loadDesired(cfg, { settingsFile: inv.globals.settings, env: inv.io.env });
  const run = openRun(cfg, d, inv.io.env);
  try {
    const rec = await recorded(run, d, String(inv.args.name));
    const provider = await run.providers.get(rec.provider);
    // ask the provider: a container's published port can change across restarts
    const obs = await provider.find({ ...(rec.provider_id ? { provider_id: rec.provider_id } : {}), tags: systemTags(d.workspace.name, d.infra, rec.name) });
    if (!obs) throw new ProvError('NOT_FOUND', `server '${rec.name}' (${rec.provider_id ?? 'no id'}) is gone at ${rec.provider}`, { hint: '`provisioning server list --refresh` records it; `server create` makes it again' });
    if (obs.status !== 'running') throw new ProvError('UNAVAILABLE', `server '${rec.name}' is ${obs.status}`, { hint: `\`provisioning server start ${rec.name}\`` });
    const conn = provider.connect(obs);
    if (conn.transport === 'ssh') {
      if (inv.flags.user) conn.user = String(inv.flags.user);
      if (inv.flags.port) conn.port = Number(inv.flags.port);
      if (inv.flags.key) conn.private_key = String(inv.flags.key);
    } else if (inv.flags.user) conn.user = String(inv.flags.user);
    const t = await run.transports.open(conn);
    const command = inv.flags.command !== undefined ? { script: String(inv.flags.command) } : inv.passthrough.length ? inv.passthrough : undefined;
    if (!command) {
      const { interactiveShell } = await import('../interactive.js');
      const code = await interactiveShell(inv, t, conn, run.ssh, run.transports);
      return { data: { server: rec.name, exit_code: code }, exitCode: code };
    }
    const r = await t.exec(command, {
      sudo: false, timeoutMs: run.ssh.commandTimeoutMs,
      onStdout: (b) => inv.io.stdout.write(b), onStderr: (b) => inv.io.stderr.write(b),
    });
    return { data: human(inv) ? undefined : { server: rec.name, exit_code: r.code, stdout_tail: r.stdout_tail, stderr_tail: r.stderr_tail }, exitCode: r.code };
  } finally {
    await run.close();
  }
}

// ── provider test ──────────────────────────────────────────────────────────────

export async function providerTest(inv: Invocation): Promise<Result> {
  const cfg = await inv.config({ requireWorkspace: true, requireInfra: !inv.globals.settings });
  const d = await loadDesired(cfg, { settingsFile: inv.globals.settings, env: inv.io.env });
  const run = openRun(cfg, d, inv.io.env);
  try {
    const name = String(inv.args.name);
    const provider = await run.providers.get(name);
    const t0 = Date.now();
    const found = await provider.list(scopeTags(d.workspace.name, d.infra));
    const data = { provider: name, reachable: true, ms: Date.now() - t0, servers_of_this_infra: found.length };
    return { data, view: { kind: 'text', text: `${name}: reachable with the configured credentials (${data.ms} ms); ${found.length} server(s) carry this infra's tags\n` } };
  } finally {
    await run.close();
  }
}
