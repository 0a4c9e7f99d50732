import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteWorkflowStore } from '../../src/store/sqlite/workflows.js';
import { runCli, tempHome } from '../fixtures/cli.js';
import { listening, script, spawnMain, until } from './harness.js';

let home: string;
let wsPath: string;
before(async () => {
  home = tempHome('prov-orch-main-');
  wsPath = join(home, 'ws');
  const init = await runCli(['workspace', 'init', 'demo', wsPath, '--template', 'local', '--no-activate'], { home });
  assert.equal(init.code, 0, init.stderr);
});
after(() => rmSync(home, { recursive: true, force: true }));

const start = (args: string[]) => spawnMain(args, { HOME: home, PROVISIONING_HOME: home, PROVISIONING_ORCHESTRATOR__SHUTDOWN_GRACE: '1s' });

describe('orchestrator process (main.js)', () => {
  it('binds 127.0.0.1 by default, logs one JSON line per request, and stops gracefully on SIGTERM', async () => {
    const p = start(['--workspace', wsPath, '--port', '0']);
    try {
      const m = await listening(p, /orchestrator listening on (http:\/\/[^ ]+) \(store sqlite [^)]+state\.db\)/);
      const url = m[1]!;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const pidFile = join(home, 'main-sleeper.pid');
      const r = await fetch(`${url}/api/v1/workflows`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'main-test-0001' },
        body: JSON.stringify({ name: 'sleeper', operations: [script('sleep', `echo $$ > ${pidFile}; exec sleep 60`)] }) });
      assert.equal(r.status, 202);
      const id = ((await r.json()) as { data: { id: string } }).data.id;
      await until(async () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'the script to start');
      const pid = Number(readFileSync(pidFile, 'utf8'));
      p.child.kill('SIGTERM');
      const code = await Promise.race([p.exited, new Promise((res) => setTimeout(() => res('still running'), 30_000))]);
      assert.equal(code, 0, `${p.out.stdout}\n${p.out.stderr}`);
      assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the task was stopped after the grace period');
      const lines = p.out.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const req = lines.find((l) => l.msg === 'request' && l.request_id === 'main-test-0001');
      assert.ok(req, p.out.stdout);
      assert.equal(req.status, 202);
      assert.equal('body' in req, false);
      assert.ok(lines.some((l) => l.msg === 'stopped'));
      const store = new SqliteWorkflowStore(join(wsPath, '.provisioning', 'state.db'));
      try {
        const ops = await store.getOperations(id);
        assert.notEqual(ops[0]!.status, 'running', 'the lease was handed back');
        assert.equal(ops[0]!.lease_owner, null);
      } finally {
        await store.close();
      }
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('refuses to start without a workspace, with a message', async () => {
    const p = start(['--workspace', join(home, 'missing')]);
    assert.notEqual(await p.exited, 0);
    assert.match(p.out.stderr, /error\[/);
    assert.doesNotMatch(p.out.stdout, /listening/);
  });
});
