/**
 * Locks at submit (api.md §3.3): a workflow whose infra is locked right now (here a maintenance
 * lock, `workspace lock`) is refused with 409 LOCKED and nothing is recorded; with queue_on_lock
 * it is accepted and its operation waits for the lock, then runs once it is released.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../fixtures/cli.js';
import { startHarness, until, type Harness } from './harness.js';

describe('orchestrator: locked infra at submit', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(() => h?.close());
  const cli = (args: string[]) => runCli(args, { home: h.home, cwd: h.wsPath });
  // a script on a server of infra 'local' touches that infra; the server need not exist to be locked out
  const body = (extra: Record<string, unknown> = {}) => ({ name: 'on-local', infra: 'local', operations: [{ id: 'touch', type: 'script', retries: 0, timeout: '60s', target: { run: 'true', on: { servers: ['web-01'] } } }], ...extra });

  it('409 LOCKED naming the holder, and nothing recorded; queue_on_lock waits until the lock is released', async () => {
    const lock = await cli(['workspace', 'lock', '--infra', 'local', '--reason', 'maintenance window']);
    assert.equal(lock.code, 0, lock.stderr);
    const before = await h.workflows();
    const r = await h.api('POST', '/api/v1/batches', body());
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'LOCKED');
    assert.match(r.body.error.message, /maintenance window/);
    assert.ok(r.body.error.details.holder_user, JSON.stringify(r.body.error.details));
    assert.equal(await h.workflows(), before);

    const q = await h.api('POST', '/api/v1/batches', body({ queue_on_lock: true }));
    assert.equal(q.status, 202, JSON.stringify(q.body));
    const id = q.body.data.id as string;
    await until(async () => (await h.orch.store.logs({ workflow_id: id, limit: 100 })).some((l) => /waiting for infra:demo\/local/.test(l.message)), 'the operation to wait for the lock');
    assert.equal((await h.orch.store.getOperations(id))[0]!.status, 'running');
    assert.equal((await cli(['workspace', 'unlock', '--infra', 'local'])).code, 0);
    // released: it goes on (and fails, as web-01 was never created) — the point is that it no longer waits
    const w = await until(async () => { const x = (await h.orch.store.getWorkflow(id))!; return ['completed', 'failed', 'rolled_back'].includes(x.status) ? x : undefined; }, 'the workflow to end');
    assert.match(JSON.stringify(w.error), /web-01/);
  });
});
