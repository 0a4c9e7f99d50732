/**
 * Crash safety (issue 6): an engine process is killed with SIGKILL at random points of a
 * 50-operation batch and started again until the batch ends. Each batch must complete, and an
 * operation recorded completed at any kill never runs again (its line count in the run log does
 * not grow after that point). Runs against SQLite and, when reachable, PostgreSQL.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WorkflowControl } from '../../src/engine/control.js';
import { assertValid, validateWorkflow } from '../../src/model/index.js';
import { SqliteWorkflowStore } from '../../src/store/sqlite/workflows.js';
import type { WorkflowStore } from '../../src/store/workflows.js';
import { buildWorkflow } from '../../src/workflow/spec.js';
import { FINAL } from '../../src/workflow/types.js';
import { startEngineProcess } from '../fixtures/engine-process.js';
import { pgDatabase } from '../fixtures/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'prov-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A seeded PRNG, so a failing run can be replayed from the seed in the message. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

function batch(rand: () => number, log: string) {
  const ops = Array.from({ length: 50 }, (_, i) => {
    const id = `op-${String(i).padStart(2, '0')}`;
    const deps = i > 0 && rand() < 0.4 ? [`op-${String(Math.floor(rand() * i)).padStart(2, '0')}`] : [];
    return { id, type: 'script', target: { run: `echo $PROVISIONING_OPERATION_ID >> ${log}; sleep 0.0${1 + Math.floor(rand() * 4)}`, idempotent: true }, ...(deps.length ? { dependencies: deps } : {}) };
  });
  return buildWorkflow(assertValid(validateWorkflow({ name: 'crash', parallel_limit: 5, operations: ops })), {
    workspace: 'ws', kind: 'batch', execution: 'orchestrated', submitted_by: 'local:test', defaultInfra: null, infra: () => undefined, knownInfras: [],
    defaults: { parallel_limit: 5, retries: 0, retry_delay_ms: 10, timeout_ms: 60_000 }, workdir: dir, now: Date.now(),
  });
}


const kill = (p: ChildProcess) => new Promise<void>((res) => { p.once('exit', () => res()); p.kill('SIGKILL'); });
const counts = (log: string) => {
  const m = new Map<string, number>();
  if (existsSync(log)) for (const l of readFileSync(log, 'utf8').split('\n').filter(Boolean)) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
};

async function crashLoop(store: WorkflowStore, storeArg: string, seed: number): Promise<number> {
  const rand = rng(seed);
  const log = join(dir, `run-${seed}.log`);
  writeFileSync(log, '');
  const { workflow, operations } = batch(rand, log);
  await new WorkflowControl(store, 'local:test').submit(workflow, operations);
  const frozen: { op: string; lines: number }[] = [];
  let kills = 0;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const p = await startEngineProcess(storeArg, dir, 5);
    const w0 = await store.getOperations(workflow.id);
    const target = w0.filter((o) => o.status === 'completed').length + 1 + Math.floor(rand() * 8);
    // let it run to a random number of completions (or to the end), then kill it
    let final = false;
    for (;;) {
      assert.ok(Date.now() < deadline, `seed ${seed}: batch did not finish within 120 s`);
      const w = (await store.getWorkflow(workflow.id))!;
      final = FINAL.has(w.status);
      const done = (await store.getOperations(workflow.id)).filter((o) => o.status === 'completed').length;
      if (final || (kills < 8 && done >= target)) break;
      await new Promise((r) => setTimeout(r, 5 + rand() * 20));
    }
    await kill(p);
    if (final) break;
    kills++;
    const lines = counts(log);
    for (const o of await store.getOperations(workflow.id)) if (o.status === 'completed') frozen.push({ op: o.id, lines: lines.get(o.id) ?? 0 });
  }
  const w = (await store.getWorkflow(workflow.id))!;
  const ops = await store.getOperations(workflow.id);
  assert.equal(w.status, 'completed', `seed ${seed}: ${JSON.stringify(w.error)} ${ops.filter((o) => o.status !== 'completed').map((o) => `${o.id}:${o.status}`).join(' ')}`);
  const lines = counts(log);
  for (const o of ops) assert.ok((lines.get(o.id) ?? 0) >= 1, `seed ${seed}: ${o.id} never ran`);
  for (const f of frozen) assert.equal(lines.get(f.op), f.lines, `seed ${seed}: ${f.op} was completed at a kill with ${f.lines} run(s), and ran again after`);
  return kills;
}

describe('kill -9 of the engine at random points of a 50-operation batch', () => {
  it('SQLite: every batch completes and no completed operation runs twice', async () => {
    const file = join(dir, 'sqlite.db');
    const store = new SqliteWorkflowStore(file);
    try {
      let kills = 0;
      for (const seed of [11, 22, 33]) kills += await crashLoop(store, file, seed);
      assert.ok(kills >= 6, `only ${kills} kills happened: the test did not exercise recovery`);
    } finally {
      await store.close();
    }
  });

  it('PostgreSQL: every batch completes and no completed operation runs twice', async (t) => {
    const db = await pgDatabase();
    if (!db) { t.skip('PostgreSQL is not reachable at 127.0.0.1:5432'); return; }
    const { PostgresWorkflowStore } = await import('../../src/store/postgres/workflows.js');
    const store = await PostgresWorkflowStore.open(db.url, { poolSize: 4 });
    try {
      let kills = 0;
      for (const seed of [44, 55]) kills += await crashLoop(store, db.url, seed);
      assert.ok(kills >= 4, `only ${kills} kills happened`);
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
