import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { hasImage } from '../../src/providers/local/engine.js';
import { IMAGE_CMD, prepareImage } from '../../src/providers/local/image.js';
import { ROOT, runCli, tempHome } from '../fixtures/cli.js';
import { ENGINE_DIR, ensureEngine, removeLabelled, testLabel, type Engine } from '../fixtures/engine.js';

const run = promisify(execFile);

/** Retry `ssh … uname -a` until sshd in the container answers (it makes host keys first). */
async function sshUname(key: string, port: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const { stdout } = await run('ssh', ['-i', key, '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR', 'root@127.0.0.1', 'uname', '-a'], { timeout: 15_000 });
      return stdout;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

describe('local provider base image (real Podman engine)', { timeout: 600_000 }, () => {
  let engine: Engine;
  before(async () => { engine = await ensureEngine(); });

  it('scripts/engine.sh is idempotent: parallel runs print the same answering socket', async () => {
    const runs = await Promise.all([1, 2].map(() => run('bash', [join(ROOT, 'scripts', 'engine.sh')], { env: { ...process.env, PROVISIONING_ENGINE_DIR: ENGINE_DIR } })));
    assert.deepEqual(runs.map((r) => `unix://${r.stdout.trim()}`), [engine.socket, engine.socket]);
  });

  it('has the image with the sshd command, and a second prepare finds it present', async () => {
    assert.equal(await hasImage(engine.docker, engine.image), true);
    const info = await engine.docker.getImage(engine.image).inspect();
    assert.deepEqual(info.Config.Cmd, IMAGE_CMD);
    const again = await prepareImage({ docker: engine.docker, cacheDir: join(ENGINE_DIR, 'cache') });
    assert.equal(again.action, 'present');
    assert.ok(again.seconds < 5, `present check took ${again.seconds}s`);
  });

  describe('a container from it', () => {
    const labels = testLabel();
    const dir = mkdtempSync(join(tmpdir(), 'prov-image-'));
    after(async () => {
      if (engine) {
        await removeLabelled(engine.docker, labels);
        assert.deepEqual(await engine.docker.listContainers({ all: true, filters: { label: [`provisioning.test/run=${labels['provisioning.test/run']}`] } }), []);
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs sshd on a loopback port and accepts the mounted key', async () => {
      const key = join(dir, 'id_ed25519');
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'prov-test', '-f', key]);
      const authorized = join(dir, 'authorized_keys');
      writeFileSync(authorized, readFileSync(`${key}.pub`));
      chmodSync(authorized, 0o600);
      const container = await engine.docker.createContainer({
        Image: engine.image, Labels: labels, ExposedPorts: { '22/tcp': {} },
        HostConfig: { PortBindings: { '22/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, Binds: [`${authorized}:/root/.ssh/authorized_keys:ro`] },
      });
      await container.start();
      const ports = (await container.inspect()).NetworkSettings.Ports['22/tcp'];
      assert.equal(ports?.[0]?.HostIp, '127.0.0.1');
      const port = Number(ports?.[0]?.HostPort);
      assert.ok(port > 0, `published port: ${JSON.stringify(ports)}`);
      const out = await sshUname(key, port);
      assert.match(out, /^Linux \S+ .*GNU\/Linux\n$/);
    });
  });
});

describe('provider local prepare-image (CLI)', { timeout: 120_000 }, () => {
  const home = tempHome();
  after(() => rmSync(home, { recursive: true, force: true }));

  it('an unreachable socket is exit 9, naming the socket and how to start an engine', async () => {
    const socket = `unix://${join(home, 'missing', 'podman.sock')}`;
    const r = await runCli(['provider', 'local', 'prepare-image', '--set', `providers.local.socket=${socket}`], { home });
    assert.equal(r.code, 9, r.stderr);
    assert.ok(r.stderr.includes(`container engine at ${socket} is not reachable`), r.stderr);
    assert.match(r.stderr, /providers\.local\.socket/);
    assert.match(r.stderr, /bash scripts\/engine\.sh/);
  });

  it('an unknown action is a usage error listing the actions', async () => {
    const r = await runCli(['provider', 'local', 'prepare-imgae'], { home });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /unknown action 'prepare-imgae'.*\n.*actions: prepare-image/);
  });

  it('check mode says what it would build and import, contacting no engine', async () => {
    const r = await runCli(['provider', 'local', 'prepare-image', '--check', '--out', 'json', '--set', 'providers.local.socket=unix:///nowhere.sock'], { home });
    assert.equal(r.code, 0, r.stderr);
    const plan = r.json<{ tag: string; build: boolean; steps: string[] }>();
    assert.equal(plan.tag, 'localhost/prov-debian:12');
    assert.equal(plan.build, true);
    assert.match(plan.steps[0]!, /debootstrap/);
    assert.match(plan.steps.at(-1)!, /into unix:\/\/\/nowhere\.sock as localhost\/prov-debian:12/);
  });

  it('with the engine from DOCKER_HOST, finds the image present', async () => {
    const { socket } = await ensureEngine();
    const r = await runCli(['provider', 'local', 'prepare-image', '--out', 'json'], { home, env: { DOCKER_HOST: socket } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual({ ...r.json<Record<string, unknown>>(), seconds: 0, tarball: '' }, { tag: 'localhost/prov-debian:12', action: 'present', tarball: '', seconds: 0, socket });
  });
});
