/**
 * The read and maintenance commands of taskservs and clusters (spec/cli.md §15, §16):
 * `taskserv list --installed | status | check | logs | start | stop | restart | versions |
 * check-updates | generate` and `cluster list | status`. Installing, updating and deleting are
 * plans (handlers/plan.ts → apply.ts); these commands read the records and reach the servers
 * through the same sessions and checks as the runner (src/engine/taskservs.ts, checks.ts).
 * docs/taskserv-commands.md describes them.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import type { Config } from '../../config/index.js';
import { openRun, type RunHandles } from '../../engine/context.js';
import { bindTaskserv, runChecks, runStep, ServerSessions, stepFailure, type Bound, type CheckRow } from '../../engine/taskservs.js';
import type { ServerContext } from '../../engine/servers.js';
import { ProvError, asProvError, exitCodeFor } from '../../errors/index.js';
import { validateExtensionDir } from '../../extensions/inspect.js';
import { loadDesired, taskservOn, type DesiredState } from '../../infra/desired.js';
import { nameProblem, suggestName, type TaskservManifest } from '../../model/index.js';
import { acquireRunLock, infraScope } from '../../store/lock.js';
import { readResources } from '../../store/sqlite/read.js';
import type { ResourceState } from '../../store/types.js';
import type { Handler, Invocation, Result } from '../context.js';
import { colors } from '../output.js';
import { closest } from '../suggest.js';
import { human } from './apply.js';
import { clusterList as catalogClusterList } from './extensions-catalog.js';
import { kvText, sectionsView, tableText } from './extensions-common.js';

// ── shared: the infra, its records, the targets of a command ─────────────────────

interface Loaded { cfg: Config; d: DesiredState; records: ResourceState[] }

async function load(inv: Invocation): Promise<Loaded> {
  const cfg = await inv.config({ requireWorkspace: true, requireInfra: !inv.globals.settings });
  const d = await loadDesired(cfg, { settingsFile: inv.globals.settings, env: inv.io.env });
  // read-only: a workspace that never applied anything has no state database, and gets none
  return { cfg, d, records: readResources(d.workspace.path, d.workspace.name, d.infra) };
}

const live = (r: ResourceState): boolean => r.status !== 'deleted';
/** `server:<infra>/<host>` → host */
const hostOf = (r: ResourceState): string => String(r.parent ?? '').split('/').pop() ?? '';
const taskservRecords = (records: ResourceState[], name?: string) => records.filter((r) => r.kind === 'taskserv' && live(r) && (name === undefined || r.name === name));
const definedOn = (d: DesiredState, name: string) => d.servers.filter((s) => (d.taskservs.get(s.hostname) ?? []).some((t) => t.name === name)).map((s) => s.hostname);
const serverRank = (d: DesiredState) => (h: string) => { const i = d.servers.findIndex((s) => s.hostname === h); return i < 0 ? d.servers.length : i; };
const observedData = (r: ResourceState) => (r.observed?.data ?? {}) as {
  version?: unknown; running?: unknown; last_check?: LastCheck;
  /** what the runner recorded of a failed step (engine/taskservs.ts stepFailure) */
  error?: { message?: string; step?: string; command?: string; exit_code?: number; output_tail?: string[]; hint?: string };
};

interface LastCheck { at: string; ok: boolean; by: string; failed?: string }

/** The last verification of a record: a `taskserv check`, a start, or the apply that made it ready. */
function lastCheck(r: ResourceState): LastCheck | undefined {
  const o = observedData(r);
  if (o.last_check) return o.last_check;
  return r.status === 'ready' && r.observed ? { at: r.observed.at, ok: true, by: 'apply' } : undefined;
}

/** `--servers a,b --servers c` → [a, b, c]; undefined when not given. */
function serversFlag(inv: Invocation): string[] | undefined {
  const raw = inv.flags.servers as string[] | string | undefined;
  if (raw === undefined) return undefined;
  const list = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
  return list.length ? [...new Set(list)] : undefined;
}

/** NOT_FOUND with "did you mean" unless the catalog or the records know the taskserv. */
function requireKnown(d: DesiredState, records: ResourceState[], name: string): void {
  if (d.catalog.winner('taskserv', name) || records.some((r) => r.kind === 'taskserv' && r.name === name)) return;
  const near = closest(name, [...d.catalog.names('taskserv'), ...records.filter((r) => r.kind === 'taskserv').map((r) => r.name)], 1)[0];
  throw new ProvError('NOT_FOUND', `unknown taskserv '${name}'`, {
    hint: near ? `did you mean '${near}'? (\`provisioning taskserv list --available\`)` : '`provisioning taskserv list --available` lists the catalog',
    location: { resource: `taskserv/${name}` },
  });
}

/** The record of a server named on the command line, or NOT_FOUND saying what is wrong with it. */
function requireServer(d: DesiredState, records: ResourceState[], host: string): ResourceState {
  const rec = records.find((r) => r.kind === 'server' && r.name === host && live(r));
  if (rec) return rec;
  const hosts = d.servers.map((s) => s.hostname);
  if (!hosts.includes(host)) {
    const near = closest(host, hosts, 1)[0];
    throw new ProvError('NOT_FOUND', `infra '${d.infra}' has no server '${host}'`, { hint: near ? `did you mean '${near}'?` : `servers: ${hosts.join(', ') || '(none)'}`, location: { resource: `server/${host}` } });
  }
  throw new ProvError('NOT_FOUND', `server '${host}' is defined but not created`, { hint: `\`provisioning server create ${host}\` creates it`, location: { resource: `server/${host}` } });
}

interface Target { host: string; rec: ResourceState }

/** The installed copies of a taskserv a command acts on (all, or those on --servers), in server order. */
function installedTargets(inv: Invocation, l: Loaded, name: string): Target[] {
  requireKnown(l.d, l.records, name);
  const installed = taskservRecords(l.records, name);
  const servers = serversFlag(inv);
  if (servers) {
    return servers.map((host) => {
      requireServer(l.d, l.records, host);
      const rec = installed.find((r) => hostOf(r) === host);
      if (!rec) {
        throw new ProvError('NOT_FOUND', `taskserv '${name}' is not installed on server '${host}'`, {
          hint: installed.length ? `it is installed on ${installed.map(hostOf).join(', ')}` : `\`provisioning taskserv create ${name} --servers ${host}\` installs it`,
          location: { resource: `taskserv/${name}` },
        });
      }
      return { host, rec };
    });
  }
  if (installed.length === 0) throw notInstalled(l.d, name);
  const rank = serverRank(l.d);
  return installed.map((rec) => ({ host: hostOf(rec), rec })).sort((a, b) => rank(a.host) - rank(b.host));
}

function notInstalled(d: DesiredState, name: string): ProvError {
  const on = definedOn(d, name);
  return new ProvError('NOT_FOUND', `taskserv '${name}' is not installed on any server of infra '${d.infra}'${on.length ? ` (the definition lists it on ${on.join(', ')})` : ''}`, {
    hint: on.length ? `\`provisioning taskserv create ${name}\` installs it` : `\`provisioning taskserv generate ${name} --servers <server>\` adds it to the definition; \`provisioning taskserv create ${name} --servers <server>\` installs it`,
    location: { resource: `taskserv/${name}` },
  });
}

// ── shared: a taskserv bound to its server (transport, manifest, render context) ─


interface Engine { ctx: ServerContext; sessions: ServerSessions }

/** The engine context of a command that reaches installed taskservs (no progress display). */
function sessionsFor(run: RunHandles, d: DesiredState, command: string): Engine {
  const ctx: ServerContext = { desired: d, store: run.store, providers: run.providers, transports: run.transports, command, publicKeys: [], waitReachable: false, progress: () => undefined };
  return { ctx, sessions: new ServerSessions(ctx) };
}

function valueAt(o: Record<string, unknown>, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

function setAt(o: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = o;
  for (const k of parts.slice(0, -1)) {
    if (!cur[k] || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  if (value === undefined) delete cur[parts.at(-1)!];
  else cur[parts.at(-1)!] = value;
}

/** Drop the "<secret>" placeholders a record keeps in place of secret values. */
function dropRedacted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropRedacted);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== '<secret>').map(([k, x]) => [k, dropRedacted(x)]));
  return v;
}

/**
 * The settings the server runs with: what the record says was applied (the definition may have
 * changed since; `taskserv create` applies that), with the secrets, which records never hold,
 * taken from the definition.
 */
function effectiveSettings(rec: ResourceState, want: { settings: Record<string, unknown>; secret_paths: string[] }): Record<string, unknown> {
  const applied = (rec.applied as { settings?: Record<string, unknown> }).settings;
  if (!applied) return want.settings;
  const copy = dropRedacted(structuredClone(applied)) as Record<string, unknown>;
  for (const p of want.secret_paths ?? []) setAt(copy, p, valueAt(want.settings, p));
  return copy;
}

/** The taskserv as installed on the target server, bound for its scripts and checks. */
async function bind(d: DesiredState, { ctx, sessions }: Engine, tg: Target, signal?: AbortSignal): Promise<Bound> {
  const cluster = tg.rec.tags['provisioning.io/cluster'];
  const want = taskservOn(d, tg.host, tg.rec.name, cluster);
  const applied = tg.rec.applied as { profile?: string };
  const ts = { ...want, settings: effectiveSettings(tg.rec, want), version: tg.rec.version ?? want.version, profile: applied.profile ?? want.profile };
  return bindTaskserv(ctx, sessions, { host: tg.host, name: tg.rec.name, ts, ...(cluster ? { cluster } : {}), ...(signal ? { signal } : {}) });
}

type ServiceStep = 'start' | 'stop' | 'restart';
/**
 * Record what was observed on a taskserv's record (`observe` in the history), keeping what the
 * runner recorded. Re-read first: only the observed part changes.
 */
async function observe(run: RunHandles, id: string, patch: Record<string, unknown>, command: string): Promise<void> {
  const fresh = await run.store.getResource(id);
  if (!fresh || !live(fresh)) return;
  const at = new Date().toISOString();
  const prior = lastCheck(fresh);
  const data = { ...(fresh.observed?.data ?? {}), ...(prior && !('last_check' in patch) ? { last_check: prior } : {}), ...patch };
  await run.store.applyChanges([{ record: { ...fresh, observed: { at, data }, generation: fresh.generation + 1, updated_at: at }, action: 'observe', command }]);
}

/** Actionable lines for a failed check or step: what, the command, its exit code, the output, the hint. */
function failureLines(server: string, what: string, f: { message: string; command?: string; exit_code?: number; output_tail?: string[]; hint?: string }, c: ReturnType<typeof colors>): string[] {
  const out = [`${c.red('✗')} ${server}: ${what}: ${f.message}`];
  if (f.command) out.push(`    command: ${f.command}${f.exit_code !== undefined ? ` · exit code ${f.exit_code}` : ''}`);
  if (f.output_tail?.length) out.push('    last output:', ...f.output_tail.map((l) => `      ${c.dim(l)}`));
  if (f.hint) out.push(`    try: ${f.hint}`);
  return out;
}

const errorInfo = (e: ProvError) => ({
  code: e.code, message: e.message,
  ...(typeof e.details.step === 'string' ? { step: e.details.step } : {}),
  ...(typeof e.details.command === 'string' ? { command: e.details.command } : {}),
  ...(typeof e.details.exit_code === 'number' ? { exit_code: e.details.exit_code } : {}),
  ...(Array.isArray(e.details.output_tail) ? { output_tail: e.details.output_tail as string[] } : {}),
  ...(e.hint ? { hint: e.hint } : {}),
});

const useColor = (inv: Invocation) => inv.io.stdoutIsTTY && !inv.io.env.NO_COLOR && inv.globals.color !== false;

// ── taskserv list --installed ─────────────────────────────────────────────────────

/** `taskserv list` (installed, the default inside an infra): name, version, server, status. */
export async function listInstalled(inv: Invocation): Promise<Result> {
  const l = await load(inv);
  const { d } = l;
  const category = inv.flags.category as string | undefined;
  const q = (inv.flags.search as string | undefined)?.toLowerCase();
  const manifest = (n: string) => d.catalog.get('taskserv', n) as TaskservManifest | undefined;
  const keep = (n: string) => (!category || manifest(n)?.extension.category === category)
    && (!q || [n, manifest(n)?.extension.description ?? '', ...(manifest(n)?.extension.keywords ?? [])].some((s) => s.toLowerCase().includes(q)));
  const rows = taskservRecords(l.records).filter((r) => keep(r.name)).map((r) => {
    const o = observedData(r);
    return {
      name: r.name, version: r.version ?? null, server: hostOf(r), status: r.status,
      running: typeof o.running === 'boolean' ? o.running : null, software_version: typeof o.version === 'string' ? o.version : null,
      cluster: r.tags['provisioning.io/cluster'] ?? null, updated_at: r.updated_at,
    };
  });
  // defined but not installed: what `taskserv create` would install
  for (const s of d.servers) {
    for (const t of d.taskservs.get(s.hostname) ?? []) {
      if (keep(t.name) && !rows.some((r) => r.name === t.name && r.server === s.hostname)) {
        rows.push({ name: t.name, version: t.version, server: s.hostname, status: 'not installed', running: null, software_version: null, cluster: null, updated_at: '' });
      }
    }
  }
  const rank = serverRank(d);
  rows.sort((a, b) => a.name.localeCompare(b.name) || rank(a.server) - rank(b.server));
  const withCluster = rows.some((r) => r.cluster);
  const statusCell = (r: (typeof rows)[number]) => (r.running === false && r.status === 'ready' ? 'ready (stopped)' : r.status);
  return {
    data: rows,
    view: { kind: 'table', columns: ['name', 'version', 'server', 'status', ...(withCluster ? ['cluster'] : [])], rows: rows.map((r) => [r.name, r.version, r.server, statusCell(r), ...(withCluster ? [r.cluster ?? ''] : [])]) },
  };
}

// ── taskserv status ───────────────────────────────────────────────────────────────

export const status: Handler = async (inv) => {
  const name = String(inv.args.name);
  const l = await load(inv);
  const { d } = l;
  requireKnown(d, l.records, name);
  const wanted = serversFlag(inv);
  let targets: Target[];
  const notInstalledHosts: string[] = [];
  if (wanted) {
    targets = installedTargets(inv, l, name);
  } else {
    targets = taskservRecords(l.records, name).map((rec) => ({ host: hostOf(rec), rec }));
    notInstalledHosts.push(...definedOn(d, name).filter((h) => !targets.some((t) => t.host === h)));
    if (targets.length === 0) throw notInstalled(d, name);
    const rank = serverRank(d);
    targets.sort((a, b) => rank(a.host) - rank(b.host));
  }
  const run = openRun(l.cfg, d, inv.io.env);
  try {
    const sessions = sessionsFor(run, d, inv.spec.command);
    const rows = await Promise.all(targets.map(async (tg) => {
      const o = observedData(tg.rec);
      const own = (d.taskservs.get(tg.host) ?? []).find((t) => t.name === name);
      const definition = !own ? 'not in the definition' : !tg.rec.checksum ? 'never applied' : own.checksum === tg.rec.checksum ? 'in sync' : 'changed since applied';
      const last = (await run.store.history({ resource_id: tg.rec.id, limit: 1 }))[0];
      let probe: { ok: boolean; checks: CheckRow[]; error?: string };
      if (['installing', 'deleting'].includes(tg.rec.status)) probe = { ok: false, checks: [], error: `not probed: ${tg.rec.status}` };
      else {
        try {
          const b = await bind(d, sessions, tg);
          const checks = await runChecks(b, ['readiness'], { readinessOnce: true });
          probe = { ok: checks.every((c) => c.ok), checks };
        } catch (err) {
          probe = { ok: false, checks: [], error: asProvError(err).message };
        }
      }
      return {
        server: tg.host, status: tg.rec.status, version: tg.rec.version ?? null, software_version: typeof o.version === 'string' ? o.version : null,
        running: typeof o.running === 'boolean' ? o.running : null, cluster: tg.rec.tags['provisioning.io/cluster'] ?? null, definition,
        error: o.error ?? null, last_check: lastCheck(tg.rec) ?? null,
        last_operation: last ? { action: last.action, command: last.command, at: last.at } : null,
        readiness: probe,
      };
    }));
    const all = [...rows, ...notInstalledHosts.map((h) => ({ server: h, status: 'not installed', version: null, software_version: null, running: null, cluster: null, definition: 'in the definition', error: null, last_check: null, last_operation: null, readiness: null }))];
    const c = colors(useColor(inv));
    const readinessCell = (p: (typeof rows)[number]['readiness'] | null) => {
      if (!p) return '';
      if (p.error) return p.error;
      const bad = p.checks.find((x) => !x.ok);
      return bad ? c.red(`✗ ${bad.name}: ${bad.detail}`) : c.green(`ok (${p.checks.map((x) => x.name).join(', ') || 'no readiness checks'})`);
    };
    const errors = rows.filter((r) => r.error && r.status === 'error').flatMap((r) => failureLines(r.server, 'recorded error', { ...r.error!, message: r.error!.message ?? 'failed' }, c));
    const table = await tableText(['server', 'status', 'version', 'running', 'readiness', 'definition', 'last change'],
      all.map((r) => [r.server, r.status, r.version ?? '', r.running === null ? '' : r.running ? 'yes' : 'no', readinessCell(r.readiness), r.definition, r.last_operation ? `${r.last_operation.action} by \`${r.last_operation.command}\` at ${r.last_operation.at}` : '']));
    return { data: { taskserv: name, infra: d.infra, servers: all }, view: sectionsView([`taskserv ${name} · infra ${d.infra}\n\n${table}`, errors.join('\n')]) };
  } finally {
    await run.close();
  }
};

// ── taskserv check ────────────────────────────────────────────────────────────────

export const check: Handler = async (inv) => {
  const name = String(inv.args.name);
  const l = await load(inv);
  const targets = installedTargets(inv, l, name);
  const run = openRun(l.cfg, l.d, inv.io.env);
  try {
    const sessions = sessionsFor(run, l.d, inv.spec.command);
    const results = await Promise.all(targets.map(async (tg) => {
      try {
        const b = await bind(l.d, sessions, tg);
        const checks = await runChecks(b, ['readiness', 'smoke'], { readinessOnce: true });
        const skippedSmoke = checks.some((x) => !x.ok) && checks.every((x) => x.phase === 'readiness') && (b.m.smoke ?? []).length > 0;
        return { server: tg.host, ok: checks.every((x) => x.ok), checks, ...(skippedSmoke ? { skipped: 'smoke tests (readiness failed)' } : {}) };
      } catch (err) {
        return { server: tg.host, ok: false, checks: [] as CheckRow[], error: errorInfo(asProvError(err)) };
      }
    }));
    // Record the outcome for `cluster status` and `taskserv status`, unless a run holds the infra.
    try {
      const release = await acquireRunLock(run.store, infraScope(l.d.workspace.name, l.d.infra), { command: inv.spec.command });
      try {
        for (const r of results) {
          const failed = r.checks.find((x) => !x.ok);
          await observe(run, targets.find((t) => t.host === r.server)!.rec.id, { last_check: { at: new Date().toISOString(), ok: r.ok, by: 'taskserv check', ...(failed ? { failed: `${failed.phase}:${failed.name}` } : {}) } }, inv.spec.command);
        }
      } finally {
        await release();
      }
    } catch (err) {
      if (asProvError(err).code !== 'LOCKED') throw err;
      inv.info(`the outcome is not recorded: a run holds the lock of infra ${l.d.infra}`);
    }
    const c = colors(useColor(inv));
    const lines: string[] = [];
    for (const r of results) {
      if (r.error) { lines.push(...failureLines(r.server, 'not checked', r.error, c)); continue; }
      for (const x of r.checks) {
        if (x.ok) lines.push(`${c.green('✓')} ${r.server}: ${x.phase} ${x.name} (${x.command})`);
        else lines.push(...failureLines(r.server, `${x.phase}:${x.name} failed`, { message: `${x.detail} after ${x.attempts} attempt(s)`, command: x.command, ...(x.exit_code !== undefined ? { exit_code: x.exit_code } : {}), output_tail: x.output_tail, ...(x.hint ? { hint: x.hint } : {}) }, c));
      }
      if (r.checks.length === 0) lines.push(`${c.dim('-')} ${r.server}: ${name} defines no readiness or smoke checks`);
      if (r.skipped) lines.push(`${c.dim('-')} ${r.server}: skipped ${r.skipped}`);
    }
    const failed = results.filter((r) => !r.ok).length;
    lines.push('', failed ? c.red(`check: ${name} failed on ${failed} of ${results.length} server(s)`) : c.bold(`check: ${name} passed on ${results.length} server(s)`));
    return { data: { taskserv: name, ok: failed === 0, servers: results }, view: { kind: 'text', text: lines.join('\n') + '\n' }, exitCode: failed ? 1 : 0 };
  } finally {
    await run.close();
  }
};

// ── taskserv start | stop | restart ──────────────────────────────────────────────

export const start: Handler = (inv) => service(inv, 'start');
export const stop: Handler = (inv) => service(inv, 'stop');
export const restart: Handler = (inv) => service(inv, 'restart');

async function service(inv: Invocation, action: ServiceStep): Promise<Result> {
  const name = String(inv.args.name);
  const l = await load(inv);
  const targets = installedTargets(inv, l, name);
  const m = l.d.catalog.get('taskserv', name) as TaskservManifest | undefined;
  const steps = !m ? [] : action === 'restart' && !m.scripts?.restart ? ['stop', 'start'] : [action];
  const what = `${action} ${name} on ${targets.map((t) => t.host).join(', ')}`;
  if (inv.globals.check) {
    const rows = targets.map((t) => [t.host, t.rec.status, observedData(t.rec).running === false ? 'stopped' : observedData(t.rec).running === true ? 'running' : 'unknown', steps.join(' + ') || '(extension missing)', action === 'stop' ? '' : 'readiness checks']);
    return {
      data: { check: true, action, taskserv: name, servers: targets.map((t) => ({ server: t.host, status: t.rec.status, steps })) },
      view: { kind: 'text', text: `Check mode — nothing will be changed   infra ${l.d.infra} · ${what}\n\n${await tableText(['server', 'recorded', 'last seen', 'runs', 'then'], rows)}` },
    };
  }
  if (inv.spec.confirm) await inv.confirm(`Stop ${name} on ${targets.length} server(s) (${targets.map((t) => t.host).join(', ')})?`);
  const run = openRun(l.cfg, l.d, inv.io.env);
  const abort = new AbortController();
  const onSigint = () => abort.abort(new ProvError('INTERRUPTED', 'interrupted'));
  process.once('SIGINT', onSigint);
  try {
    const release = await acquireRunLock(run.store, infraScope(l.d.workspace.name, l.d.infra), { command: inv.spec.command });
    try {
      const sessions = sessionsFor(run, l.d, inv.spec.command);
      const results = await Promise.all(targets.map(async (tg) => {
        const t0 = Date.now();
        try {
          const b = await bind(l.d, sessions, tg, abort.signal);
          const missing = (steps as ServiceStep[]).find((step) => !b.m.scripts?.[step]);
          if (missing) throw new ProvError('INVALID_ARGUMENT', `taskserv ${name} has no ${missing} script`, { hint: `add [scripts.${missing}] to ${join(b.dir, 'extension.toml')}` });
          for (const step of steps as ServiceStep[]) await runStep(b, step);
          let checks: CheckRow[] = [];
          if (action !== 'stop') {
            // the service is coming up: readiness checks keep their retries
            checks = await runChecks(b, ['readiness']);
            const bad = checks.find((x) => !x.ok);
            if (bad) {
              await observe(run, tg.rec.id, { last_check: { at: new Date().toISOString(), ok: false, by: `taskserv ${action}`, failed: `readiness:${bad.name}` } }, inv.spec.command);
              throw stepFailure({ server: tg.host, taskserv: name, step: `readiness:${bad.name}`, command: bad.command, ...(bad.exit_code !== undefined ? { exit_code: bad.exit_code } : {}), detail: `${bad.detail} after ${bad.attempts} attempt(s)`, stderr_tail: bad.output_tail, ...(bad.hint ? { hint: bad.hint } : {}) });
            }
          }
          await observe(run, tg.rec.id, action === 'stop' ? { running: false } : { running: true, last_check: { at: new Date().toISOString(), ok: true, by: `taskserv ${action}` } }, inv.spec.command);
          return { server: tg.host, ok: true, steps, checks: checks.map((x) => x.name), ms: Date.now() - t0 };
        } catch (err) {
          return { server: tg.host, ok: false, steps, ms: Date.now() - t0, error: errorInfo(asProvError(err)) };
        }
      }));
      const c = colors(useColor(inv));
      const past = { start: 'started', stop: 'stopped', restart: 'restarted' }[action];
      const lines = results.flatMap((r) => r.ok
        ? [`${c.green('✓')} ${r.server}: ${name} ${past}${r.checks?.length ? `, readiness passed (${r.checks.join(', ')})` : ''} (${(r.ms / 1000).toFixed(1)}s)`]
        : failureLines(r.server, `${action} failed${r.error!.step ? ` in step ${r.error!.step}` : ''}`, r.error!, c));
      const failed = results.filter((r) => !r.ok);
      lines.push('', failed.length ? c.red(`${action}: ${results.length - failed.length} of ${results.length} done, ${failed.length} failed`) : c.bold(`${action}: ${results.length} of ${results.length} done`));
      const codes = [...new Set(failed.map((r) => r.error!.code))];
      return {
        data: { taskserv: name, action, ok: failed.length === 0, servers: results }, view: { kind: 'text', text: lines.join('\n') + '\n' },
        exitCode: failed.length === 0 ? 0 : codes.length === 1 ? exitCodeFor(codes[0]!) : 1,
      };
    } finally {
      await release();
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    await run.close();
  }
}

// ── taskserv logs ─────────────────────────────────────────────────────────────────

/**
 * Where a taskserv's logs are, by convention (manifests have no field for it): the systemd journal
 * of units named `<name>*` where systemd runs, and the files /var/log/<name>.log,
 * /var/log/<name>-*.log, /var/log/<name>/*.log and /var/log/<name>*\/*.log (redis →
 * /var/log/redis/redis-server.log, postgres → /var/log/postgresql/…). Exit 3: nothing found.
 */
const LOGS_SCRIPT = `n=$1 lines=$2 follow=$3
set --
for f in /var/log/"$n".log /var/log/"$n"-*.log /var/log/"$n"/*.log /var/log/"$n"*/*.log; do
  [ -f "$f" ] || continue
  dup=0
  for g in "$@"; do [ "$g" = "$f" ] && dup=1; done
  [ "$dup" = 1 ] || set -- "$@" "$f"
done
journal=
if [ -d /run/systemd/system ] && command -v journalctl >/dev/null 2>&1 && [ -n "$(systemctl list-units --all --plain --no-legend "$n*" 2>/dev/null)" ]; then journal=1; fi
if [ -z "$journal" ] && [ $# -eq 0 ]; then exit 3; fi
if [ "$follow" = 1 ]; then
  [ -z "$journal" ] || journalctl --no-pager -n "$lines" -f -u "$n*" &
  [ $# -eq 0 ] || tail -n "$lines" -v -F "$@" &
  wait
  exit 0
fi
if [ -n "$journal" ]; then echo "==> journal: units $n* <=="; journalctl --no-pager -n "$lines" -u "$n*"; fi
[ $# -eq 0 ] || tail -n "$lines" -v "$@"`;

const logPlaces = (n: string) => `journal units ${n}* (with systemd), /var/log/${n}.log, /var/log/${n}-*.log, /var/log/${n}/*.log, /var/log/${n}*/*.log`;

/** Calls `emit` with whole lines; `flush` hands over a last line without newline. */
function lineSplitter(emit: (line: string) => void): { push(b: Buffer): void; flush(): void } {
  let rest = '';
  return {
    push(b) {
      rest += b.toString('utf8');
      const parts = rest.split('\n');
      rest = parts.pop()!;
      for (const p of parts) emit(p);
    },
    flush() { if (rest) emit(rest); rest = ''; },
  };
}

export const logs: Handler = async (inv) => {
  const name = String(inv.args.name);
  const rawLines = (inv.flags.lines as string | undefined) ?? '100';
  const lines = Number(rawLines);
  if (!/^\d+$/.test(rawLines) || lines < 1 || lines > 100_000) throw new ProvError('INVALID_ARGUMENT', `--lines expects a whole number from 1 to 100000; got '${rawLines}'`, { hint: 'provisioning taskserv logs redis --lines 200' });
  const follow = inv.flags.follow === true;
  const l = await load(inv);
  const targets = installedTargets(inv, l, name);
  const run = openRun(l.cfg, l.d, inv.io.env);
  const abort = new AbortController();
  const onSigint = () => abort.abort(new ProvError('INTERRUPTED', 'interrupted'));
  if (follow) process.once('SIGINT', onSigint);
  const many = targets.length > 1;
  const streamJson = !human(inv);
  try {
    const { sessions } = sessionsFor(run, l.d, inv.spec.command);
    const results = await Promise.all(targets.map(async (tg) => {
      const collected: string[] = [];
      const errLines: string[] = [];
      const out = lineSplitter((line) => {
        if (!follow) { collected.push(line); return; }
        if (streamJson) inv.io.stdout.write(JSON.stringify({ server: tg.host, line }) + '\n');
        else inv.io.stdout.write(many ? `${tg.host} | ${line}\n` : `${line}\n`);
      });
      const err = lineSplitter((line) => errLines.push(line));
      try {
        const { t } = await sessions.get(tg.host);
        const r = await t.exec(['sh', '-c', LOGS_SCRIPT, 'prov-logs', name, String(lines), follow ? '1' : '0'], {
          ...(follow ? { signal: abort.signal } : { timeoutMs: 60_000 }), onStdout: (b) => out.push(b), onStderr: (b) => err.push(b),
        });
        out.flush();
        err.flush();
        if (r.code === 3) return { server: tg.host, ok: false, lines: collected, error: `no logs of ${name} found on ${tg.host}: looked for ${logPlaces(name)}`, code: 'NOT_FOUND' };
        if (r.code !== 0 && !follow) return { server: tg.host, ok: false, lines: collected, error: `reading the logs exited ${r.code}: ${[...errLines, ...r.stderr_tail].slice(-3).join(' ')}` };
        return { server: tg.host, ok: true, lines: collected };
      } catch (e) {
        out.flush();
        const pe = asProvError(e);
        if (pe.code === 'INTERRUPTED') return { server: tg.host, ok: true, lines: collected, interrupted: true };
        return { server: tg.host, ok: false, lines: collected, error: pe.message, code: pe.code };
      }
    }));
    const failed = results.filter((r) => !r.ok);
    if (failed.length === results.length && !results.some((r) => 'interrupted' in r)) {
      // nothing to show from any server: one error, with the convention when nothing was found
      const noLogs = failed.every((r) => r.code === 'NOT_FOUND');
      throw new ProvError(noLogs ? 'NOT_FOUND' : failed[0]!.code ?? 'OPERATION_FAILED', failed.map((r) => r.error).join('; '), {
        hint: noLogs ? `logs are found by convention (docs/taskserv-commands.md): a service of ${name} logs to the journal of a unit ${name}*, or to one of those files` : '`provisioning taskserv status` shows the servers\' state',
        location: { resource: `taskserv/${name}` },
      });
    }
    for (const r of failed) inv.warn(r.error!);
    if (follow) {
      const interrupted = results.some((r) => 'interrupted' in r);
      if (streamJson) inv.io.stdout.write(JSON.stringify({ taskserv: name, ended: interrupted ? 'interrupted' : 'closed', servers: results.map((r) => ({ server: r.server, ok: r.ok, ...(r.error ? { error: r.error } : {}) })) }) + '\n');
      return { data: undefined, exitCode: interrupted ? exitCodeFor('INTERRUPTED') : 0 };
    }
    const text = results.filter((r) => r.ok).map((r) => (many ? `── ${r.server} ──\n` : '') + r.lines.join('\n')).join('\n\n');
    return { data: results.map((r) => ({ server: r.server, ok: r.ok, lines: r.lines, ...(r.error ? { error: r.error } : {}) })), view: { kind: 'text', text } };
  } finally {
    process.removeListener('SIGINT', onSigint);
    await run.close();
  }
};

// ── taskserv versions | check-updates ────────────────────────────────────────────

export const versions: Handler = async (inv) => {
  const name = String(inv.args.name);
  const l = await load(inv);
  const { d } = l;
  requireKnown(d, l.records, name);
  const winner = d.catalog.winner('taskserv', name);
  const catalog = d.catalog.candidates('taskserv', name).map((c) => ({
    layer: c.layer, version: c.manifest?.extension.version ?? null, path: c.dir, usable: !c.problem && !!c.manifest, selected: c === winner,
  }));
  const rank = serverRank(d);
  const servers = taskservRecords(l.records, name).map((r) => {
    const want = (d.taskservs.get(hostOf(r)) ?? []).find((t) => t.name === name);
    const o = observedData(r);
    return { server: hostOf(r), version: r.version ?? null, software_version: typeof o.version === 'string' ? o.version : null, status: r.status, definition_wants: want?.version ?? null };
  }).sort((a, b) => rank(a.server) - rank(b.server));
  for (const h of definedOn(d, name)) {
    if (!servers.some((s) => s.server === h)) servers.push({ server: h, version: null, software_version: null, status: 'not installed', definition_wants: (d.taskservs.get(h) ?? []).find((t) => t.name === name)?.version ?? null });
  }
  return {
    data: { taskserv: name, catalog, servers },
    view: sectionsView([
      `AVAILABLE (catalog layers, the selected one marked *)\n${await tableText(['', 'layer', 'version', 'usable', 'path'], catalog.map((c) => [c.selected ? '*' : '', c.layer, c.version ?? '', c.usable ? 'yes' : 'no', c.path]))}`,
      servers.length ? `ON THE SERVERS OF INFRA ${d.infra}\n${await tableText(['server', 'version', 'software', 'status', 'definition'], servers.map((s) => [s.server, s.version ?? '', s.software_version ?? '', s.status, s.definition_wants ?? '']))}` : `not installed on any server of infra ${d.infra}`,
    ]),
  };
};

export const checkUpdates: Handler = async (inv) => {
  if (inv.flags['security-only'] === true) {
    throw new ProvError('NOT_IMPLEMENTED', '`--security-only` needs security advisories, and extension manifests carry none', { hint: 'without --security-only every newer version in the catalog is listed' });
  }
  const name = inv.args.name as string | undefined;
  const l = await load(inv);
  const { d } = l;
  if (name) {
    requireKnown(d, l.records, name);
    if (taskservRecords(l.records, name).length === 0) throw notInstalled(d, name);
  }
  const rank = serverRank(d);
  const rows = taskservRecords(l.records, name).map((r) => {
    const cand = d.catalog.winner('taskserv', r.name);
    const available = cand?.manifest?.extension.version ?? null;
    const installed = r.version ?? null;
    const state = !available ? 'not in the catalog'
      : !installed || !semver.valid(installed) || !semver.valid(available) ? 'unknown'
        : semver.gt(available, installed) ? 'update available' : semver.lt(available, installed) ? 'catalog is older' : 'up to date';
    return { name: r.name, server: hostOf(r), installed, available, layer: cand?.layer ?? null, state };
  }).sort((a, b) => a.name.localeCompare(b.name) || rank(a.server) - rank(b.server));
  const updates = rows.filter((r) => r.state === 'update available');
  if (rows.length === 0) inv.info(`no taskservs are installed in infra ${d.infra}`);
  else if (updates.length) inv.info(`\`provisioning taskserv update <name>\` upgrades: ${[...new Set(updates.map((r) => r.name))].join(', ')}`);
  return { data: rows, view: { kind: 'table', columns: ['name', 'server', 'installed', 'available', 'layer', 'state'], rows: rows.map((r) => [r.name, r.server, r.installed ?? '', r.available ?? '', r.layer ?? '', r.state]) } };
};

// ── cluster list | status ─────────────────────────────────────────────────────────

interface ClusterView { name: string; extension: string | null; components: { name: string; taskserv: string; servers: string[] }[]; record?: ResourceState; defined: boolean }

function clustersOf(l: Loaded): ClusterView[] {
  const recs = l.records.filter((r) => r.kind === 'cluster');
  const out: ClusterView[] = l.d.clusters.map((c) => ({
    name: c.name, extension: c.extension ?? null, components: c.components.map((x) => ({ name: x.name, taskserv: x.taskserv, servers: x.servers })),
    ...(recs.find((r) => r.name === c.name) ? { record: recs.find((r) => r.name === c.name)! } : {}), defined: true,
  }));
  for (const r of recs.filter((x) => live(x) && !out.some((c) => c.name === x.name))) {
    const a = r.applied as { extension?: string; components?: { name: string; taskserv: string; servers: string[] }[] };
    out.push({ name: r.name, extension: a.extension ?? null, components: a.components ?? [], record: r, defined: false });
  }
  return out;
}

const componentRecord = (l: Loaded, taskserv: string, host: string) => taskservRecords(l.records).find((r) => r.name === taskserv && hostOf(r) === host);

/** `cluster list`: the infra's clusters (defined or recorded); `--available` (or outside an infra): the catalog. */
export const clusterList: Handler = async (inv) => {
  if (inv.flags.available === true) return catalogClusterList(inv);
  const cfg = await inv.config();
  if (!cfg.target.workspace || (!cfg.target.infra && !inv.globals.settings)) {
    inv.info(`no ${cfg.target.workspace ? 'infra' : 'workspace'} selected: showing the clusters of the catalog (as with --available)`);
    return catalogClusterList(inv);
  }
  const l = await load(inv);
  const rows = clustersOf(l).map((c) => {
    const members = c.components.flatMap((x) => x.servers.map((h) => componentRecord(l, x.taskserv, h)));
    const ready = members.filter((r) => r?.status === 'ready').length;
    const status = c.record && live(c.record) ? c.record.status : 'not created';
    return {
      name: c.name, extension: c.extension, taskservs: [...new Set(c.components.map((x) => x.taskserv))], servers: [...new Set(c.components.flatMap((x) => x.servers))],
      status, members_ready: `${ready}/${members.length}`, defined: c.defined,
    };
  });
  return {
    data: rows,
    view: { kind: 'table', columns: ['name', 'extension', 'taskservs', 'servers', 'status', 'members ready'], rows: rows.map((r) => [r.name, r.extension ?? '', r.taskservs.join(', '), r.servers.join(', '), r.defined ? r.status : `${r.status} (not in the definition)`, r.members_ready]) },
  };
};

export const clusterStatus: Handler = async (inv) => {
  const name = String(inv.args.name);
  const l = await load(inv);
  const all = clustersOf(l);
  const c = all.find((x) => x.name === name);
  if (!c) {
    const near = closest(name, all.map((x) => x.name), 1)[0];
    throw new ProvError('NOT_FOUND', `cluster '${name}' is not defined in infra '${l.d.infra}'`, { hint: near ? `did you mean '${near}'?` : `defined: ${all.map((x) => x.name).join(', ') || '(none)'}; \`provisioning cluster list --available\` shows the catalog`, location: { resource: `cluster/${name}` } });
  }
  const order = l.d.clusters.find((x) => x.name === name)?.order ?? c.components.map((x) => x.name);
  const components = order.map((n) => c.components.find((x) => x.name === n)!).filter(Boolean).flatMap((x) => x.servers.map((host) => {
    const r = componentRecord(l, x.taskserv, host);
    const lc = r ? lastCheck(r) : undefined;
    const o = r ? observedData(r) : {};
    return {
      component: x.name, taskserv: x.taskserv, server: host, state: r ? r.status : 'not installed', version: r?.version ?? null,
      running: typeof o.running === 'boolean' ? o.running : null, last_check: lc ?? null, error: r?.status === 'error' ? o.error?.message ?? null : null,
    };
  }));
  const status = c.record && live(c.record) ? c.record.status : 'not created';
  const cc = colors(useColor(inv));
  const checkCell = (lc: LastCheck | null) => (!lc ? '' : `${lc.ok ? 'ok' : cc.red(`failed${lc.failed ? ` (${lc.failed})` : ''}`)} at ${lc.at} by ${lc.by}`);
  const stateCell = (x: (typeof components)[number]) => (x.running === false && x.state === 'ready' ? 'ready (stopped)' : x.state) + (x.error ? `: ${x.error}` : '');
  return {
    data: { cluster: name, infra: l.d.infra, extension: c.extension, status, defined: c.defined, updated_at: c.record?.updated_at ?? null, components },
    view: sectionsView([
      await kvText([['cluster', `${name}${c.extension && c.extension !== name ? ` (extension ${c.extension})` : ''} · infra ${l.d.infra}`], ['status', c.defined ? status : `${status} (not in the definition)`], ['order', order.join(' → ')], ['updated', c.record?.updated_at]]),
      await tableText(['component', 'taskserv', 'server', 'state', 'version', 'last check'], components.map((x) => [x.component, x.taskserv, x.server, stateCell(x), x.version ?? '', checkCell(x.last_check)])),
    ]),
  };
};

// ── taskserv generate [--scaffold] ────────────────────────────────────────────────

/** The scaffold's files, with `__NAME__` standing for the taskserv's name (in paths and content). */
const SCAFFOLD_DIR = fileURLToPath(new URL('../../../../templates/taskserv/', import.meta.url));

function scaffoldFiles(name: string): { rel: string; content: string; mode: number }[] {
  const out: { rel: string; content: string; mode: number }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push({ rel: relative(SCAFFOLD_DIR, p).replaceAll('__NAME__', name), content: readFileSync(p, 'utf8').replaceAll('__NAME__', name), mode: e.name.endsWith('.sh') ? 0o755 : 0o644 });
    }
  };
  walk(SCAFFOLD_DIR);
  return out;
}

/**
 * `taskserv generate <name>`: add the taskserv to the infra definition (same as `generate
 * taskserv`); with `--scaffold`, write a new taskserv extension into the workspace layer instead.
 */
export const generate: Handler = async (inv) => {
  if (inv.flags.scaffold !== true) {
    const { generateTaskserv } = await import('./infra-generate.js');
    try {
      return await generateTaskserv(inv);
    } catch (err) {
      const e = asProvError(err);
      if (e.code === 'NOT_FOUND' && e.message.startsWith('unknown taskserv')) {
        throw new ProvError('NOT_FOUND', e.message, { hint: `${e.hint ? `${e.hint} — or, ` : ''}to write a new taskserv extension: \`provisioning taskserv generate ${String(inv.args.name)} --scaffold\``, location: { resource: `taskserv/${String(inv.args.name)}` } });
      }
      throw e;
    }
  }
  const name = String(inv.args.name);
  const why = nameProblem(name);
  if (why) throw new ProvError('INVALID_ARGUMENT', `taskserv name '${name}': ${why}`, { hint: `did you mean '${suggestName(name)}'?` });
  if (serversFlag(inv)) throw new ProvError('USAGE', '--scaffold writes an extension and touches no infra: --servers does not apply', { hint: `scaffold first, then \`provisioning taskserv generate ${name} --servers <server>\` adds it to servers` });
  const cfg = await inv.config({ requireWorkspace: true });
  const ws = cfg.target.workspace!;
  const dir = join(ws.path, 'extensions', 'taskservs', name);
  const force = inv.flags.force === true;
  if (existsSync(dir) && !force) {
    throw new ProvError('ALREADY_EXISTS', `${relative(ws.path, dir)} already exists`, { hint: '--force writes the scaffold files over it (other files stay)', location: { file: dir } });
  }
  const { loadCatalog } = await import('../../extensions/catalog.js');
  const catalog = loadCatalog(ws.path, undefined, { cacheDir: cfg.dirs.cacheHome });
  const other = catalog.candidates('taskserv', name).find((c) => c.layer !== 'workspace');
  if (other && !force) {
    throw new ProvError('ALREADY_EXISTS', `a taskserv '${name}' exists in the ${other.layer} layer; a workspace scaffold of that name would replace it in this workspace`, {
      hint: `pick another name, or pass --force to shadow it (\`provisioning module load taskserv ${name}\` copies the real one to edit instead)`,
    });
  }
  const files = scaffoldFiles(name);
  const shown = (rel: string) => join(relative(ws.path, dir), rel);
  if (inv.globals.check) {
    return {
      data: { check: true, taskserv: name, dir, files: files.map((f) => ({ path: shown(f.rel), action: existsSync(join(dir, f.rel)) ? 'update' : 'create' })) },
      view: { kind: 'text', text: [`Check mode — nothing will be changed   workspace ${ws.name} · taskserv ${name} (workspace layer)`, '', ...files.map((f) => `  ${existsSync(join(dir, f.rel)) ? 'update' : 'create'}  ${shown(f.rel)}`)].join('\n') },
    };
  }
  for (const f of files) {
    const p = join(dir, f.rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, f.content, { mode: f.mode });
  }
  // the scaffold must validate as written; a failure here is a bug of the scaffold itself
  const v = validateExtensionDir(dir, catalog);
  if (v.errors.length) throw new ProvError('DEFINITION_INVALID', `the scaffold written to ${dir} does not validate: ${v.errors[0]!.message}`, { details: { errors: v.errors, warnings: v.warnings } });
  if (other) inv.warn(`the workspace taskserv '${name}' now replaces the ${other.layer} one in this workspace`);
  const next = [
    `provisioning validate extension ${shown('')}`,
    `provisioning taskserv generate ${name} --servers <server>   # add it to a server of the infra`,
    `provisioning taskserv create ${name}`,
  ];
  return {
    data: { taskserv: name, dir, layer: 'workspace', files: files.map((f) => shown(f.rel)), valid: true, next },
    view: { kind: 'text', text: [`taskserv ${name} scaffolded in ${shown('')} (workspace layer), valid:`, ...files.map((f) => `  ${shown(f.rel)}${statSync(join(dir, f.rel)).mode & 0o100 ? ' (executable)' : ''}`), '', 'next:', ...next.map((n) => `  ${n}`)].join('\n') },
  };
};
