/**
 * The taskserv contract end to end (models.md §5.3), with the built CLI on real containers and
 * a small workspace-layer taskserv (test/fixtures/taskservs/webprobe: python3's http.server
 * serving a rendered page), so the tests exercise the runner rather than apt: success only after
 * the smoke check, re-apply is a check, a settings change re-renders and restarts only that
 * taskserv, failures are actionable and recorded, clusters roll back, deletion cleans up.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, runCli, tempHome } from '../fixtures/cli.js';
import { ensureEngine, type Engine } from '../fixtures/engine.js';

const WS = `tsr${process.pid}`;
const FIXTURE = join(ROOT, 'test', 'fixtures', 'taskservs', 'webprobe');

describe('taskserv runner (real containers, built CLI)', () => {
  const home = tempHome();
  const ws = join(home, WS);
  let engine: Engine;
  let env: Record<string, string>;
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { home, cwd: ws, env: { ...env, ...extra } });
  const sh = async (host: string, script: string) => (await cli(['server', 'ssh', host, '--infra', 'rt', '--', 'sh', '-c', script])).stdout.trim();
  const settingsFile = join(ws, 'infra', 'rt', 'settings.toml');
  const writeInfra = (extra: string) => writeFileSync(settingsFile, [
    'provider = "local"',
    '[defaults]', 'cores = 1', 'memory = "256MiB"',
    '[[servers]]', 'hostname = "rt-01"',
    '[[servers.taskservs]]', 'name = "webprobe"', '[servers.taskservs.settings]', 'message = "hello"',
    '[[servers.taskservs]]', 'name = "webprobe-b"', '[servers.taskservs.settings]', 'port = 18081', 'message = "bee"',
    '[[servers]]', 'hostname = "rt-02"',
    extra,
  ].join('\n') + '\n');

  before(async () => {
    engine = await ensureEngine();
    env = { PROVISIONING_PROVIDERS__LOCAL__SOCKET: engine.socket };
    const r = await runCli(['workspace', 'init', WS, ws, '--template', 'local'], { home });
    assert.equal(r.code, 0, r.stderr);
    // the fixture twice (webprobe, webprobe-b), plus variants that fail on purpose
    const ext = join(ws, 'extensions', 'taskservs');
    for (const name of ['webprobe', 'webprobe-b', 'badtpl', 'memberprobe']) {
      cpSync(FIXTURE, join(ext, name), { recursive: true });
      const m = join(ext, name, 'extension.toml');
      writeFileSync(m, readFileSync(m, 'utf8').replace('name = "webprobe"', `name = "${name}"`));
    }
    writeFileSync(join(ext, 'badtpl', 'templates', 'index.html.j2'), 'line one\n{{ settings.colour }} line two\n');
    // a cluster member that renders its cluster: name, settings, and the other component's servers as objects
    writeFileSync(join(ext, 'memberprobe', 'templates', 'index.html.j2'), '{{ cluster.name }} {{ cluster.settings.domain }}{% for s in cluster.members.side %} {{ s.hostname }}@{{ s.addresses.private[0].ip }}{% endfor %}\n');
    mkdirSync(join(ws, 'infra', 'rt'), { recursive: true });
    writeInfra('');
    const c = await cli(['server', 'create', '--infra', 'rt', '--yes']);
    assert.equal(c.code, 0, c.stderr + c.stdout);
  });

  after(async () => {
    const found = await engine.docker.listContainers({ all: true, filters: { label: [`provisioning.io/workspace=${WS}`] } });
    for (const c of found) await engine.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  });

  it('create returns after the smoke check passed; the page is served; the record is ready', async () => {
    const r = await cli(['taskserv', 'create', 'webprobe', '--infra', 'rt', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const res = r.json().results;
    assert.deepEqual(res.map((x: { name: string; server: string; status: string; note: string }) => `${x.name}@${x.server}:${x.status}:${x.note}`), ['webprobe@rt-01:done:installed, smoke tests passed']);
    assert.equal(await sh('rt-01', 'python3 -c "import urllib.request; print(urllib.request.urlopen(\'http://127.0.0.1:18080/\').read().decode())"'), 'hello from rt-01 (debian)');
    // the scripts that ran are where the spec puts them; the settings file was removed
    assert.equal(await sh('rt-01', 'ls /var/lib/provisioning/taskservs/webprobe | sort | tr "\\n" " "'), 'configure.sh files.sha256 install.sh start.sh');
  });

  it('re-apply runs only the check: nothing is restarted', async () => {
    const pid = await sh('rt-01', 'cat /run/webprobe.pid');
    const r = await cli(['taskserv', 'create', 'webprobe', '--infra', 'rt', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json().results[0].note, 'unchanged (check passed)');
    assert.equal(await sh('rt-01', 'cat /run/webprobe.pid'), pid);
  });

  it('a settings change re-renders and restarts only the taskserv that changed', async () => {
    const b = await cli(['taskserv', 'create', 'webprobe-b', '--infra', 'rt', '--yes']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    const pidA = await sh('rt-01', 'cat /run/webprobe.pid');
    const pidB = await sh('rt-01', 'cat /run/webprobe-b.pid');
    writeFileSync(settingsFile, readFileSync(settingsFile, 'utf8').replace('message = "hello"', 'message = "changed"'));
    const plan = await cli(['taskserv', 'create', '--infra', 'rt', '--check', '--out', 'json']);
    const byName = Object.fromEntries(plan.json().changes.map((c: { name: string; action: string }) => [c.name, c.action]));
    assert.equal(byName.webprobe, 'update');
    assert.equal(byName['webprobe-b'], 'noop');
    const r = await cli(['taskserv', 'create', '--infra', 'rt', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const notes = Object.fromEntries(r.json().results.map((x: { name: string; note: string }) => [x.name, x.note]));
    assert.equal(notes.webprobe, 'reconfigured and restarted, smoke tests passed');
    assert.equal(notes['webprobe-b'], 'unchanged (check passed)');
    assert.match(await sh('rt-01', 'cat /srv/webprobe/index.html'), /^changed from rt-01/);
    assert.notEqual(await sh('rt-01', 'cat /run/webprobe.pid'), pidA, 'webprobe restarted');
    assert.equal(await sh('rt-01', 'cat /run/webprobe-b.pid'), pidB, 'webprobe-b untouched');
  });

  it('a smoke failure: exit 1, the server, step, command, exit code, output and hint; recorded as error', async () => {
    writeInfra('[[servers.taskservs]]\nname = "webprobe"\n[servers.taskservs.settings]\nmessage = "real"\nsmoke_expect = "^never$"\n');
    const r = await cli(['taskserv', 'create', 'webprobe', '--servers', 'rt-02', '--infra', 'rt', '--yes']);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /✗ webprobe on rt-02: create failed: webprobe on rt-02: step smoke:page failed: no output line matches \/\^never\$\/ after 2 attempt\(s\)/);
    assert.match(r.stdout, /step: smoke:page · exit code 0/);
    assert.match(r.stdout, /command: python3 -c/);
    assert.match(r.stdout, /last output:\n\s+real from rt-02 \(debian\)/);
    assert.match(r.stdout, /try: does the page carry settings\.message\?/);
    const j = await cli(['taskserv', 'create', 'webprobe', '--servers', 'rt-02', '--infra', 'rt', '--yes', '--out', 'json']);
    assert.equal(j.code, 1);
    assert.equal(j.json().results[0].error.code, 'SMOKE_TEST_FAILED');
    assert.equal(j.json().results[0].error.details.step, 'smoke:page');
    const list = await cli(['workspace', 'info', '--out', 'json']);
    assert.equal(list.code, 0);
    const db = await import('better-sqlite3');
    const conn = new db.default(join(ws, '.provisioning', 'state.db'), { readonly: true });
    const rec = JSON.parse((conn.prepare('SELECT doc FROM resources WHERE id = ?').get('taskserv:rt/rt-02/webprobe') as { doc: string }).doc);
    conn.close();
    assert.equal(rec.status, 'error');
    assert.equal(rec.observed.data.error.step, 'smoke:page');
    assert.ok(Array.isArray(rec.observed.data.error.output_tail));
  });

  it('a readiness check that never passes names readiness:tcp-1 and the port', async () => {
    writeInfra('[[servers.taskservs]]\nname = "webprobe"\n[servers.taskservs.settings]\nready_port = 18999\n');
    const r = await cli(['taskserv', 'create', 'webprobe', '--servers', 'rt-02', '--infra', 'rt', '--yes']);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /step readiness:tcp-1 failed: port 18999 on 127\.0\.0\.1 does not accept connections after 10 attempt\(s\) \(tcp 127\.0\.0\.1:18999\)/);
  });

  it('a script that times out is killed on the server and reported', async () => {
    writeInfra('[[servers.taskservs]]\nname = "webprobe"\n[servers.taskservs.settings]\ninstall_sleep = 300\n');
    const r = await cli(['taskserv', 'create', 'webprobe', '--servers', 'rt-02', '--infra', 'rt', '--yes', '--force']);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /step install failed: timed out after 3s \(the remote process group was killed\)/);
    assert.equal(await sh('rt-02', 'pgrep -x sleep || echo none'), 'none');
  });

  it('a template with an undefined variable is a render error naming file and line (exit 3), before anything runs on the server', async () => {
    writeInfra('[[servers.taskservs]]\nname = "badtpl"\n');
    const r = await cli(['taskserv', 'create', 'badtpl', '--servers', 'rt-02', '--infra', 'rt', '--yes']);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /badtpl\/templates\/index\.html\.j2:2:\d+: template error: .*undefined/);
  });

  it('settings that fail the manifest schema and unknown taskservs are refused before anything runs', async () => {
    writeInfra('[[servers.taskservs]]\nname = "webprobe"\n[servers.taskservs.settings]\nport = "eighty"\n');
    const r = await cli(['taskserv', 'create', 'webprobe', '--infra', 'rt', '--yes']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /port/);
    writeInfra('');
    const u = await cli(['taskserv', 'create', 'webprobee', '--infra', 'rt', '--yes']);
    assert.equal(u.code, 5, u.stderr);
    assert.match(u.stderr, /unknown taskserv 'webprobee'[\s\S]*did you mean 'webprobe'/);
  });

  it('a server that is not reachable fails the step with the reason', async () => {
    const [c2] = await engine.docker.listContainers({ filters: { label: [`provisioning.io/workspace=${WS}`, 'provisioning.io/name=rt-02'] } });
    await engine.docker.getContainer(c2!.Id).stop({ t: 1 });
    try {
      writeInfra('[[servers.taskservs]]\nname = "webprobe-b"\n');
      const r = await cli(['taskserv', 'create', 'webprobe-b', '--servers', 'rt-02', '--infra', 'rt', '--yes']);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout, /✗ webprobe-b on rt-02: create failed: server rt-02 is not reachable: .*running containers/);
      assert.match(r.stdout, /try: is it running\? `provisioning server list --refresh` shows its state; `provisioning server start rt-02`/);
    } finally {
      await engine.docker.getContainer(c2!.Id).start();
    }
  });

  it('a cluster whose second component fails rolls back the first, in reverse order; for real', async () => {
    writeInfra([
      '[[clusters]]', 'name = "pair"',
      '[[clusters.components]]', 'name = "front"', 'taskserv = "webprobe-b"', 'placement = { servers = ["rt-02"] }',
      '[clusters.components.settings]', 'port = 18082',
      '[[clusters.components]]', 'name = "back"', 'taskserv = "webprobe"', 'placement = { servers = ["rt-02"] }', 'after = ["front"]',
      '[clusters.components.settings]', 'smoke_expect = "^never$"',
    ].join('\n'));
    const r = await cli(['cluster', 'create', 'pair', '--infra', 'rt', '--yes', '--out', 'json']);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    const res = r.json().results as { name: string; action: string; status: string }[];
    const seen = res.map((x) => `${x.action}:${x.name}:${x.status}`);
    assert.deepEqual(seen.filter((x) => !x.endsWith(':webprobe:failed')), ['create:webprobe-b:done', 'create:pair:skipped', 'rollback:webprobe-b:done']);
    assert.equal(seen[1], seen.find((x) => x.endsWith(':webprobe:failed')), 'the second component failed, after the first');
    assert.equal(await sh('rt-02', 'test -e /srv/webprobe-b || test -e /var/lib/provisioning/taskservs/webprobe-b || echo clean'), 'clean');
    assert.equal(await sh('rt-02', 'pgrep -f "[h]ttp.server 18082" || echo none'), 'none');
  });

  it('a secret setting that is still an encrypted reference stops the run before anything happens (exit 3)', async () => {
    writeInfra('[[servers.taskservs]]\nname = "webprobe"\n[servers.taskservs.settings]\nport = 18085\ntoken = \'{{kms.decrypt("probe-token")}}\'\n');
    const before = await sh('rt-02', 'ls -l --time-style=+%s /var/lib/provisioning/taskservs/webprobe 2>&1 | md5sum');
    const r = await cli(['taskserv', 'create', 'webprobe', '--servers', 'rt-02', '--infra', 'rt', '--yes', '--force']);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /setting settings\.token is an encrypted secret reference, and decrypting secrets is not available yet.*nothing was run/);
    assert.equal(await sh('rt-02', 'ls -l --time-style=+%s /var/lib/provisioning/taskservs/webprobe 2>&1 | md5sum'), before);
  });

  it('one SSH connection per server for the whole run (SSH transport)', async () => {
    const sshEnv = { PROVISIONING_PROVIDERS__LOCAL__TRANSPORT: 'ssh' };
    writeInfra('');
    const [c1] = await engine.docker.listContainers({ filters: { label: [`provisioning.io/workspace=${WS}`, 'provisioning.io/name=rt-01'] } });
    const accepted = async () => ((await engine.docker.getContainer(c1!.Id).logs({ stdout: true, stderr: true })).toString('utf8').match(/Accepted publickey/g) ?? []).length;
    const before = await accepted();
    // both taskservs of rt-01: each runs its check, scripts and checks over the same connection
    const r = await cli(['taskserv', 'create', '--servers', 'rt-01', '--infra', 'rt', '--yes', '--force'], sshEnv);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(await accepted() - before, 1);
  });

  it('infra create brings up servers, then taskservs, then clusters in one run; infra delete tears it all down', async () => {
    mkdirSync(join(ws, 'infra', 'whole'), { recursive: true });
    writeFileSync(join(ws, 'infra', 'whole', 'settings.toml'), [
      'provider = "local"', '[defaults]', 'cores = 1', 'memory = "256MiB"',
      '[[servers]]', 'hostname = "wh-01"', 'labels = { role = "web" }', 'taskservs = ["webprobe"]',
      '[[clusters]]', 'name = "duo"', 'settings = { domain = "duo.test" }',
      '[[clusters.components]]', 'name = "side"', 'taskserv = "webprobe-b"', 'placement = { labels = { role = "web" } }', '[clusters.components.settings]', 'port = 18086',
      '[[clusters.components]]', 'name = "view"', 'taskserv = "memberprobe"', 'placement = { servers = ["wh-01"] }', 'after = ["side"]', '[clusters.components.settings]', 'port = 18087', 'smoke_expect = "^duo duo.test wh-01@"',
    ].join('\n') + '\n');
    const r = await cli(['infra', 'create', '--infra', 'whole', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const seq = (r.json().results as { action: string; name: string; status: string }[]).map((x) => `${x.action}:${x.name}:${x.status}`);
    assert.deepEqual(seq, ['create:wh-01:done', 'create:webprobe:done', 'create:webprobe-b:done', 'create:memberprobe:done', 'create:duo:done']);
    const ip = (r.json().results[0].observed.addresses.private[0] as { ip: string }).ip;
    assert.equal((await cli(['server', 'ssh', 'wh-01', '--infra', 'whole', '--', 'cat', '/srv/memberprobe/index.html'])).stdout.trim(), `duo duo.test wh-01@${ip}`);
    const again = await cli(['infra', 'create', '--infra', 'whole', '--yes', '--out', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((again.json().results as { name: string; note?: string }[]).map((x) => `${x.name}: ${x.note}`), ['webprobe: unchanged (check passed)', 'webprobe-b: unchanged (check passed)', 'memberprobe: unchanged (check passed)']);
    const d = await cli(['infra', 'delete', '--infra', 'whole', '--yes', '--out', 'json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.equal((await engine.docker.listContainers({ all: true, filters: { label: [`provisioning.io/workspace=${WS}`, 'provisioning.io/infra=whole'] } })).length, 0);
  });

  it('taskserv configure re-renders and restarts; update with nothing changed only checks; an unknown --version is refused', async () => {
    writeInfra('');
    const pid = await sh('rt-01', 'cat /run/webprobe.pid');
    const c = await cli(['taskserv', 'configure', 'webprobe', '--servers', 'rt-01', '--infra', 'rt', '--yes', '--out', 'json']);
    assert.equal(c.code, 0, c.stderr + c.stdout);
    assert.equal(c.json().results[0].note, 'reconfigured and restarted, smoke tests passed');
    assert.notEqual(await sh('rt-01', 'cat /run/webprobe.pid'), pid);
    const u = await cli(['taskserv', 'update', 'webprobe', '--servers', 'rt-01', '--infra', 'rt', '--yes', '--out', 'json']);
    assert.equal(u.code, 0, u.stderr + u.stdout);
    assert.equal(u.json().results[0].note, 'unchanged (check passed)');
    const v = await cli(['taskserv', 'update', 'webprobe', '--version', '9.9.9', '--infra', 'rt', '--yes']);
    assert.equal(v.code, 5, v.stderr);
    assert.match(v.stderr, /webprobe 9\.9\.9 is not in the catalog: the winning layer has 1\.0\.0/);
  });

  it('delete stops and uninstalls: the server is left clean', async () => {
    writeInfra('');
    const r = await cli(['taskserv', 'delete', 'webprobe', 'webprobe-b', '--infra', 'rt', '--servers', 'rt-01', '--yes', '--force']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(await sh('rt-01', 'ls /var/lib/provisioning/taskservs 2>/dev/null; ls /srv; ls /etc/webprobe* 2>/dev/null; pgrep -f "[h]ttp.server" || true'), '');
  });
});
