/**
 * The taskserv and cluster maintenance commands end to end, with the built CLI on real
 * containers: a taskserv scaffolded by `taskserv generate --scaffold` (python3 only, no apt) is
 * validated and installed, then listed, probed, checked, stopped/started/restarted, its logs read
 * and followed, its versions compared, and run as a cluster. Bad inputs name what is wrong.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, runCli, tempHome } from '../fixtures/cli.js';
import { ensureEngine, type Engine } from '../fixtures/engine.js';

const WS = `tsc${process.pid}`;
const INFRA = 'ts';

describe('taskserv maintenance commands (real containers, built CLI)', () => {
  const home = tempHome();
  const ws = join(home, WS);
  const ext = join(ws, 'extensions', 'taskservs', 'greeter');
  let engine: Engine;
  let env: Record<string, string>;
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(['--infra', INFRA, ...args], { home, cwd: ws, env: { ...env, ...extra } });
  const sh = async (host: string, script: string) => (await cli(['server', 'ssh', host, '--', 'sh', '-c', script])).stdout.trim();

  /** ts-03 is defined and never created; greeter and its cluster come once the scaffold exists. */
  const writeInfra = (greeter: boolean) => writeFileSync(join(ws, 'infra', INFRA, 'settings.toml'), [
    'provider = "local"',
    '[defaults]', 'cores = 1', 'memory = "256MiB"',
    '[[servers]]', 'hostname = "ts-01"', 'labels = { role = "greet" }', ...(greeter ? ['taskservs = ["greeter"]'] : []),
    '[[servers]]', 'hostname = "ts-02"', 'labels = { role = "greet" }',
    '[[servers]]', 'hostname = "ts-03"',
    ...(greeter ? ['[[clusters]]', 'name = "greetings"', 'extension = "greetings"'] : []),
  ].join('\n') + '\n');

  before(async () => {
    engine = await ensureEngine();
    env = { PROVISIONING_PROVIDERS__LOCAL__SOCKET: engine.socket };
    const r = await runCli(['workspace', 'init', WS, ws, '--template', 'local', '--no-activate'], { home });
    assert.equal(r.code, 0, r.stderr);
    mkdirSync(join(ws, 'infra', INFRA), { recursive: true });
    writeInfra(false);
    const c = await cli(['server', 'create', 'ts-01', 'ts-02', '--yes']);
    assert.equal(c.code, 0, c.stderr + c.stdout);
  });

  after(async () => {
    const found = await engine.docker.listContainers({ all: true, filters: { label: [`provisioning.io/workspace=${WS}`] } });
    for (const c of found) await engine.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });

  it('`taskserv generate <name> --scaffold` writes a taskserv extension that validates; check mode writes nothing', async () => {
    const plan = await cli(['taskserv', 'generate', 'greeter', '--scaffold', '--check', '--out', 'json']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.ok(plan.json().files.some((f: { path: string; action: string }) => f.path.endsWith('templates/greeter.conf.j2') && f.action === 'create'));
    assert.equal(existsSync(ext), false);
    const r = await cli(['taskserv', 'generate', 'greeter', '--scaffold']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /taskserv greeter scaffolded in extensions\/taskservs\/greeter \(workspace layer\), valid/);
    for (const f of ['extension.toml', 'scripts/install.sh', 'scripts/configure.sh', 'scripts/start.sh', 'scripts/stop.sh', 'scripts/check.sh', 'scripts/uninstall.sh', 'templates/server.py.j2', 'templates/greeter.conf.j2', 'templates/greeter.service.j2']) {
      assert.ok(existsSync(join(ext, f)), f);
    }
    const m = readFileSync(join(ext, 'extension.toml'), 'utf8');
    assert.match(m, /^name = "greeter"$/m);
    assert.doesNotMatch(m + readFileSync(join(ext, 'scripts', 'start.sh'), 'utf8'), /__NAME__/);
    const v = await cli(['validate', 'extension', ext]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    const again = await cli(['taskserv', 'generate', 'greeter', '--scaffold']);
    assert.equal(again.code, 6, again.stderr);
    assert.match(again.stderr, /extensions\/taskservs\/greeter already exists[\s\S]*--force/);
  });

  it('scaffold refuses a name of another layer without --force (exit 6) and a bad name (exit 2)', async () => {
    const core = await cli(['taskserv', 'generate', 'redis', '--scaffold']);
    assert.equal(core.code, 6, core.stderr);
    assert.match(core.stderr, /a taskserv 'redis' exists in the core layer[\s\S]*module load taskserv redis/);
    assert.equal(existsSync(join(ws, 'extensions', 'taskservs', 'redis')), false);
    const bad = await cli(['taskserv', 'generate', 'Greeter_2', '--scaffold']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /did you mean 'greeter-2'/);
    const unknown = await cli(['taskserv', 'generate', 'gretter']);
    assert.equal(unknown.code, 5, unknown.stderr);
    assert.match(unknown.stderr, /unknown taskserv 'gretter'[\s\S]*did you mean 'greeter'[\s\S]*taskserv generate gretter --scaffold/);
  });

  it('the scaffold installs with `taskserv create` (smoke test passes) and `taskserv list` shows it', async () => {
    writeInfra(true);
    const cl = join(ws, 'extensions', 'clusters', 'greetings');
    mkdirSync(cl, { recursive: true });
    writeFileSync(join(cl, 'extension.toml'), [
      '[extension]', 'name = "greetings"', 'kind = "cluster"', 'version = "1.0.0"',
      '[cluster]', 'components = [{ name = "hello", taskserv = "greeter", placement = { labels = { role = "greet" } } }]',
    ].join('\n') + '\n');
    const r = await cli(['taskserv', 'create', 'greeter', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(r.json().results.map((x: { name: string; server: string; note: string }) => `${x.name}@${x.server}: ${x.note}`), ['greeter@ts-01: installed, smoke tests passed']);
    assert.match(await sh('ts-01', 'python3 -c "import socket; print(socket.create_connection((\'127.0.0.1\', 8700)).recv(99).decode())"'), /^ok ts-01 hello$/);
    const l = await cli(['taskserv', 'list', '--out', 'json']);
    assert.equal(l.code, 0, l.stderr);
    assert.deepEqual(l.json().map((x: { name: string; version: string; server: string; status: string }) => `${x.name} ${x.version} ${x.server} ${x.status}`), ['greeter 0.1.0 ts-01 ready']);
    const table = await cli(['taskserv', 'list', '--installed']);
    assert.match(table.stdout, /^NAME\s+VERSION\s+SERVER\s+STATUS\ngreeter\s+0\.1\.0\s+ts-01\s+ready\n/);
  });

  it('`taskserv status`: the record, a readiness probe, whether the definition changed, the last change', async () => {
    const r = await cli(['taskserv', 'status', 'greeter', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const [s] = r.json().servers;
    assert.deepEqual([s.server, s.status, s.version, s.definition, s.readiness.ok], ['ts-01', 'ready', '0.1.0', 'in sync', true]);
    assert.deepEqual(s.readiness.checks.map((c: { name: string; attempts: number }) => `${c.name}:${c.attempts}`), ['tcp-1:1']);
    assert.equal(s.last_operation.command, 'taskserv create');
    const t = await cli(['taskserv', 'status', 'greeter']);
    assert.match(t.stdout, /ts-01\s+ready\s+0\.1\.0\s+ok \(tcp-1\)\s+in sync/);
  });

  it('bad inputs: unknown taskserv (did you mean), not installed, not on that server, server not created, unknown server', async () => {
    const unknown = await cli(['taskserv', 'status', 'greter']);
    assert.equal(unknown.code, 5, unknown.stderr);
    assert.match(unknown.stderr, /unknown taskserv 'greter'[\s\S]*did you mean 'greeter'/);
    const none = await cli(['taskserv', 'check', 'redis']);
    assert.equal(none.code, 5, none.stderr);
    assert.match(none.stderr, /taskserv 'redis' is not installed on any server of infra 'ts'[\s\S]*taskserv create redis --servers/);
    const elsewhere = await cli(['taskserv', 'logs', 'greeter', '--servers', 'ts-02']);
    assert.equal(elsewhere.code, 5, elsewhere.stderr);
    assert.match(elsewhere.stderr, /taskserv 'greeter' is not installed on server 'ts-02'[\s\S]*installed on ts-01/);
    const notCreated = await cli(['taskserv', 'restart', 'greeter', '--servers', 'ts-03']);
    assert.equal(notCreated.code, 5, notCreated.stderr);
    assert.match(notCreated.stderr, /server 'ts-03' is defined but not created[\s\S]*server create ts-03/);
    const typo = await cli(['taskserv', 'status', 'greeter', '--servers', 'ts-1']);
    assert.equal(typo.code, 5, typo.stderr);
    assert.match(typo.stderr, /infra 'ts' has no server 'ts-1'[\s\S]*did you mean 'ts-01'/);
    const lines = await cli(['taskserv', 'logs', 'greeter', '--lines', 'lots']);
    assert.equal(lines.code, 2, lines.stderr);
    assert.match(lines.stderr, /--lines expects a whole number/);
    const sec = await cli(['taskserv', 'check-updates', '--security-only']);
    assert.equal(sec.code, 2, sec.stderr);
    assert.match(sec.stderr, /security advisories/);
  });

  it('`taskserv check` runs readiness and smoke again and records the outcome', async () => {
    const r = await cli(['taskserv', 'check', 'greeter', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.json().ok, true);
    assert.deepEqual(r.json().servers[0].checks.map((c: { phase: string; name: string; ok: boolean }) => `${c.phase}:${c.name}:${c.ok}`), ['readiness:tcp-1:true', 'smoke:greeting:true']);
    const t = await cli(['taskserv', 'check', 'greeter']);
    assert.match(t.stdout, /✓ ts-01: smoke greeting/);
    assert.match(t.stdout, /check: greeter passed on 1 server\(s\)/);
  });

  it('`taskserv stop` confirms (exit 7 without --yes), stops; check then fails with the actionable lines (exit 1); start brings it back', async () => {
    const refused = await cli(['taskserv', 'stop', 'greeter']);
    assert.equal(refused.code, 7, refused.stderr);
    assert.equal(await sh('ts-01', 'test -e /run/greeter.pid && echo running'), 'running');
    const plan = await cli(['taskserv', 'stop', 'greeter', '--check']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /Check mode — nothing will be changed[\s\S]*ts-01\s+ready\s+\S+\s+stop/);
    const stop = await cli(['taskserv', 'stop', 'greeter', '--yes']);
    assert.equal(stop.code, 0, stop.stderr + stop.stdout);
    assert.match(stop.stdout, /✓ ts-01: greeter stopped/);
    assert.equal(await sh('ts-01', 'pgrep -f "greeter/serve[r].py" || echo none'), 'none');
    const list = await cli(['taskserv', 'list']);
    assert.match(list.stdout, /greeter\s+0\.1\.0\s+ts-01\s+ready \(stopped\)/);

    const check = await cli(['taskserv', 'check', 'greeter']);
    assert.equal(check.code, 1, check.stdout);
    assert.match(check.stdout, /✗ ts-01: readiness:tcp-1 failed: port 8700 on 127\.0\.0\.1 does not accept connections after 1 attempt\(s\)/);
    assert.match(check.stdout, /command: tcp 127\.0\.0\.1:8700 · exit code 1/);
    assert.match(check.stdout, /last output:\n\s+\S/);
    assert.match(check.stdout, /try: Nothing listens on port 8700: `provisioning taskserv logs greeter`/);
    assert.match(check.stdout, /skipped smoke tests \(readiness failed\)/);
    const st = (await cli(['taskserv', 'status', 'greeter', '--out', 'json'])).json().servers[0];
    assert.deepEqual([st.readiness.ok, st.running, st.last_check.ok, st.last_check.failed], [false, false, false, 'readiness:tcp-1']);

    const start = await cli(['taskserv', 'start', 'greeter', '--out', 'json']);
    assert.equal(start.code, 0, start.stderr + start.stdout);
    assert.deepEqual(start.json().servers.map((s: { server: string; ok: boolean; checks: string[] }) => `${s.server}:${s.ok}:${s.checks.join(',')}`), ['ts-01:true:tcp-1']);
    assert.equal((await cli(['taskserv', 'check', 'greeter'])).code, 0);
  });

  it('`taskserv restart` without a restart script runs stop + start: a new process, ready again', async () => {
    const before = await sh('ts-01', 'cat /run/greeter.pid');
    const r = await cli(['taskserv', 'restart', 'greeter']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /✓ ts-01: greeter restarted, readiness passed \(tcp-1\)/);
    assert.notEqual(await sh('ts-01', 'cat /run/greeter.pid'), before);
  });

  it('`taskserv logs`: the log file by convention, --lines, and --follow until Ctrl-C (the remote tail goes too)', async () => {
    const r = await cli(['taskserv', 'logs', 'greeter', '--lines', '2']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], '==> /var/log/greeter.log <==');
    assert.equal(lines.length, 3, r.stdout);
    assert.match(r.stdout, /greeted 127\.0\.0\.1/);
    const j = await cli(['taskserv', 'logs', 'greeter', '--out', 'json']);
    assert.ok(j.json()[0].lines.some((l: string) => /^listening on 127\.0\.0\.1:8700$/.test(l)), j.stdout);

    const child = spawn(process.execPath, [BIN, 'taskserv', 'logs', 'greeter', '--follow', '--lines', '1', '--infra', INFRA], {
      cwd: ws, env: { PATH: process.env.PATH ?? '', HOME: home, PROVISIONING_HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const waiting: { re: RegExp; res: () => void }[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      for (const w of waiting.splice(0)) if (w.re.test(out)) w.res(); else waiting.push(w);
    });
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    const seen = (re: RegExp) => new Promise<void>((res) => { if (re.test(out)) res(); else waiting.push({ re, res }); });
    await seen(/==> \/var\/log\/greeter\.log <==/);
    const marker = `marker-${process.pid}`;
    await sh('ts-01', `echo ${marker} >> /var/log/greeter.log`);
    await seen(new RegExp(marker));
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.equal(await sh('ts-01', 'pgrep -f "tail -n 1 -v -[F]" || echo none'), 'none');
  });

  it('`taskserv versions` and `check-updates`: catalog layers against the installed version', async () => {
    const v = await cli(['taskserv', 'versions', 'greeter', '--out', 'json']);
    assert.equal(v.code, 0, v.stderr);
    assert.deepEqual(v.json().catalog.map((c: { layer: string; version: string; selected: boolean }) => `${c.layer} ${c.version} ${c.selected}`), ['workspace 0.1.0 true']);
    assert.deepEqual(v.json().servers.map((s: { server: string; version: string; status: string }) => `${s.server} ${s.version} ${s.status}`), ['ts-01 0.1.0 ready']);
    const m = join(ext, 'extension.toml');
    const text = readFileSync(m, 'utf8');
    writeFileSync(m, text.replace('version = "0.1.0"', 'version = "0.2.0"'));
    try {
      const u = await cli(['taskserv', 'check-updates', '--out', 'json']);
      assert.equal(u.code, 0, u.stderr);
      assert.deepEqual(u.json().map((x: { name: string; server: string; installed: string; available: string; state: string }) => `${x.name}@${x.server} ${x.installed} → ${x.available}: ${x.state}`), ['greeter@ts-01 0.1.0 → 0.2.0: update available']);
      const t = await cli(['taskserv', 'check-updates', 'greeter']);
      assert.match(t.stderr, /taskserv update <name>` upgrades: greeter/);
    } finally {
      writeFileSync(m, text);
    }
    const same = await cli(['taskserv', 'check-updates', 'greeter', '--out', 'json']);
    assert.equal(same.json()[0].state, 'up to date');
  });

  it('`cluster list` and `cluster status`: members, servers, recorded status and last check; unknown cluster', async () => {
    const before = await cli(['cluster', 'list', '--out', 'json']);
    assert.equal(before.code, 0, before.stderr);
    assert.deepEqual(before.json().map((c: { name: string; taskservs: string[]; servers: string[]; status: string; members_ready: string }) => [c.name, c.taskservs, c.servers, c.status, c.members_ready]),
      [['greetings', ['greeter'], ['ts-01', 'ts-02'], 'not created', '1/2']]);
    const create = await cli(['cluster', 'create', 'greetings', '--yes']);
    assert.equal(create.code, 0, create.stderr + create.stdout);
    const list = await cli(['cluster', 'list']);
    assert.match(list.stdout, /greetings\s+greetings\s+greeter\s+ts-01, ts-02\s+ready\s+2\/2/);
    const st = await cli(['cluster', 'status', 'greetings', '--out', 'json']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.json().status, 'ready');
    assert.deepEqual(st.json().components.map((c: { component: string; server: string; state: string; last_check: { ok: boolean } }) => `${c.component}@${c.server}:${c.state}:${c.last_check.ok}`), ['hello@ts-01:ready:true', 'hello@ts-02:ready:true']);
    const table = await cli(['cluster', 'status', 'greetings']);
    assert.match(table.stdout, /hello\s+greeter\s+ts-02\s+ready\s+0\.1\.0\s+ok at \S+ by apply/);
    const typo = await cli(['cluster', 'status', 'greeting']);
    assert.equal(typo.code, 5, typo.stderr);
    assert.match(typo.stderr, /cluster 'greeting' is not defined in infra 'ts'[\s\S]*did you mean 'greetings'/);
    const catalog = await cli(['cluster', 'list', '--available', '--out', 'json']);
    assert.ok(catalog.json().some((c: { name: string; layer: string }) => c.name === 'greetings' && c.layer === 'workspace'));
    assert.ok(catalog.json().some((c: { name: string }) => c.name === 'web-stack'));
  });

  it('`taskserv logs` with no log anywhere says where it looked (exit 5); the scaffold uninstalls cleanly', async () => {
    await sh('ts-02', 'rm -f /var/log/greeter.log');
    const r = await cli(['taskserv', 'logs', 'greeter', '--servers', 'ts-02']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /no logs of greeter found on ts-02: looked for journal units greeter\* \(with systemd\), \/var\/log\/greeter\.log/);
    const both = await cli(['taskserv', 'logs', 'greeter']);
    assert.equal(both.code, 0, both.stderr);
    assert.match(both.stdout, /^── ts-01 ──$/m);
    assert.match(both.stderr, /warning: no logs of greeter found on ts-02/);
    const del = await cli(['cluster', 'delete', 'greetings', '--yes']);
    assert.equal(del.code, 0, del.stderr + del.stdout);
    assert.equal(await sh('ts-02', 'ls /etc/greeter /usr/local/lib/greeter 2>/dev/null; pgrep -f "greeter/serve[r].py" || echo gone'), 'gone');
  });
});
