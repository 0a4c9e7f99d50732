// bench/orchestrator: what the measurements share — workflows of script operations built as the
// CLI builds them, runners that do nothing (or sleep), and throw-away PostgreSQL databases.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { assertValid, validateWorkflow } from '../../dist/src/model/index.js';
import { buildWorkflow } from '../../dist/src/workflow/spec.js';

export const PG_ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A workflow of `n` independent script operations op-0001… (never run as scripts: the bench's runner stands in). */
export function workflowOf(n, parallelLimit, workdir) {
  const raw = { name: 'bench', operations: Array.from({ length: n }, (_, i) => ({ id: `op-${String(i + 1).padStart(4, '0')}`, type: 'script', target: { run: 'true' } })) };
  return buildWorkflow(assertValid(validateWorkflow(raw)), {
    workspace: 'bench', kind: 'batch', execution: 'orchestrated', submitted_by: 'local:bench', defaultInfra: null, infra: () => undefined, knownInfras: [],
    defaults: { parallel_limit: parallelLimit, retries: 0, retry_delay_ms: 1000, timeout_ms: 60_000 }, parallel_limit: parallelLimit, workdir, now: Date.now(),
  });
}

/** An OperationRunner whose operations take `ms` (0: resolve at once); `onRun` sees every start. */
export function noopRunner(ms = 0, onRun = () => {}) {
  return {
    run: async () => { onRun(); if (ms) await sleep(ms); return {}; },
    undo: async () => {},
    retrySafe: () => true,
  };
}

/** A fresh database on the bench's PostgreSQL server; `drop()` removes it (and ends its connections). */
export async function freshDatabase(prefix = 'prov_bench') {
  const name = `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function admin(sql) {
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  try { return await c.query(sql); } finally { await c.end(); }
}

export async function pgVersion() {
  return (await admin('SHOW server_version')).rows[0].server_version;
}
