// bench/orchestrator: submit latency of the real HTTP service. The service runs in a child process
// (service.mjs) on a fresh workspace (SQLite: its state.db; PostgreSQL: a fresh database); 50 clients
// with keep-alive connections each POST /api/v1/batches back to back, a 1-operation local script
// workflow per request; each request's latency is measured by the client, send to full response.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshDatabase } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(resolve(here, '..', '..'), 'bin', 'provisioning.js');
const BATCH = { name: 'b', operations: [{ id: 'a', type: 'script', target: { run: 'true' } }] };
const WARMUP = 100;

function post(agent, url, body) {
  return new Promise((res, rej) => {
    const t = process.hrtime.bigint();
    const req = http.request(`${url}/api/v1/batches`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d) => { body += d; });
      r.on('end', () => (r.statusCode === 202 ? res(Number(process.hrtime.bigint() - t) / 1e6) : rej(new Error(`POST /api/v1/batches: ${r.statusCode} ${body}`))));
    });
    req.on('error', rej);
    req.end(body);
  });
}

/**
 * `total` requests from `clients` concurrent clients; latencies in ms, and the wall time. Without
 * `rate`, each client sends back to back (saturation: latency is queueing); with `rate` (requests/s
 * for all clients together) each client sends on a fixed schedule, staggered, so the latency is
 * what a request meets at that load.
 */
async function load(agent, url, clients, total, body, rate) {
  const lat = [];
  let sent = 0;
  const t = process.hrtime.bigint();
  const start = Date.now();
  const every = rate ? (clients * 1000) / rate : 0;
  await Promise.all(Array.from({ length: clients }, async (_, i) => {
    for (let k = 0; sent < total; k++) {
      if (every) {
        const due = start + (i * every) / clients + k * every;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        if (sent >= total) break;
      }
      sent++;
      lat.push(await post(agent, url, body));
    }
  }));
  return { lat, seconds: Number(process.hrtime.bigint() - t) / 1e9 };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/**
 * `deferred`: each batch asks to start a day later (`not_before`), so the engine stays idle and only
 * the submit path is measured; otherwise the engine runs the submitted scripts meanwhile.
 */
export async function submitLatency(kind, { clients, total, deferred = false, rate }) {
  const body = JSON.stringify({ ...BATCH, ...(deferred ? { not_before: new Date(Date.now() + 86_400_000).toISOString() } : {}) });
  const home = mkdtempSync(join(tmpdir(), 'prov-bench-submit-'));
  const env = { ...process.env, HOME: home, PROVISIONING_HOME: home };
  const ws = join(home, 'bench');
  const init = spawnSync(process.execPath, [bin, 'workspace', 'init', 'bench', ws, '--template', 'minimal'], { cwd: home, env, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`workspace init failed: ${init.stderr}`);
  const db = kind === 'postgres' ? await freshDatabase() : undefined;
  const child = spawn(process.execPath, ['--no-warnings', ...(process.env.BENCH_SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? []), join(here, 'service.mjs'), ws, ...(db ? [db.url] : [])], { cwd: ws, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  try {
    const url = await new Promise((res, rej) => {
      let out = '';
      child.stdout.on('data', (d) => { out += d; const m = /listening (\S+)/.exec(out); if (m) res(m[1]); });
      child.once('exit', (code) => rej(new Error(`the service exited (${code}) before listening`)));
      setTimeout(() => rej(new Error('the service did not listen within 30 s')), 30_000).unref();
    });
    await load(agent, url, clients, WARMUP, body);
    const { lat, seconds } = await load(agent, url, clients, total, body, rate);
    lat.sort((a, b) => a - b);
    return { n: lat.length, p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99), max: lat.at(-1), perSec: lat.length / seconds };
  } finally {
    agent.destroy();
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    await db?.drop();
    rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await submitLatency(process.argv[2] ?? 'sqlite', { clients: 50, total: Number(process.argv[3] ?? 500), deferred: process.argv[4] === 'deferred' })));
}
