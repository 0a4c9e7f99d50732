// bench/orchestrator: one throughput measurement in a fresh process, printed as one JSON line.
//   node throughput.mjs sqlite|postgres <capacity> <workflows> <ops per workflow>
//     the engine (src/engine/worker.ts) with a runner that does nothing: every completion is still
//     settled, checkpointed and evented in the store; from the first claim to the last workflow final
//   node throughput.mjs graphile|graphile-batched <concurrency> <workflows> <ops per workflow>
//     graphile-worker on its own fresh database, the same number of no-op jobs added before the worker
//     starts; from `run()` until the last `job:complete` (result written back). "batched": its
//     local queue (size = concurrency) and batched completions (completeJobBatchDelay 0).
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Logger, makeWorkerUtils, run, runMigrations } from 'graphile-worker';
import pg from 'pg';
import { WorkflowControl } from '../../dist/src/engine/control.js';
import { Engine } from '../../dist/src/engine/worker.js';
import { PostgresWorkflowStore } from '../../dist/src/store/postgres/workflows.js';
import { SqliteWorkflowStore } from '../../dist/src/store/sqlite/workflows.js';
import { freshDatabase, noopRunner, workflowOf } from './lib.mjs';
import { timeQueries } from './profile.mjs';

const [kind, capacity, workflows, perWf] = [process.argv[2], ...process.argv.slice(3, 6).map(Number)];
const total = workflows * perWf;
// the measured window on the CPU profile's clock (µs), and, when profiling, time per PostgreSQL statement inside it
const us = () => Number(process.hrtime.bigint() / 1000n);
const win = { from: 0, to: 0, open: false };
const queries = process.env.BENCH_QUERY_TIMES ? timeQueries(pg, () => win.open) : undefined;

async function engine() {
  const tmp = mkdtempSync(join(tmpdir(), 'prov-bench-orch-'));
  const db = kind === 'postgres' ? await freshDatabase() : undefined;
  const store = db ? await PostgresWorkflowStore.open(db.url) : new SqliteWorkflowStore(join(tmp, 'state.db'));
  try {
    const control = new WorkflowControl(store, 'local:bench');
    const ids = [];
    for (let i = 0; i < workflows; i++) {
      const { workflow, operations } = workflowOf(perWf, 100, tmp);
      await control.submit(workflow, operations);
      ids.push(workflow.id);
    }
    let t0;
    const e = new Engine(store, noopRunner(0, () => { if (t0 === undefined) { t0 = performance.now(); win.from = us(); win.open = true; } }), { capacity, leaseMs: 60_000, heartbeatMs: 10_000, only: ids });
    await e.start();
    await e.done();
    const seconds = (performance.now() - t0) / 1000;
    win.to = us();
    win.open = false;
    await e.stop();
    // the work really happened: every workflow completed, one completion event and one checkpoint per operation
    for (const id of ids) {
      const w = await store.getWorkflow(id);
      if (w.status !== 'completed') throw new Error(`workflow ${id} ended ${w.status}: ${JSON.stringify(w.error)}`);
    }
    const events = [];
    for (let after = 0; ;) {
      const page = await store.events(after, 10_000);
      if (!page.length) break;
      events.push(...page);
      after = page.at(-1).seq;
    }
    const completed = events.filter((x) => x.event_type === 'OperationStatusChanged' && x.data.status === 'completed').length;
    const checkpoints = (await Promise.all(ids.map((id) => store.checkpoints({ workflow_id: id }, { limit: 1, offset: 0 })))).reduce((a, c) => a + c.total, 0);
    if (completed !== total || checkpoints !== total) throw new Error(`expected ${total} completions and checkpoints, saw ${completed} and ${checkpoints}`);
    return { seconds, rounds: e.stats.rounds, events: events.length, storeBytes: await store.sizeBytes() };
  } finally {
    await store.close();
    await db?.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function graphile() {
  const db = await freshDatabase('prov_bench_gw');
  // warnings and errors only: its per-job info lines would cost it time the engine does not spend
  const logger = new Logger(() => (level, message) => { if (level === 'error' || level === 'warning') console.error(`graphile-worker: ${message}`); });
  try {
    await runMigrations({ connectionString: db.url, logger });
    const utils = await makeWorkerUtils({ connectionString: db.url, logger });
    for (let i = 0; i < total; i += 1000) await utils.addJobs(Array.from({ length: Math.min(1000, total - i) }, () => ({ identifier: 'noop', payload: {} })));
    await utils.release();
    const events = new EventEmitter();
    let done = 0;
    let failed = 0;
    const all = new Promise((res) => events.on('job:complete', ({ error }) => { if (error) failed++; if (++done === total) res(); }));
    const t0 = performance.now();
    const runner = await run({
      connectionString: db.url, concurrency: capacity, maxPoolSize: poolSize(capacity), noHandleSignals: true, logger, events, taskList: { noop: async () => {} },
      ...(kind === 'graphile-batched' ? { preset: { worker: { localQueue: { size: capacity }, completeJobBatchDelay: 0 } } } : {}),
    });
    await all;
    const seconds = (performance.now() - t0) / 1000;
    await runner.stop();
    const c = await makeWorkerUtils({ connectionString: db.url, logger });
    const left = await c.withPgClient((pg) => pg.query('SELECT count(*)::int AS n FROM graphile_worker.jobs'));
    await c.release();
    if (failed || left.rows[0].n) throw new Error(`graphile-worker: ${failed} failed, ${left.rows[0].n} jobs left`);
    return { seconds, poolSize: poolSize(capacity) };
  } finally {
    await db.drop();
  }
}

/** Its docs recommend max(10, concurrency + 2) connections; the shared server allows 100 in all, so at most 50. */
export const poolSize = (concurrency) => Math.min(50, Math.max(10, concurrency + 2));

const out = kind.startsWith('graphile') ? await graphile() : await engine();
console.log(JSON.stringify({ kind, capacity, ops: total, ...out, opsPerSec: total / out.seconds, window: [win.from, win.to], ...(queries ? { queries: queries() } : {}) }));
