/**
 * Two orchestrator services (main.js) on one PostgreSQL database (issue 6 "done when"): a batch
 * submitted to one of them is processed by both, every operation exactly once; events written by
 * one instance reach the other's store listeners (LISTEN/NOTIFY), so its API sees the same run.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, tempHome } from '../fixtures/cli.js';
import { pgDatabase } from '../fixtures/postgres.js';
import { listening, spawnMain, until } from './harness.js';


describe('two orchestrators on one PostgreSQL database', () => {
  let home: string;
  let ws: string;
  let db: Awaited<ReturnType<typeof pgDatabase>>;
  const kids: ChildProcess[] = [];
  before(async () => {
    home = tempHome('prov-orch-scale-');
    ws = join(home, 'ws');
    assert.equal((await runCli(['workspace', 'init', 'scale', ws, '--template', 'local', '--no-activate'], { home })).code, 0);
    db = await pgDatabase();
  });
  after(async () => {
    for (const k of kids) k.kill('SIGKILL');
    await db?.drop();
    rmSync(home, { recursive: true, force: true });
  });

  async function start(): Promise<string> {
    const p = spawnMain(['--workspace', ws, '--port', '0'], { HOME: home, PROVISIONING_HOME: home, PROVISIONING_ORCHESTRATOR__STORAGE__TYPE: 'postgres', PROVISIONING_ORCHESTRATOR__STORAGE__URL: db!.url, PROVISIONING_ORCHESTRATOR__QUEUE__MAX_CONCURRENT_TASKS: '3' });
    kids.push(p.child);
    return (await listening(p, /orchestrator listening on (http:\/\/\S+) \(store postgres/))[1]!;
  }

  it('process one batch together, every operation exactly once', async (t) => {
    if (!db) { t.skip('PostgreSQL is not reachable at 127.0.0.1:5432'); return; }
    const [a, b] = [await start(), await start()];
    const log = join(home, 'ops.log');
    writeFileSync(log, '');
    const ops = Array.from({ length: 60 }, (_, i) => ({ id: `op-${i}`, type: 'script', retries: 0, timeout: '60s',
      target: { run: `echo "$PROVISIONING_OPERATION_ID $PROVISIONING_ENGINE_INSTANCE" >> ${log}; sleep 0.05` }, ...(i >= 30 ? { dependencies: [`op-${i - 30}`] } : {}) }));
    const r = await fetch(`${a}/api/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'shared', parallel_limit: 6, operations: ops }) });
    assert.equal(r.status, 202);
    const id = ((await r.json()) as { data: { id: string } }).data.id;
    // followed through the OTHER instance's API
    const w = await until(async () => {
      const x = (await (await fetch(`${b}/api/v1/workflows/${id}`)).json()) as { data: { status: string } };
      return ['completed', 'failed', 'rolled_back'].includes(x.data.status) ? x.data : undefined;
    }, 'the batch to end through the second instance', 120_000);
    assert.equal(w.status, 'completed');
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
    const runs = new Map<string, number>();
    for (const [op] of lines) runs.set(op!, (runs.get(op!) ?? 0) + 1);
    assert.equal(runs.size, 60);
    assert.deepEqual([...runs].filter(([, n]) => n !== 1), [], 'operations that ran more than once');
    assert.equal(new Set(lines.map(([, inst]) => inst)).size, 2, 'both instances ran operations');
    const workers = (await (await fetch(`${b}/api/v1/system/workers`)).json()) as { data: unknown[] };
    assert.equal(workers.data.length, 2);
  });
});
