/**
 * The orchestrator process killed with SIGKILL in the middle of a batch (issue 6 "done when"):
 * after a restart the batch completes from where it was, and no completed operation runs again.
 * A plain script that was running when the process died is not run again behind the user's back:
 * the workflow stops failed with LEASE_LOST, and `resume` finishes it.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteWorkflowStore } from '../../src/store/sqlite/workflows.js';
import { runCli, tempHome } from '../fixtures/cli.js';
import { listening, spawnMain, until } from './harness.js';

let home: string;
let ws: string;
before(async () => {
  home = tempHome('prov-orch-crash-');
  ws = join(home, 'ws');
  const init = await runCli(['workspace', 'init', 'crash', ws, '--template', 'local', '--no-activate'], { home });
  assert.equal(init.code, 0, init.stderr);
});
after(() => rmSync(home, { recursive: true, force: true }));

async function start(): Promise<{ url: string; kill(): Promise<void> }> {
  const p = spawnMain(['--workspace', ws, '--port', '0'], { HOME: home, PROVISIONING_HOME: home });
  const url = (await listening(p))[1]!;
  return { url, kill: () => { p.child.kill('SIGKILL'); return p.exited.then(() => undefined); } };
}

const post = async (url: string, path: string, body: unknown) => {
  const r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as { data: { id: string; status: string } } };
};

describe('kill -9 of the orchestrator process', () => {
  const store = () => new SqliteWorkflowStore(join(ws, '.provisioning', 'state.db'));

  it('a batch resumes after a restart and completes; completed operations never run again', async () => {
    const log = join(home, 'batch.log');
    writeFileSync(log, '');
    const ops = Array.from({ length: 30 }, (_, i) => ({ id: `s${i}`, type: 'script', target: { run: `echo s${i} >> ${log}; sleep 0.1`, idempotent: true }, ...(i >= 3 ? { dependencies: [`s${i - 3}`] } : {}) }));
    let o = await start();
    const sub = await post(o.url, '/api/v1/batches', { name: 'survivor', parallel_limit: 3, operations: ops });
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    const id = sub.body.data.id;
    const s = store();
    try {
      await until(async () => (await s.getOperations(id)).filter((x) => x.status === 'completed').length >= 6, 'six completions');
      await o.kill();
      const completed = (await s.getOperations(id)).filter((x) => x.status === 'completed').map((x) => x.id);
      const runsAtKill = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      o = await start();
      const w = await until(async () => { const x = (await s.getWorkflow(id))!; return ['completed', 'failed', 'rolled_back'].includes(x.status) ? x : undefined; }, 'the batch to end', 60_000);
      assert.equal(w.status, 'completed', JSON.stringify(w.error));
      const runs = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      for (const c of completed) assert.equal(runs.filter((l) => l === c).length, runsAtKill.filter((l) => l === c).length, `${c} ran again after the restart`);
      assert.deepEqual([...new Set(runs)].sort(), ops.map((x) => x.id).sort());
      assert.ok(runs.length <= 30 + 3, `at most the ${3} running operations ran twice: ${runs.length} runs`);
    } finally {
      await o.kill();
      await s.close();
    }
  });

  it('a plain script running at the crash stops the workflow with LEASE_LOST; resume finishes it', async () => {
    const marker = join(home, 'plain.started');
    let o = await start();
    const sub = await post(o.url, '/api/v1/batches', { name: 'plain', operations: [{ id: 'slow', type: 'script', target: { run: `touch ${marker}; sleep 2` } }, { id: 'after', type: 'script', target: { run: 'true' }, dependencies: ['slow'] }] });
    const id = sub.body.data.id;
    const s = store();
    try {
      await until(async () => { try { readFileSync(marker); return true; } catch { return false; } }, 'the script to start');
      await o.kill();
      o = await start();
      const w = await until(async () => { const x = (await s.getWorkflow(id))!; return x.status === 'failed' ? x : undefined; }, 'the workflow to stop', 30_000);
      assert.equal(w.error?.code, 'LEASE_LOST');
      assert.match(w.error?.hint ?? '', /workflow resume/);
      assert.equal((await s.getOperations(id)).find((x) => x.id === 'after')!.status, 'skipped');
      const r = await post(o.url, `/api/v1/workflows/${id}/resume`, {});
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const done = await until(async () => { const x = (await s.getWorkflow(id))!; return x.status === 'completed' ? x : undefined; }, 'the resumed workflow to complete', 30_000);
      assert.equal(done.status, 'completed');
    } finally {
      await o.kill();
      await s.close();
    }
  });
});
