import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, runCli, tempHome } from '../fixtures/cli.js';

describe('check-mode plans and locks (built CLI)', () => {
  const home = tempHome();
  const ws = join(home, 'demo');
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { home, cwd: ws, env });
  before(async () => {
    const r = await runCli(['workspace', 'init', 'demo', ws, '--template', 'local'], { home });
    assert.equal(r.code, 0, r.stderr);
  });

  it('prints a Terraform-like plan and changes nothing', async () => {
    const r = await cli(['server', 'create', '--check']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Check mode — nothing will be changed\s+workspace demo · infra local · env dev/);
    assert.match(r.stdout, /\+ create\s+server\s+web-01/);
    assert.match(r.stdout, /Plan: 2 to create, 0 to update, 0 to replace, 0 to delete/);
    const state = await cli(['workspace', 'info', '--out', 'json']);
    assert.equal(state.code, 0);
  });

  it('prints the API Plan as JSON and exits 10 with --detailed-exitcode when there are changes', async () => {
    const r = await cli(['s', 'c', '-c', '--out', 'json', '--detailed-exitcode']);
    assert.equal(r.code, 10);
    const plan = r.json();
    assert.deepEqual(Object.keys(plan.summary), ['create', 'update', 'replace', 'delete', 'noop']);
    assert.equal(plan.changes[0].resource_type, 'server');
    assert.equal(plan.changes[0].order, 1);
    assert.ok('estimated_cost' in plan && 'estimated_duration_s' in plan && Array.isArray(plan.warnings));
  });

  it('plans kubernetes after containerd and etcd', async () => {
    const r = await cli(['taskserv', 'create', 'kubernetes', '--servers', 'web-01', '--check', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const names = r.json().changes.filter((c: { resource_type: string }) => c.resource_type === 'taskserv').map((c: { name: string }) => c.name);
    assert.deepEqual(names, ['containerd', 'etcd', 'kubernetes']);
  });

  it('needs no credentials and no network: UpCloud servers plan without a password', async () => {
    const dir = join(ws, 'infra', 'cloud');
    await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
    writeFileSync(join(dir, 'settings.toml'), 'provider = "upcloud"\n[[servers]]\nhostname = "app-01"\nplan = "2xCPU-4GB"\nzone = "fi-hel1"\n');
    const r = await cli(['server', 'create', '--check', '--infra', 'cloud']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /upcloud · 2xCPU-4GB/);
    assert.match(r.stdout, /est\. \d+\.\d\d EUR\/month/);
  });

  it('reports definition errors with file and line, exit 3', async () => {
    const dir = join(ws, 'infra', 'broken');
    await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
    writeFileSync(join(dir, 'settings.toml'), '[[servers]]\nhostname = "web-01"\nplan = "9xCPU"\nprovider = "upcloud"\ntaskservs = ["rediss"]\n');
    const r = await cli(['server', 'create', '--check', '--infra', 'broken']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /plan '9xCPU' is not offered by upcloud/);
    assert.match(r.stderr, /unknown taskserv 'rediss'/);
    assert.match(r.stderr, /infra\/broken\/settings\.toml:\d+:\d+/);
  });

  it('names an unknown target with a suggestion (exit 5)', async () => {
    const r = await cli(['server', 'create', 'web-1', '--check']);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /did you mean 'web-01'/);
  });

  it('says plainly that applying has not landed, and changes nothing (exit 2)', async () => {
    const r = await cli(['server', 'create', '--yes']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /applying `server create` arrives with issue #4/);
  });

  it('holds, reports and releases a maintenance lock; runs fail with exit 6 or wait', async () => {
    assert.equal((await cli(['workspace', 'lock', '--reason', 'db maintenance', '--ttl', '1h'])).code, 0);
    const st = await cli(['workspace', 'lock-status', '--out', 'json']);
    assert.equal(st.json()[0].scope, 'infra:demo/local');
    assert.equal(st.json()[0].reason, 'db maintenance');
    const again = await cli(['workspace', 'lock']);
    assert.equal(again.code, 6);
    assert.match(again.stderr, /locked by .* \(manual lock\).*db maintenance/);
    assert.equal((await cli(['workspace', 'unlock'])).code, 0);
    assert.equal((await cli(['workspace', 'unlock'])).code, 5);

    // A run holds the lock: `workspace lock --lock-timeout` waits with a message until it ends.
    const store = pathToFileURL(join(ROOT, 'dist', 'src', 'store')).href;
    const code = `const { SqliteStateStore } = await import('${store}/sqlite/state.js'); const { acquireRunLock } = await import('${store}/lock.js');
      const s = new SqliteStateStore(${JSON.stringify(ws)}); const release = await acquireRunLock(s, 'infra:demo/local', { command: 'server create' });
      process.stdout.write('locked\\n'); setTimeout(async () => { await release(); process.exit(0); }, 1500);`;
    const run = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => run.stdout.once('data', r));
    const fail = await cli(['workspace', 'lock']);
    assert.equal(fail.code, 6);
    assert.match(fail.stderr, /server create \(pid \d+/);
    const wait = await cli(['workspace', 'lock', '--lock-timeout', '20s']);
    assert.equal(wait.code, 0, wait.stderr);
    assert.match(wait.stderr, /waiting for infra:demo\/local: held by server create/);
    assert.equal((await cli(['workspace', 'unlock', '--yes'])).code, 0);
  });

  it('rejects a bad --ttl', async () => {
    const r = await cli(['workspace', 'lock', '--ttl', 'soon']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--ttl expects a duration/);
  });
});
