/**
 * End to end on the local provider: the built CLI creates real containers on the real engine
 * (Podman behind the Docker API), reaches them over exec and over SSH, shows drift, adopts a
 * server whose create was killed, and deletes everything it made.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, runCli, tempHome } from '../fixtures/cli.js';
import { ensureEngine, type Engine } from '../fixtures/engine.js';

const WS = `e2e${process.pid}`;
const label = (k: string, v: string) => `${k}=${v}`;

describe('server lifecycle on the local provider (real engine, built CLI)', () => {
  const home = tempHome();
  const ws = join(home, WS);
  let engine: Engine;
  let env: Record<string, string>;
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { home, cwd: ws, env: { ...env, ...extra } });
  const containers = async (infra: string, all = true) => engine.docker.listContainers({ all, filters: { label: [label('provisioning.io/workspace', WS), label('provisioning.io/infra', infra)] } });

  before(async () => {
    engine = await ensureEngine();
    env = { PROVISIONING_PROVIDERS__LOCAL__SOCKET: engine.socket };
    const r = await runCli(['workspace', 'init', WS, ws, '--template', 'local'], { home });
    assert.equal(r.code, 0, r.stderr);
    for (const [infra, hosts] of [['trio', ['node-01', 'node-02', 'node-03']], ['solo', ['adopt-01']]] as const) {
      mkdirSync(join(ws, 'infra', infra), { recursive: true });
      writeFileSync(join(ws, 'infra', infra, 'settings.toml'), [
        'provider = "local"',
        '[defaults]', 'cores = 1', 'memory = "256MiB"',
        ...hosts.flatMap((h) => ['[[servers]]', `hostname = "${h}"`, ...(h === 'node-01' ? ['[[servers.storage]]', 'name = "data"', 'size = "1GiB"', 'mount = "/srv/data"'] : [])]),
      ].join('\n') + '\n');
    }
  });

  after(async () => {
    for (const infra of ['trio', 'solo']) {
      for (const c of await containers(infra)) await engine.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
    }
    const vols = await engine.docker.listVolumes({ filters: { label: [label('provisioning.io/workspace', WS)] } });
    for (const v of vols.Volumes ?? []) await engine.docker.getVolume(v.Name).remove().catch(() => undefined);
  });

  it('creates three servers in parallel, running and reachable, recorded in the state', async () => {
    const r = await cli(['server', 'create', '--infra', 'trio', '--yes', '--wait', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = r.json();
    assert.deepEqual(out.results.map((x: { name: string; status: string }) => `${x.name}:${x.status}`).sort(), ['node-01:done', 'node-02:done', 'node-03:done']);
    const found = await containers('trio');
    assert.equal(found.length, 3);
    assert.ok(found.every((c) => c.State === 'running'));
    // the workspace key was generated (HOME has no ~/.ssh) and installed
    assert.ok(existsSync(join(ws, '.provisioning', 'ssh', 'id_ed25519')));
    const list = await cli(['server', 'list', '--infra', 'trio', '--out', 'json']);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.json() as { name: string; status: string; ip: string; provider: string }[];
    assert.deepEqual(rows.map((x) => `${x.name}:${x.status}:${x.provider}`).sort(), ['node-01:running:local', 'node-02:running:local', 'node-03:running:local']);
    assert.ok(rows.every((x) => /^\d+\.\d+\.\d+\.\d+$/.test(x.ip)), JSON.stringify(rows));
  });

  it('`server ssh <name> -- <cmd>` runs inside that container and exits with the command\'s code', async () => {
    const r = await cli(['server', 'ssh', 'node-01', '--infra', 'trio', '--', 'uname', '-n']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'node-01');
    const v = await cli(['server', 'exec', 'node-02', '--infra', 'trio', '--command', 'echo "on $(uname -n)"; exit 3']);
    assert.equal(v.code, 3, v.stderr);
    assert.equal(v.stdout.trim(), 'on node-02');
    const shell = await cli(['server', 'ssh', 'node-01', '--infra', 'trio']);
    assert.equal(shell.code, 2, shell.stderr);
    assert.match(shell.stderr, /an interactive shell on .* needs a terminal[\s\S]*-- <command>/);
    const mounted = await cli(['server', 'ssh', 'node-01', '--infra', 'trio', '--', 'sh', '-c', 'echo hi > /srv/data/f && cat /srv/data/f']);
    assert.equal(mounted.stdout.trim(), 'hi', mounted.stderr);
  });

  it('reaches the same server over its published SSH port with the workspace key', async () => {
    const r = await cli(['server', 'ssh', 'node-03', '--infra', 'trio', '--', 'sh', '-c', 'echo $SSH_CONNECTION'], { PROVISIONING_PROVIDERS__LOCAL__TRANSPORT: 'ssh' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\S+ \d+ \S+ 22$/m, 'the command ran in an SSH session');
    assert.match(readFileSync(join(ws, '.provisioning', 'known_hosts'), 'utf8'), /^\[127\.0\.0\.1\]:\d+ ssh-ed25519 /m);
    const st = await cli(['server', 'status', 'node-03', '--infra', 'trio', '--out', 'json'], { PROVISIONING_PROVIDERS__LOCAL__TRANSPORT: 'ssh' });
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.json().reachability, /^ok over ssh root@127\.0\.0\.1:\d+/);
  });

  it('re-running create changes nothing', async () => {
    const before = (await containers('trio')).map((c) => c.Id).sort();
    const r = await cli(['server', 'create', '--infra', 'trio', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json().plan.summary.create, 0);
    assert.deepEqual(r.json().results, []);
    assert.deepEqual((await containers('trio')).map((c) => c.Id).sort(), before);
  });

  it('`server list --refresh` shows drift: a stopped server and a missing one; create brings the missing one back', async () => {
    const [c2] = await engine.docker.listContainers({ filters: { label: [label('provisioning.io/workspace', WS), label('provisioning.io/name', 'node-02')] } });
    const [c3] = await engine.docker.listContainers({ filters: { label: [label('provisioning.io/workspace', WS), label('provisioning.io/name', 'node-03')] } });
    await engine.docker.getContainer(c2!.Id).stop({ t: 1 });
    await engine.docker.getContainer(c3!.Id).remove({ force: true });
    const r = await cli(['server', 'list', '--infra', 'trio', '--refresh', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = Object.fromEntries((r.json() as { name: string; status: string; drift?: string }[]).map((x) => [x.name, x]));
    assert.equal(rows['node-01']!.status, 'running');
    assert.equal(rows['node-02']!.status, 'stopped');
    assert.match(rows['node-02']!.drift!, /recorded running, provider says stopped/);
    assert.equal(rows['node-03']!.status, 'missing');
    const plan = await cli(['server', 'create', '--infra', 'trio', '--check', '--out', 'json']);
    const creates = plan.json().changes.filter((c: { action: string }) => c.action === 'create');
    assert.deepEqual(creates.map((c: { name: string; reason: string }) => `${c.name}: ${c.reason}`), ['node-03: missing at the provider']);
    const again = await cli(['server', 'create', '--infra', 'trio', '--yes', '--out', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await containers('trio')).length, 3);
    const start = await cli(['server', 'start', 'node-02', '--infra', 'trio', '--out', 'json']);
    assert.equal(start.code, 0, start.stderr);
    assert.equal((await containers('trio', false)).length, 3);
  });

  it('deletes every server: nothing left in the engine or the state', async () => {
    const r = await cli(['server', 'delete', '--infra', 'trio', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.json().done, 3);
    assert.equal((await containers('trio')).length, 0);
    const vols = await engine.docker.listVolumes({ filters: { label: [label('provisioning.io/workspace', WS), label('provisioning.io/infra', 'trio')] } });
    assert.equal((vols.Volumes ?? []).length, 0);
    const list = await cli(['server', 'list', '--infra', 'trio', '--out', 'json']);
    assert.deepEqual((list.json() as { status: string }[]).map((x) => x.status), ['not created', 'not created', 'not created']);
  });

  it('delete without --yes in a non-interactive session changes nothing (exit 7)', async () => {
    const c = await cli(['server', 'create', 'adopt-01', '--infra', 'solo', '--yes']);
    assert.equal(c.code, 0, c.stderr);
    const r = await cli(['server', 'delete', '--infra', 'solo']);
    assert.equal(r.code, 7, r.stderr);
    assert.equal((await containers('solo')).length, 1);
    const d = await cli(['server', 'delete', '--infra', 'solo', '--yes']);
    assert.equal(d.code, 0, d.stderr);
    assert.equal((await containers('solo')).length, 0);
  });

  it('a create killed mid-way leaves a `creating` record; the next run adopts the half-made server', async () => {
    const events = await engine.docker.getEvents({ filters: { type: ['container'], event: ['create'], label: [label('provisioning.io/workspace', WS), label('provisioning.io/infra', 'solo')] } });
    const child = spawn(process.execPath, [BIN, 'server', 'create', '--infra', 'solo', '--yes'], {
      cwd: ws, env: { PATH: process.env.PATH ?? '', HOME: home, PROVISIONING_HOME: home, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // kill -9 as soon as the engine reports the container: the CLI is still waiting for it to run.
    // If the CLI ends first (it failed, or it was faster than the event), say so instead of waiting forever.
    const first = await Promise.race([
      new Promise<string>((resolve) => { events.once('data', () => { child.kill('SIGKILL'); resolve('killed'); }); }),
      exited.then((code) => `the CLI exited (${code}) before the engine reported the container:\n${stderr}`),
    ]);
    (events as unknown as { destroy(): void }).destroy();
    assert.equal(first, 'killed');
    await exited;
    const half = await containers('solo');
    assert.equal(half.length, 1);
    const rec = await cli(['server', 'list', '--infra', 'solo', '--out', 'json']);
    assert.equal(rec.json()[0].status, 'creating', 'the killed run left its trace');
    const plan = await cli(['server', 'create', '--infra', 'solo', '--check', '--out', 'json']);
    assert.match(plan.json().changes[0].reason, /earlier create did not finish \(creating\)/);
    const r = await cli(['server', 'create', '--infra', 'solo', '--yes', '--wait']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stderr, /adopt-01: adopting /);
    const now = await containers('solo');
    assert.equal(now.length, 1, 'one server, not a second one');
    // the half-made container is started; one whose interrupted start broke it is replaced
    if (now[0]!.Id !== half[0]!.Id) assert.match(r.stderr, /does not start .*: replacing it/);
    assert.equal(now[0]!.State, 'running');
    const ok = await cli(['server', 'ssh', 'adopt-01', '--infra', 'solo', '--', 'true']);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('an unreachable engine socket stops the run before anything changes (exit 9, names the socket and how to start one)', async () => {
    // trio was deleted above: the create has work to do
    const r = await cli(['server', 'create', '--infra', 'trio', '--yes'], { PROVISIONING_PROVIDERS__LOCAL__SOCKET: 'unix:///nonexistent/podman.sock' });
    assert.equal(r.code, 9, r.stderr);
    assert.equal((await containers('trio')).length, 0);
    assert.match(r.stderr, /container engine at unix:\/\/\/nonexistent\/podman\.sock is not reachable/);
    assert.match(r.stderr, /scripts\/engine\.sh/);
  });

  it('an unknown zone or plan is refused offline, before any container is made', async () => {
    mkdirSync(join(ws, 'infra', 'bad'), { recursive: true });
    writeFileSync(join(ws, 'infra', 'bad', 'settings.toml'), 'provider = "local"\n[[servers]]\nhostname = "bad-01"\nzone = "mars-1"\n');
    const r = await cli(['server', 'create', '--infra', 'bad', '--yes']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /mars-1/);
    assert.equal((await containers('bad')).length, 0);
    writeFileSync(join(ws, 'infra', 'bad', 'settings.toml'), 'provider = "lcoal"\n[[servers]]\nhostname = "bad-01"\n');
    const u = await cli(['server', 'create', '--infra', 'bad', '--yes']);
    assert.equal(u.code, 3, u.stderr);
    assert.match(u.stderr, /unknown provider 'lcoal'[\s\S]*did you mean 'local'/);
  });

  it('a configured SSH key that does not exist is named in the error, and nothing is created', async () => {
    const del = await cli(['server', 'delete', '--infra', 'solo', '--yes']);
    assert.equal(del.code, 0, del.stderr);
    const again = await cli(['server', 'create', '--infra', 'solo', '--yes'], { PROVISIONING_SSH__PRIVATE_KEY: join(home, 'missing_key') });
    assert.equal(again.code, 4, again.stderr);
    assert.match(again.stderr, /missing_key/);
    assert.match(again.stderr, /ssh\.private_key/);
    assert.equal((await containers('solo')).length, 0);
  });
});
