/**
 * `server list|status|ssh` and `provider test`: what the records say, asked of the providers
 * and reached through the transports. Applying server plans is handlers/apply.ts.
 */
import { ProvError, asProvError, exitCodeFor } from '../../errors/index.js';
import { loadDesired, type DesiredState } from '../../infra/desired.js';
import { openRun, type RunHandles } from '../../engine/context.js';
import { scopeTags } from '../../engine/providers.js';
import { serverRecord } from '../../engine/servers.js';
import { systemTags, TAG, type Observed } from '../../providers/index.js';
import type { ResourceState } from '../../store/types.js';
import type { Invocation, Result } from '../context.js';
import { addressText, human } from './apply.js';

/** Load the infra, open a run (store, transports, providers) for `fn`, and close it afterwards. */
async function withRun<T>(inv: Invocation, fn: (d: DesiredState, run: RunHandles) => Promise<T>): Promise<T> {
  const cfg = await inv.config({ requireWorkspace: true, requireInfra: !inv.globals.settings });
  const d = await loadDesired(cfg, { settingsFile: inv.globals.settings, env: inv.io.env });
  const run = openRun(cfg, d, inv.io.env);
  try {
    return await fn(d, run);
  } finally {
    await run.close();
  }
}

// ── list ───────────────────────────────────────────────────────────────────────

interface Row { name: string; provider: string; plan: string; cores: unknown; memory: string; disk: string; ip: string; status: string; drift?: string }

export async function list(inv: Invocation): Promise<Result> {
  return withRun(inv, async (d, run) => {
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
  });
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
  return withRun(inv, async (d, run) => {
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
  });
}

// ── ssh / exec ─────────────────────────────────────────────────────────────────

export async function ssh(inv: Invocation): Promise<Result> {
  return withRun(inv, async (d, run) => {
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
  });
}

// ── provider test ──────────────────────────────────────────────────────────────

export async function providerTest(inv: Invocation): Promise<Result> {
  return withRun(inv, async (d, run) => {
    const name = String(inv.args.name);
    const provider = await run.providers.get(name);
    const t0 = Date.now();
    const found = await provider.list(scopeTags(d.workspace.name, d.infra));
    const data = { provider: name, reachable: true, ms: Date.now() - t0, servers_of_this_infra: found.length };
    return { data, view: { kind: 'text', text: `${name}: reachable with the configured credentials (${data.ms} ms); ${found.length} server(s) carry this infra's tags\n` } };
  });
}
