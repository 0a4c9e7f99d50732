/**
 * `orchestrator start|stop|restart|status|health|logs` (spec/cli.md §19). The service is
 * dist/src/orchestrator/main.js, started detached with its PID in
 * `<state>/orchestrator.pid` and its output in `<logs>/orchestrator.log` (paths.state,
 * paths.logs: `<workspace>/.provisioning/…` by default), or in this process with --foreground.
 * status and health ask its API.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/index.js';
import { parseDuration } from '../../config/schema.js';
import { EXIT, ProvError } from '../../errors/index.js';
import { OrchestratorClient } from '../../orchestrator/client.js';
import type { Invocation, Result } from '../context.js';

const MAIN = fileURLToPath(new URL('../../orchestrator/main.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;

interface Service { cfg: Config; wsPath: string; pidFile: string; logFile: string; host: string; port: number; url: string }

async function service(inv: Invocation, cfg?: Config): Promise<Service> {
  const c = cfg ?? await inv.config({ requireWorkspace: true });
  const raw = inv.flags.port as string | undefined;
  const port = raw === undefined ? Number(c.get('orchestrator.port')) : Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ProvError('INVALID_ARGUMENT', `--port expects a port number from 1 to 65535; got '${raw}'`);
  const host = String(c.get('orchestrator.host'));
  return {
    cfg: c, wsPath: c.target.workspace!.path, pidFile: join(String(c.get('paths.state')), 'orchestrator.pid'), logFile: join(String(c.get('paths.logs')), 'orchestrator.log'),
    host, port, url: raw === undefined ? String(c.get('orchestrator.url')) : `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
  };
}

const clientOf = (inv: Invocation, s: Service) => new OrchestratorClient(s.url, { ...(inv.io.env.PROVISIONING_AUTH_TOKEN ? { token: inv.io.env.PROVISIONING_AUTH_TOKEN } : {}), timeoutMs: 5_000 });

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** The PID of the running service, or undefined (a stale PID file — dead, or reused by another program — is removed). */
function runningPid(s: Service): number | undefined {
  if (!existsSync(s.pidFile)) return undefined;
  const pid = Number(readFileSync(s.pidFile, 'utf8').trim());
  let ours = Number.isInteger(pid) && pid > 0 && alive(pid);
  if (ours && existsSync(`/proc/${pid}/cmdline`)) ours = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('orchestrator/main.js');
  if (ours) return pid;
  rmSync(s.pidFile, { force: true });
  return undefined;
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, host, () => srv.close(() => res(true)));
  });
}

/** The store as people may see it: the SQLite file, or the PostgreSQL URL without its password. */
function storeText(cfg: Config): string {
  const url = String(cfg.get('orchestrator.storage.url'));
  if (url.startsWith('sqlite://')) return `sqlite ${decodeURIComponent(url.slice('sqlite://'.length))}`;
  try { const u = new URL(url); u.password = ''; return `postgres ${u.toString()}`; } catch { return String(cfg.get('orchestrator.storage.type')); }
}

function tail(file: string, n: number): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l, i, a) => l !== '' || i < a.length - 1).slice(-n);
}

/**
 * Start the service detached and wait until its health endpoint answers; if it exits first, the
 * log's last lines say why (exit 1). Also used by execution.auto_start_orchestrator.
 */
export async function startDetached(inv: Invocation, cfg?: Config): Promise<{ pid: number; url: string; s: Service }> {
  const s = await service(inv, cfg);
  await refuseRunning(s);
  mkdirSync(join(s.logFile, '..'), { recursive: true });
  const fd = openSync(s.logFile, 'a');
  const child = spawn(process.execPath, [MAIN, '--workspace', s.wsPath, '--port', String(s.port)], { detached: true, stdio: ['ignore', fd, fd], env: inv.io.env as NodeJS.ProcessEnv, cwd: s.wsPath });
  closeSync(fd);
  let exited: number | string | null | undefined;
  child.once('exit', (code, signal) => { exited = code ?? signal; });
  child.unref();
  const pid = child.pid!;
  writeFileSync(s.pidFile, `${pid}\n`);
  const client = clientOf(inv, s);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (exited === undefined && Date.now() < deadline) {
    if (await client.probe(1_000)) return { pid, url: s.url, s };
    await new Promise((r) => setTimeout(r, 150));
  }
  if (exited === undefined) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  rmSync(s.pidFile, { force: true });
  throw new ProvError('OPERATION_FAILED', exited === undefined ? `the orchestrator did not answer at ${s.url} within ${START_TIMEOUT_MS / 1000}s (stopped it)` : `the orchestrator exited (${exited}) before it answered at ${s.url}`, {
    details: { log: s.logFile, output_tail: tail(s.logFile, 20) }, hint: `\`provisioning orchestrator logs\` shows ${s.logFile}`,
  });
}

async function refuseRunning(s: Service): Promise<void> {
  const pid = runningPid(s);
  if (pid) throw new ProvError('ALREADY_EXISTS', `the orchestrator of this workspace is already running (pid ${pid}, ${s.url})`, { hint: '`provisioning orchestrator restart` restarts it', details: { resource_type: 'orchestrator', id: String(pid) } });
  if (!(await portFree(s.host, s.port))) throw new ProvError('ALREADY_EXISTS', `port ${s.port} on ${s.host} is in use by another program`, { hint: 'pass --port <n>, or set orchestrator.port', details: { resource_type: 'port', id: String(s.port) } });
}

export async function start(inv: Invocation): Promise<Result> {
  const s = await service(inv);
  if (inv.globals.check) {
    const pid = runningPid(s);
    const free = await portFree(s.host, s.port);
    const data = { check: true, host: s.host, port: s.port, url: s.url, store: storeText(s.cfg), data: String(s.cfg.get('paths.state')), log: s.logFile, pid_file: s.pidFile, port_free: free, running_pid: pid ?? null };
    return { data, view: { kind: 'kv', entries: [['check', 'nothing will be started'], ['listen', `${s.host}:${s.port}`], ['url', s.url], ['store', data.store], ['data', data.data], ['log', s.logFile], ['port free', free ? 'yes' : 'no (in use)'], ['running', pid ? `yes (pid ${pid})` : 'no']] } };
  }
  if (inv.flags.foreground) return foreground(inv, s);
  const { pid } = await startDetached(inv, s.cfg);
  if (inv.flags.port !== undefined && s.url !== String(s.cfg.get('orchestrator.url'))) inv.warn(`clients use orchestrator.url (${String(s.cfg.get('orchestrator.url'))}); set orchestrator.port = ${s.port} so they find this one`);
  return { data: { status: 'running', pid, url: s.url, log: s.logFile, pid_file: s.pidFile }, view: { kind: 'text', text: `orchestrator running at ${s.url} (pid ${pid})\nlog: ${s.logFile}\n` } };
}

/** In this process's place (containers, systemd): signals are passed on, its exit code is ours. */
async function foreground(inv: Invocation, s: Service): Promise<Result> {
  await refuseRunning(s);
  const child = spawn(process.execPath, [MAIN, '--workspace', s.wsPath, '--port', String(s.port)], { stdio: 'inherit', env: inv.io.env as NodeJS.ProcessEnv, cwd: s.wsPath });
  writeFileSync(s.pidFile, `${child.pid}\n`);
  const pass = (sig: NodeJS.Signals) => () => child.kill(sig);
  const onInt = pass('SIGINT');
  const onTerm = pass('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const code = await new Promise<number>((res) => child.once('exit', (c, sig) => res(c ?? (sig === 'SIGINT' ? EXIT.INTERRUPTED : EXIT.FAILED))));
    return { data: undefined, view: { kind: 'text', text: '' }, exitCode: code };
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
    rmSync(s.pidFile, { force: true });
  }
}

/** Running workflows of the store the service shares with the CLI (checkpointed by a stop). */
async function runningWorkflows(cfg: Config): Promise<string[]> {
  const { openWorkflowStore } = await import('../../engine/host.js');
  const store = await openWorkflowStore(cfg);
  try {
    return (await store.listWorkflows({ status: ['running', 'cancelling', 'rolling_back'], execution: ['orchestrated'] }, { limit: 1000, offset: 0 })).rows.map((w) => `${w.id} (${w.name}, ${w.status})`);
  } finally {
    await store.close();
  }
}

async function stopService(inv: Invocation, s: Service): Promise<{ pid?: number; stopped: boolean }> {
  const pid = runningPid(s);
  if (!pid) return { stopped: false };
  const force = inv.flags.force === true;
  process.kill(pid, force ? 'SIGKILL' : 'SIGTERM');
  const graceMs = parseDuration(s.cfg.get('orchestrator.shutdown_grace'))! + 15_000;
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) throw new ProvError('WAIT_TIMEOUT', `the orchestrator (pid ${pid}) is still stopping after ${graceMs / 1000}s`, { hint: '`provisioning orchestrator stop --force` kills it; its running steps resume on the next start' });
  rmSync(s.pidFile, { force: true });
  return { pid, stopped: true };
}

async function confirmStop(inv: Invocation, s: Service): Promise<Result | undefined> {
  const pid = runningPid(s);
  const running = pid ? await runningWorkflows(s.cfg) : [];
  if (inv.globals.check) {
    return { data: { check: true, running: Boolean(pid), pid: pid ?? null, workflows: running }, view: { kind: 'text', text: pid ? `would stop the orchestrator (pid ${pid})${running.length ? `; these running workflows checkpoint and resume on the next start:\n${running.map((r) => `  ${r}`).join('\n')}` : '; no workflow is running'}\n` : 'the orchestrator is not running: nothing to stop\n' } };
  }
  if (running.length) {
    inv.info(`running workflows (they checkpoint and resume on the next start):\n${running.map((r) => `  ${r}`).join('\n')}`);
    await inv.confirm(`stop the orchestrator with ${running.length} running workflow(s)?`);
  }
  return undefined;
}

export async function stop(inv: Invocation): Promise<Result> {
  const s = await service(inv);
  const early = await confirmStop(inv, s);
  if (early) return early;
  const r = await stopService(inv, s);
  return { data: { stopped: r.stopped, pid: r.pid ?? null }, view: { kind: 'text', text: r.stopped ? `orchestrator stopped (pid ${r.pid})\n` : 'the orchestrator is not running\n' } };
}

export async function restart(inv: Invocation): Promise<Result> {
  const s = await service(inv);
  const early = await confirmStop(inv, s);
  if (early) return early;
  await stopService(inv, s);
  const { pid } = await startDetached(inv, s.cfg);
  return { data: { status: 'running', pid, url: s.url, log: s.logFile }, view: { kind: 'text', text: `orchestrator restarted at ${s.url} (pid ${pid})\n` } };
}

export async function status(inv: Invocation): Promise<Result> {
  const s = await service(inv);
  const pid = runningPid(s) ?? null;
  const client = clientOf(inv, s);
  const health = await client.probe(parseDuration(s.cfg.get('execution.probe_timeout'))!);
  if (!health) {
    const data = { status: 'down', url: s.url, pid, store: storeText(s.cfg), log: s.logFile };
    return { data, view: { kind: 'kv', entries: [['status', 'down'], ['url', s.url], ['store', data.store], ['log', s.logFile], ['start', 'provisioning orchestrator start']] } };
  }
  const optional = <T>(p: Promise<T>) => p.catch(() => undefined);
  const [version, metrics, workers] = await Promise.all([optional(client.version()), optional(client.systemMetrics()), optional(client.workers())]);
  const data = {
    status: 'up', health: health.status, url: s.url, pid, version: version?.version ?? health.version ?? null, store: version?.store ? `${version.store}` : storeText(s.cfg),
    queue_depth: metrics?.queue_depth ?? null, running_workflows: metrics?.workflows?.active ?? null, workers: workers?.length ?? metrics?.workers?.instances ?? null,
    uptime_s: health.uptime_s ?? null, log: s.logFile,
  };
  const show = (v: unknown) => (v === null || v === undefined ? '?' : String(v));
  return { data, view: { kind: 'kv', entries: [['status', `up (${health.status})`], ['url', s.url], ['pid', show(pid)], ['version', show(data.version)], ['store', data.store], ['queue depth', show(data.queue_depth)], ['running workflows', show(data.running_workflows)], ['workers', show(data.workers)], ['uptime', data.uptime_s === null ? '?' : `${Math.round(data.uptime_s)}s`], ['log', s.logFile]] } };
}

export async function health(inv: Invocation): Promise<Result> {
  const s = await service(inv);
  const h = await clientOf(inv, s).health();
  const comps = Object.entries(h.components ?? {});
  return {
    data: h,
    view: { kind: 'table', columns: ['component', 'status', 'latency', 'message'], rows: [['orchestrator', h.status, '', `${s.url}${h.version ? ` · ${h.version}` : ''}`], ...comps.map(([k, v]) => [k, v.status, v.latency_ms === undefined ? '' : `${v.latency_ms} ms`, v.message ?? ''])] },
    exitCode: h.status === 'healthy' ? EXIT.OK : EXIT.FAILED,
  };
}

export async function logs(inv: Invocation): Promise<Result> {
  const s = await service(inv);
  const raw = inv.flags.lines as string | undefined;
  const n = raw === undefined ? 50 : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ProvError('INVALID_ARGUMENT', `--lines expects a whole number; got '${raw}'`);
  if (!existsSync(s.logFile)) throw new ProvError('NOT_FOUND', `no orchestrator log at ${s.logFile}`, { hint: '`provisioning orchestrator start` writes it' });
  const lines = tail(s.logFile, n);
  if (!inv.flags.follow) return { data: lines, view: { kind: 'text', text: lines.join('\n') } };
  inv.io.stdout.write(lines.map((l) => `${l}\n`).join(''));
  // like `tail -f`: print what is appended until Ctrl-C
  let pos = statSync(s.logFile).size;
  await new Promise<void>((res) => {
    const timer = setInterval(() => {
      const size = existsSync(s.logFile) ? statSync(s.logFile).size : 0;
      if (size < pos) pos = 0; // truncated or replaced
      if (size > pos) {
        const fd = openSync(s.logFile, 'r');
        const buf = Buffer.alloc(size - pos);
        readSync(fd, buf, 0, buf.length, pos);
        closeSync(fd);
        pos = size;
        inv.io.stdout.write(buf);
      }
    }, 250);
    process.once('SIGINT', () => { clearInterval(timer); res(); });
  });
  return { data: undefined, view: { kind: 'text', text: '' }, exitCode: EXIT.INTERRUPTED };
}
