import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { BIN, ROOT, runCli, tempHome } from '../fixtures/cli.js';

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

  it('reports conflicts, unsatisfiable versions, port clashes and plan/size disagreements together (exit 3)', async () => {
    const fs = await import('node:fs');
    // A workspace-layer taskserv that redis declares a conflict with.
    const keydb = join(ws, 'extensions', 'taskservs', 'keydb');
    fs.cpSync(join(ROOT, 'extensions', 'taskservs', 'redis'), keydb, { recursive: true });
    fs.writeFileSync(join(keydb, 'extension.toml'), fs.readFileSync(join(keydb, 'extension.toml'), 'utf8').replace(/^name = "redis"/m, 'name = "keydb"'));
    const dir = join(ws, 'infra', 'clash');
    fs.mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'settings.toml'), [
      'provider = "upcloud"',
      '[[servers]]', 'hostname = "cache-01"', 'plan = "2xCPU-4GB"', 'cores = 4', 'taskservs = ["redis", "keydb"]',
      '[[servers]]', 'hostname = "web-01"', 'plan = "1xCPU-2GB"', 'taskservs = [{ name = "nginx", version = "^9" }, "haproxy"]', '',
    ].join('\n'));
    const r = await cli(['server', 'create', '--check', '--infra', 'clash', '--out', 'json']);
    assert.equal(r.code, 3, r.stderr);
    const errors = r.json().error.details.errors as { code: string; message: string; line: number }[];
    const codes = errors.map((e) => e.code).sort();
    assert.deepEqual([...new Set(codes)], ['DEF_CONFLICT', 'DEF_VERSION']);
    const text = errors.map((e) => e.message).join('\n');
    assert.match(text, /plan 2xCPU-4GB has 2 cores .* the server asks for 4 cores/);
    assert.match(text, /redis \(servers\[0\]\.taskservs\[0\]\) conflicts with keydb/);
    assert.match(text, /nginx 1\.0\.0 \(core layer\) does not satisfy \^9/);
    assert.match(text, /haproxy and nginx both use port 80 on web-01|nginx and haproxy both use port 80 on web-01/);
    assert.ok(errors.every((e) => e.line > 0), 'every error has a line');
  });

  it('--servers selects servers like positional names', async () => {
    const r = await cli(['server', 'create', '--servers', 'db-01', '--check', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json().changes.map((c: { name: string }) => c.name), ['db-01']);
    const both = await cli(['server', 'create', 'web-01', '--servers', 'db-01,web-01', '--check', '--out', 'json']);
    assert.deepEqual(both.json().changes.map((c: { name: string }) => c.name), ['web-01', 'db-01']);
  });

  it('names an unknown target with a suggestion (exit 5)', async () => {
    const r = await cli(['server', 'create', 'web-1', '--check']);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /did you mean 'web-01'/);
  });

  it('applying needs the servers first: with no container engine the run stops at preflight (exit 9) and records nothing', async () => {
    const r = await cli(['taskserv', 'create', '--yes'], { PROVISIONING_PROVIDERS__LOCAL__SOCKET: 'unix:///nonexistent/engine.sock' });
    assert.equal(r.code, 9, r.stderr);
    assert.match(r.stderr, /container engine at unix:\/\/\/nonexistent\/engine\.sock is not reachable/);
    const plan = await cli(['taskserv', 'create', '--check', '--out', 'json']);
    assert.ok(plan.json().changes.filter((c: { resource_type: string }) => c.resource_type === 'server').every((c: { action: string }) => c.action === 'create'), 'no server was recorded');
  });

  it('holds, reports and releases a maintenance lock; runs fail with exit 6 or wait', async () => {
    assert.equal((await cli(['workspace', 'lock', '--reason', 'db maintenance', '--ttl', '1h'])).code, 0);
    const st = await cli(['workspace', 'lock-status', '--out', 'json']);
    assert.equal(st.json()[0].scope, 'infra:demo/local');
    assert.equal(st.json()[0].reason, 'db maintenance');
    assert.equal(Date.parse(st.json()[0].expires_at) - Date.parse(st.json()[0].acquired_at), 3_600_000, '--ttl 1h is one hour');
    const again = await cli(['workspace', 'lock']);
    assert.equal(again.code, 6);
    assert.match(again.stderr, /locked by .* \(manual lock\).*db maintenance/);
    assert.equal((await cli(['workspace', 'unlock'])).code, 0);
    assert.equal((await cli(['workspace', 'unlock'])).code, 5);

    // A run holds the lock: `workspace lock --lock-timeout` waits with a message until it ends.
    // The holder releases when told to (a marker file), after the waiter has said it waits: no timing races.
    const marker = join(home, 'release-now');
    const store = pathToFileURL(join(ROOT, 'dist', 'src', 'store')).href;
    const code = `const fs = await import('node:fs'); const { SqliteStateStore } = await import('${store}/sqlite/state.js'); const { acquireRunLock } = await import('${store}/lock.js');
      const s = new SqliteStateStore(${JSON.stringify(ws)}); const release = await acquireRunLock(s, 'infra:demo/local', { command: 'server create' });
      process.stdout.write('locked\\n'); const t = setInterval(async () => { if (fs.existsSync(${JSON.stringify(marker)})) { clearInterval(t); await release(); process.exit(0); } }, 50);`;
    const run = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => run.stdout.once('data', r));
    const fail = await cli(['workspace', 'lock']);
    assert.equal(fail.code, 6);
    assert.match(fail.stderr, /server create \(pid \d+/);
    const waiter = spawn(process.execPath, [BIN, 'workspace', 'lock', '--lock-timeout', '60s'], { cwd: ws, env: { PATH: process.env.PATH ?? '', HOME: home, PROVISIONING_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    await new Promise<void>((resolve) => waiter.stderr.on('data', (d: Buffer) => { stderr += d.toString(); if (/waiting for/.test(stderr)) resolve(); }));
    writeFileSync(marker, '');
    const code2 = await new Promise<number | null>((resolve) => waiter.on('close', resolve));
    assert.equal(code2, 0, stderr);
    assert.match(stderr, /waiting for infra:demo\/local: held by server create/);
    assert.equal((await cli(['workspace', 'unlock', '--yes'])).code, 0);
  });

  it('rejects a bad --ttl', async () => {
    const r = await cli(['workspace', 'lock', '--ttl', 'soon']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--ttl expects a duration/);
  });
});
