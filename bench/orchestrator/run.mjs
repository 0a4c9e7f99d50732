// bench/orchestrator: the durable workflow engine and the orchestrator service (issue 6 item 7).
//  1. durable no-op operations per second through the real engine (src/engine/worker.ts) on SQLite
//     and on PostgreSQL: a runner that does nothing, so what is measured is the engine and the
//     store (every completion settled, checkpointed and evented); 4 workflows × 1000 operations
//  2. graphile-worker on the same PostgreSQL server, the same number of no-op jobs, concurrency = the
//     engine's capacity; by default, and with its batching options
//  3. submit latency: 50 concurrent clients POSTing a 1-operation batch to the real HTTP service
//  4. restart to resumed work after kill -9 of an engine process (SQLite)
// Each throughput run is a fresh process (throughput.mjs), the kinds interleaved in each repetition so
// machine noise hits all. Medians and ratios go to docs/performance.md.
//   BENCH_REPS=3          repetitions at capacity 100 (capacity 10: BENCH_REPS_10, default 1)
//   BENCH_OPS=4x1000      workflows × operations per workflow (jobs for graphile-worker: the product)
//   BENCH_RESUME=5        kill -9 repetitions
//   BENCH_SUBMITS=1000    requests per store and case for the submit latency
//   BENCH_PACED_RATE=100  submits/s of the 50 clients together in the paced case
//   BENCH_PROFILE=1       one more profiled run per store (not in the medians): where the time goes
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, median, writeSection } from '../lib/report.mjs';
import { pgVersion } from './lib.mjs';
import { summariseCpuProfile } from './profile.mjs';
import { resumeOnce } from './resume.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const reps = Number(process.env.BENCH_REPS ?? 3);
const reps10 = Number(process.env.BENCH_REPS_10 ?? 1);
const [W, N] = (process.env.BENCH_OPS ?? '4x1000').split('x').map(Number);
const resumeReps = Number(process.env.BENCH_RESUME ?? 5);
const submits = Number(process.env.BENCH_SUBMITS ?? 1000);
// the paced case: 50 clients together at this many submits per second, engine busy
const PACED_RATE = Number(process.env.BENCH_PACED_RATE ?? 100);
const profiling = process.env.BENCH_PROFILE !== '0';
const log = (...a) => console.error(`[orchestrator ${new Date().toISOString().slice(11, 19)}]`, ...a);
const loadAtStart = loadavg()[0];
const commit = (() => {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  return head ? `${head}${dirty ? ' with uncommitted changes in src/' : ''}` : 'unknown';
})();
const gwVersion = createRequire(import.meta.url)('graphile-worker/package.json').version;
const pgServer = await pgVersion();
const f0 = (x) => x.toFixed(0);
const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);
const num = (x) => Math.round(x).toLocaleString('en-US');

function throughput(kind, capacity, nodeArgs = [], env = {}) {
  const r = spawnSync(process.execPath, [...nodeArgs, join(here, 'throughput.mjs'), kind, String(capacity), String(W), String(N)],
    { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`throughput ${kind} ${capacity} failed (${r.status}):\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
  log(`${kind} capacity ${capacity}: ${f0(out.opsPerSec)} ops/s (${f2(out.seconds)} s${out.rounds ? `, ${out.rounds} rounds` : ''})`);
  return out;
}

// ── 1 + 2: throughput ──────────────────────────────────────────────────────────
const KINDS = ['sqlite', 'postgres', 'graphile', 'graphile-batched'];
const runs = {};
for (const [capacity, n] of [[100, reps], [10, reps10]]) {
  for (let i = 0; i < n; i++) {
    // the order rotates, so no kind always runs first (or right after the heaviest)
    const order = KINDS.map((_, j) => KINDS[(i + j) % KINDS.length]);
    for (const kind of order) (runs[`${kind}/${capacity}`] ??= []).push(throughput(kind, capacity));
  }
}
const rate = (kind, capacity) => median(runs[`${kind}/${capacity}`].map((r) => r.opsPerSec));
const secs = (kind, capacity) => median(runs[`${kind}/${capacity}`].map((r) => r.seconds));

// ── 3: submit latency ──────────────────────────────────────────────────────────
let submit;
if (existsSync(join(root, 'dist', 'src', 'orchestrator', 'server.js'))) {
  const { submitLatency } = await import('./submit.mjs');
  submit = {};
  for (const kind of ['sqlite', 'postgres']) {
    for (const [suffix, o] of [['', {}], ['/deferred', { deferred: true }], ['/paced', { rate: PACED_RATE }]]) {
      const k = `${kind}${suffix}`;
      submit[k] = await submitLatency(kind, { clients: 50, total: submits, ...o });
      log(`submit ${k}: p50 ${f2(submit[k].p50)} ms, p99 ${f2(submit[k].p99)} ms, ${f0(submit[k].perSec)} req/s`);
    }
  }
} else log('no dist/src/orchestrator/server.js: submit latency skipped');

// ── 4: restart after kill -9 ───────────────────────────────────────────────────
const resumes = [];
for (let i = 0; i < resumeReps; i++) {
  resumes.push(await resumeOnce());
  log(`resume: first completion ${resumes.at(-1).firstMs} ms after the new process was spawned`);
}
const rmed = (k) => median(resumes.map((r) => r[k]));

// ── profile ────────────────────────────────────────────────────────────────────
const profiles = {};
if (profiling) {
  for (const kind of ['sqlite', 'postgres']) {
    const dir = mkdtempSync(join(tmpdir(), 'prov-bench-orch-prof-'));
    const out = throughput(kind, 100, ['--cpu-prof', `--cpu-prof-dir=${dir}`], { BENCH_QUERY_TIMES: '1' });
    profiles[kind] = { out, cpu: summariseCpuProfile(dir, out.window[0], out.window[1]) };
    rmSync(dir, { recursive: true, force: true });
  }
}

// ── report ─────────────────────────────────────────────────────────────────────
const loadAtEnd = loadavg()[0];
const pgRatio = rate('postgres', 100) / rate('graphile', 100);
const goals = [
  `SQLite ≥ 2,000 ops/s: ${num(rate('sqlite', 100))} at capacity 100 (**${rate('sqlite', 100) >= 2000 ? 'met' : 'missed'}**)`,
  `PostgreSQL ≥ graphile-worker: ${num(rate('postgres', 100))} against ${num(rate('graphile', 100))} ops/s, ${f2(pgRatio)}× (**${pgRatio >= 1 ? 'met' : 'missed'}**; against its batched mode ${f2(rate('postgres', 100) / rate('graphile-batched', 100))}×)`,
  submit ? `submit p99 ≤ 10 ms (50 clients sending back to back): SQLite ${f1(submit.sqlite.p99)} ms, submit only ${f1(submit['sqlite/deferred'].p99)} ms (**${submit.sqlite.p99 <= 10 ? 'met' : 'missed'}**); PostgreSQL ${f1(submit.postgres.p99)} ms, submit only ${f1(submit['postgres/deferred'].p99)} ms (**${submit.postgres.p99 <= 10 ? 'met' : 'missed'}**); at ${PACED_RATE} submits/s from the 50 clients (engine busy): SQLite ${f1(submit['sqlite/paced'].p99)} ms, PostgreSQL ${f1(submit['postgres/paced'].p99)} ms`
    : 'submit p99 ≤ 10 ms: not measured (the service was not built)',
  `resume ≤ 2 s: ${f0(rmed('firstMs'))} ms (**${rmed('firstMs') <= 2000 ? 'met' : 'missed'}**)`,
];

const label = { sqlite: 'Provisioning engine, SQLite', postgres: 'Provisioning engine, PostgreSQL', graphile: 'graphile-worker (defaults)', 'graphile-batched': 'graphile-worker (local queue + batched completions)' };
const tRows = [];
for (const capacity of [100, 10]) {
  for (const kind of KINDS) {
    const rs = runs[`${kind}/${capacity}`];
    tRows.push(`| ${label[kind]} | ${capacity} | ${rs.length} | ${f2(secs(kind, capacity))} | ${num(rate(kind, capacity))} | ${f2(rate(kind, capacity) / rate('graphile', capacity))} | ${kind.startsWith('graphile') ? '' : median(rs.map((r) => r.rounds))} |`);
  }
}

const submitTable = submit ? `
**Submit latency.** The real HTTP service (\`createOrchestrator\`, src/orchestrator/server.ts) in a process of its
own (bench/orchestrator/service.mjs) on a fresh workspace, listening on 127.0.0.1, its engine running (capacity =
the default); 50 clients in the bench process (node:http, keep-alive) each POST \`/api/v1/batches\` back to back
with a 1-operation local script workflow (\`true\`), ${num(submits)} requests per case after 100 warm-up requests;
latency measured by the client per request (send to full response). "engine busy": the engine runs the
submitted batches meanwhile (a shell per batch), as a loaded service would; "submit only": each batch has
\`not_before\` a day later, so the engine stays idle and only the submit path is measured; "paced": the 50 clients
send on a fixed, staggered schedule, ${PACED_RATE} submits/s together, the engine busy — the latency a request meets at
that load rather than the queueing of a saturated service. Client and service
share the machine's ${cpus().length} cores.

| store | case | requests | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | requests/s |
|---|---|---:|---:|---:|---:|---:|---:|
${Object.entries(submit).map(([k, r]) => `| ${k.startsWith('sqlite') ? 'SQLite' : 'PostgreSQL'} | ${k.endsWith('deferred') ? 'submit only' : k.endsWith('paced') ? `paced, ${PACED_RATE}/s` : 'engine busy'} | ${num(r.n)} | ${f1(r.p50)} | ${f1(r.p90)} | ${f1(r.p99)} | ${f1(r.max)} | ${num(r.perSec)} |`).join('\n')}
` : '\n**Submit latency**: not measured in this run (dist/src/orchestrator/server.js was missing).\n';

const profileText = profiling ? `
**Where the engine's time goes** — one more run per store at capacity 100 with \`node --cpu-prof\` (and, on
PostgreSQL, each statement timed from call to result), not in the medians above; the profiler slows the run.
CPU of the bench process inside the measured window, by area (ms; the first matching area of a sample's stack):

| store | wall (s) | CPU busy (ms) | idle (ms) | areas (ms) |
|---|---:|---:|---:|---|
${Object.entries(profiles).map(([k, p]) => `| ${k === 'sqlite' ? 'SQLite' : 'PostgreSQL'} | ${f2(p.out.seconds)} | ${f0(p.cpu.busyMs)} | ${f0(p.cpu.idleMs)} | ${p.cpu.areas.map(([a, ms]) => `${a} ${f0(ms)}`).join('; ')} |`).join('\n')}

PostgreSQL statements in the same window (call to result, so client-side row parsing included), largest first:

| statement | calls | total (ms) |
|---|---:|---:|
${profiles.postgres.out.queries.slice(0, 10).map((q) => `| \`${q.sql.replace(/\|/g, '\\|')}…\` | ${q.n} | ${f0(q.ms)} |`).join('\n')}
` : '';

writeSection(root, 'orchestrator', `## Workflow engine and orchestrator service (\`npm run bench:orchestrator\`)

**Durable no-op operations per second.** The engine (\`Engine\`, src/engine/worker.ts) with a runner whose
operations return at once, so the engine and its store are what is measured: every completion is still
settled, checkpointed and evented in one transaction per scheduling round. ${W} workflows × ${num(N)} independent
\`script\` operations (built by \`buildWorkflow\`, parallel_limit 100) submitted with \`WorkflowControl.submit\`
before the engine starts; time from the first claim to the last workflow final; after each run the bench checks
that every workflow completed with one completion event and one checkpoint per operation. SQLite: a fresh
state.db (WAL, synchronous = NORMAL); PostgreSQL ${pgServer} on 127.0.0.1: a fresh database per run.
**graphile-worker** ${gwVersion} on the same PostgreSQL server (its own fresh database per run): ${num(W * N)} no-op jobs
added with \`addJobs\` before \`run()\` starts, concurrency = the engine's capacity, pool max(10, concurrency + 2)
capped at 50 (the shared server allows 100 connections); time from \`run()\` until the last \`job:complete\` (result
written back). "defaults": no local queue, one completion statement per job; "local queue + batched
completions": \`localQueue.size\` = concurrency and \`completeJobBatchDelay\` 0, the throughput options its
documentation offers. Each run is a fresh process; medians over the repetitions, the kinds interleaved and
rotated in each repetition. Capacity 10 is the engine's default.

| system | capacity / concurrency | reps | median time (s) | median ops/s | × graphile-worker (defaults) | rounds |
|---|---:|---:|---:|---:|---:|---:|
${tRows.join('\n')}
${submitTable}
**Restart after kill -9.** An engine in its own process (bench/orchestrator/worker.mjs, service mode: every
workflow in the store, capacity 10, lease 30 s) runs a workflow of 200 operations of 20 ms each on a SQLite file;
after at least 50 completions (seen in the store's events) it is killed with SIGKILL and a new process is
started on the same file. Times from spawning the new process (median of ${resumeReps}): Node started and the
engine's modules loaded ${f0(rmed('importedMs'))} ms; its engine running (store opened, first heartbeat)
${f0(rmed('engineStartMs'))} ms; the dead instance's
${median(resumes.map((r) => r.runningAtKill))} running operations queued again (its dead PID seen at the first heartbeat)
${f0(rmed('requeuedMs'))} ms; first new lease ${f0(rmed('claimedMs'))} ms; **first operation completed
${f0(rmed('firstMs'))} ms** (each of the ${resumeReps}: ${resumes.map((r) => r.firstMs).join(', ')}). Every operation ended completed.
${profileText}
Goals: ${goals.join('; ')}.

Provisioning at commit ${commit}. Machine: ${machine()} (${f1(loadAtStart)} when it started; other work shared
the machine). graphile-worker ${gwVersion}, PostgreSQL ${pgServer}. Measured ${new Date().toISOString().slice(0, 10)}.
Reproduce: \`npm run bench:orchestrator\` (PostgreSQL at postgres://postgres@127.0.0.1:5432, or \`BENCH_PG_URL\`).`);
log(`goals: ${goals.join('; ')}`);
log(`load average ${f1(loadAtStart)} → ${f1(loadAtEnd)}`);
