import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { acquireRunLock, infraScope } from '../../src/store/lock.js';
import { readResources } from '../../src/store/sqlite/read.js';
import { SqliteStateStore } from '../../src/store/sqlite/state.js';
import type { ResourceState } from '../../src/store/types.js';
import { ROOT } from '../fixtures/cli.js';

const ws = () => mkdtempSync(join(tmpdir(), 'prov-store-'));
const server = (name: string, generation = 1): ResourceState => ({
  id: `server:main/${name}`, kind: 'server', workspace: 'acme', infra: 'main', name, status: 'running', tags: {}, checksum: `sha256:${generation}`,
  applied: { hostname: name }, generation, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
});

/** A second process that takes the run lock and holds it until killed. */
function holder(dir: string, scope: string): Promise<{ pid: number; kill: (sig: NodeJS.Signals) => Promise<void> }> {
  const mod = pathToFileURL(join(ROOT, 'dist', 'src', 'store')).href;
  const code = `const { SqliteStateStore } = await import('${mod}/sqlite/state.js'); const { acquireRunLock } = await import('${mod}/lock.js');
    const s = new SqliteStateStore(${JSON.stringify(dir)}); await acquireRunLock(s, ${JSON.stringify(scope)}, { command: 'server create' });
    process.stdout.write('locked\\n'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve({ pid: child.pid!, kill: (sig) => new Promise((r) => { child.once('exit', () => r()); child.kill(sig); }) }));
    child.once('exit', (c) => reject(new Error(`lock holder exited ${c}`)));
  });
}

describe('SQLite state store', () => {
  it('records resources with their change history in one transaction', async () => {
    const dir = ws();
    const store = new SqliteStateStore(dir);
    await store.applyChanges([{ record: server('web-01'), action: 'create', command: 'server create' }, { record: server('db-01'), action: 'create', command: 'server create' }]);
    await store.applyChanges([{ record: { ...server('web-01', 2), status: 'stopped' }, action: 'update', diff: { plan: { from: 'a', to: 'b' } }, command: 'server update' }]);
    assert.deepEqual((await store.listResources({ workspace: 'acme', infra: 'main' })).map((r) => [r.name, r.status, r.generation]), [['db-01', 'running', 1], ['web-01', 'stopped', 2]]);
    const h = await store.history({ resource_id: 'server:main/web-01' });
    assert.deepEqual(h.map((c) => [c.action, c.generation]), [['update', 2], ['create', 1]]);
    assert.deepEqual(h[0]!.diff, { plan: { from: 'a', to: 'b' } });
    await store.close();
    // Check mode reads without opening the database for writing.
    assert.equal(readResources(dir, 'acme', 'main').length, 2);
    assert.deepEqual(readResources(ws(), 'acme', 'main'), []);
  });

  it('lets only one run hold an infra lock; the second fails with LOCKED or waits', async () => {
    const dir = ws();
    const scope = infraScope('acme', 'main');
    const other = await holder(dir, scope);
    const store = new SqliteStateStore(dir);
    await assert.rejects(acquireRunLock(store, scope, { command: 'server delete' }), (e: Error & { code?: string; exitCode?: number }) => {
      assert.equal(e.code, 'LOCKED');
      assert.equal(e.exitCode, 6);
      assert.match(e.message, new RegExp(`server create \\(pid ${other.pid} on ${hostname()}\\)`));
      return true;
    });
    // Waiting: the holder goes away (kill -9), its lock is stale and is taken over.
    let waited = false;
    let tookOver = false;
    const pending = acquireRunLock(store, scope, { command: 'server delete', waitMs: 10_000, onWait: () => { waited = true; }, onTakeover: () => { tookOver = true; } });
    await new Promise((r) => setTimeout(r, 200));
    await other.kill('SIGKILL');
    const release = await pending;
    assert.equal(waited, true);
    assert.equal(tookOver, true);
    assert.equal((await store.locks())[0]!.pid, process.pid);
    await release();
    assert.deepEqual(await store.locks(), []);
    await store.close();
  });

  it('treats an expired lock as free', async () => {
    const store = new SqliteStateStore(ws());
    const r1 = await store.tryLock({ scope: 's', holder: 'user:alice', host: 'elsewhere', command: 'workspace lock', reason: '', acquired_at: '2026-01-01T00:00:00Z', expires_at: '2026-01-01T01:00:00Z' });
    assert.equal(r1.acquired, true);
    const r2 = await store.tryLock({ scope: 's', holder: 'user:bob', host: 'elsewhere', command: 'workspace lock', reason: '', acquired_at: new Date().toISOString() });
    assert.equal(r2.acquired, true);
    assert.equal(r2.acquired && r2.replaced?.holder, 'user:alice');
    await store.close();
  });
});
