import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ProvError } from '../../src/errors/index.js';
import { ExecTransport, Transports } from '../../src/transport/index.js';
import { ensureEngine, removeLabelled, testLabel, type Engine } from '../fixtures/engine.js';

describe('container exec transport against a real engine', () => {
  let engine: Engine;
  const labels = testLabel();
  let t: ExecTransport;

  before(async () => {
    engine = await ensureEngine();
    const c = await engine.docker.createContainer({ Image: engine.image, Cmd: ['sleep', 'infinity'], Labels: labels });
    await c.start();
    t = new ExecTransport(engine.docker, c.id);
  });
  after(async () => {
    if (engine) await removeLabelled(engine.docker, labels);
  });

  it('runs commands with exit codes, demuxed streams, env and stdin (env not in argv)', async () => {
    const out: string[] = [];
    const res = await t.exec(['sh', '-c', 'echo "a=$A"; echo err >&2; cat; tr "\\0" " " < /proc/$$/cmdline; exit 5'], {
      env: { A: 'secret value\nline2' }, stdin: 'from stdin\n', onStdout: (d) => out.push(d.toString()),
    });
    assert.equal(res.code, 5);
    assert.deepEqual(res.stdout_tail.slice(0, 3), ['a=secret value', 'line2', 'from stdin']);
    assert.ok(!res.stdout_tail[3]!.includes('secret'), res.stdout_tail[3]);
    assert.deepEqual(res.stderr_tail, ['err']);
    assert.match(out.join(''), /^a=secret value\nline2\n/);

    const script = await t.exec({ script: 'echo "step=$PROV_STEP"; exit 3' }, { env: { PROV_STEP: 'configure' } });
    assert.equal(script.code, 3);
    assert.deepEqual(script.stdout_tail, ['step=configure']);
  });

  it('uploads with putArchive, mode and owner', async () => {
    await t.upload('/var/lib/provisioning/taskservs/redis/install.sh', '#!/bin/sh\necho ok\n', { mode: 0o700 });
    await t.upload('/var/lib/provisioning/settings.json', '{}', { mode: 0o600, owner: 'nobody:nogroup' });
    const res = await t.exec(['sh', '-c', 'stat -c "%a %U %n" /var/lib/provisioning/taskservs/redis/install.sh /var/lib/provisioning/settings.json; /var/lib/provisioning/taskservs/redis/install.sh']);
    assert.deepEqual(res.stdout_tail, [
      '700 root /var/lib/provisioning/taskservs/redis/install.sh', '600 nobody /var/lib/provisioning/settings.json', 'ok',
    ]);
  });

  it('kills the process group on timeout', async () => {
    const err = await t.exec(['sh', '-c', 'echo started; sleep 327 & sleep 328'], { timeoutMs: 700 }).then(() => assert.fail('no timeout'), (e: unknown) => e);
    assert.ok(err instanceof ProvError);
    assert.equal(err.code, 'TIMEOUT');
    assert.deepEqual(err.details.stdout_tail, ['started']);
    const ps = await t.exec(['sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "']);
    assert.ok(!/sleep 32[78]/.test(ps.stdout_tail.join('\n')), 'processes survived');
  });

  it('opens from a provider connection answer', async () => {
    const ts = new Transports({
      knownHosts: '/nonexistent', hostKeyChecking: 'strict', connectTimeoutMs: 1000, keepaliveMs: 0, commandTimeoutMs: 60_000, sudo: true, defaultUser: 'root',
    }, async () => engine.docker);
    const x = await ts.open({ transport: 'exec', container: t.container, user: 'nobody' });
    assert.equal(x.kind, 'exec');
    assert.equal((await x.exec(['id', '-un'])).stdout_tail[0], 'nobody');
    await ts.closeAll();
  });

  it('a missing container is NOT_FOUND', async () => {
    const gone = new ExecTransport(engine.docker, 'prov-no-such-container');
    const err = await gone.exec(['true']).then(() => assert.fail('ran'), (e: unknown) => e);
    assert.ok(err instanceof ProvError);
    assert.equal(err.code, 'NOT_FOUND');
    assert.match(err.message, /prov-no-such-container/);
  });
});
