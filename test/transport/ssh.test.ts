import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProvError } from '../../src/errors/index.js';
import { SshPool, Transports, type SshSettings } from '../../src/transport/index.js';
import { freePort, startSshd, SUDO_USER, type SshdFleet } from '../fixtures/sshd.js';

let fleet: SshdFleet;
let ws: string;

function settings(over: Partial<SshSettings> = {}): SshSettings {
  return {
    privateKey: fleet.keyFile, knownHosts: join(ws, '.provisioning', 'known_hosts'), hostKeyChecking: 'accept_new',
    connectTimeoutMs: 3000, keepaliveMs: 15_000, commandTimeoutMs: 60_000, sudo: true, defaultUser: 'root', ...over,
  };
}

async function rejectsWith(p: Promise<unknown>, code: string, ...parts: (string | RegExp)[]): Promise<ProvError> {
  const err = await p.then(() => assert.fail(`expected ${code}`), (e: unknown) => e);
  assert.ok(err instanceof ProvError, String(err));
  assert.equal(err.code, code, err.message);
  for (const part of parts) assert.match(`${err.message}\n${err.hint ?? ''}`, typeof part === 'string' ? new RegExp(part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : part);
  return err;
}

/** Every process's argv on the machine (sshd runs here), joined. */
const allCmdlines = (): string => execFileSync('sh', ['-c', "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"], { maxBuffer: 256 * 1024 * 1024 }).toString();

const sshFingerprint = (pubFile: string): string => execFileSync('ssh-keygen', ['-lf', pubFile]).toString().split(' ')[1]!;

describe('SSH transport against real sshd', () => {
  let pool: SshPool;

  before(async () => {
    fleet = await startSshd(3);
    ws = mkdtempSync(join(tmpdir(), 'prov-ws-'));
    pool = new SshPool(settings());
  });
  after(async () => {
    await pool.closeAll();
    await fleet.stop();
    rmSync(ws, { recursive: true, force: true });
  });

  it('runs argv commands with exit codes, quoting and streamed stdout/stderr', async () => {
    const t = await pool.get(fleet.hosts[0]!);
    const chunks: string[] = [];
    const errs: string[] = [];
    const res = await t.exec(['sh', '-c', 'echo out1; echo err1 >&2; echo out2; exit 3'], {
      onStdout: (d) => chunks.push(d.toString()), onStderr: (d) => errs.push(d.toString()),
    });
    assert.equal(res.code, 3);
    assert.deepEqual(res.stdout_tail, ['out1', 'out2']);
    assert.deepEqual(res.stderr_tail, ['err1']);
    assert.equal(chunks.join(''), 'out1\nout2\n');
    assert.equal(errs.join(''), 'err1\n');
    assert.ok(res.duration_ms >= 0);

    const tricky = ['a b', "it's", '$HOME', '`id`', 'l1\nl2', '', '; rm -rf /tmp/x', '*'];
    const echo = await t.exec(['printf', '[%s]', ...tricky]);
    assert.equal(echo.code, 0);
    assert.equal(echo.stdout_tail.join('\n'), tricky.map((a) => `[${a}]`).join(''));
  });

  it('keeps only the last lines of long output', async () => {
    const t = await pool.get(fleet.hosts[0]!);
    const res = await t.exec(['seq', '1', '500']);
    assert.equal(res.stdout_tail.length, 20);
    assert.equal(res.stdout_tail.at(-1), '500');
  });

  it('passes env without putting values in any argv, and stdin after it', async () => {
    const t = await pool.get(fleet.hosts[0]!);
    const secret = 's3cr3t-' + Date.now();
    const res = await t.exec(['sh', '-c', 'printf "%s" "$SECRET" >&2; printf "%s|" "$OTHER"; cat /proc/$$/cmdline | tr "\\0" " "; sleep 0.3'], {
      env: { SECRET: `${secret} 'quoted' $x\nsecond line`, OTHER: 'o' },
      onStdout: () => assert.ok(!allCmdlines().includes(secret), 'secret visible in a process argv'),
    });
    assert.equal(res.code, 0);
    assert.deepEqual(res.stderr_tail, [`${secret} 'quoted' $x`, 'second line']);
    assert.match(res.stdout_tail[0]!, /^o\|sh -c /);
    assert.ok(!res.stdout_tail.join('').includes(secret));

    const cat = await t.exec(['cat'], { env: { A: '1' }, stdin: 'line one\nline two\n' });
    assert.deepEqual(cat.stdout_tail, ['line one', 'line two']);
    await rejectsWith(t.exec(['true'], { env: { 'BAD-NAME': 'x' } }), 'INVALID_ARGUMENT', 'BAD-NAME');
  });

  it('runs a script given as text, with env, and removes it afterwards', async () => {
    const t = await pool.get(fleet.hosts[0]!);
    const res = await t.exec({ script: 'echo "step=$PROV_STEP"\necho "$0"\nexit 4\n' }, { env: { PROV_STEP: 'install' } });
    assert.equal(res.code, 4);
    assert.equal(res.stdout_tail[0], 'step=install');
    const left = await t.exec(['ls', res.stdout_tail[1]!]);
    assert.notEqual(left.code, 0, 'script file left behind');
  });

  it('uploads files atomically with mode and owner, creating parent directories', async () => {
    const t = await pool.get(fleet.hosts[1]!);
    const dir = `/tmp/prov-upload-test-${Date.now()}`;
    await t.upload(`${dir}/taskservs/redis/install.sh`, '#!/bin/sh\necho installed\n', { mode: 0o700 });
    await t.upload(`${dir}/settings.json`, Buffer.from('{"password":"x"}'), { mode: 0o600, owner: 'root:root' });
    const res = await t.exec(['sh', '-c', `stat -c '%a %U %n' ${dir}/taskservs/redis/install.sh ${dir}/settings.json; ${dir}/taskservs/redis/install.sh; ls -A ${dir}`]);
    assert.equal(res.code, 0, res.stderr_tail.join('\n'));
    assert.deepEqual(res.stdout_tail, [
      `700 root ${dir}/taskservs/redis/install.sh`, `600 root ${dir}/settings.json`, 'installed', 'settings.json', 'taskservs',
    ]);
    await rejectsWith(t.upload('/proc/nope/file', 'x'), 'COMMAND_FAILED', '/proc/nope/file');
    await t.exec(['rm', '-rf', dir]);
  });

  it('reuses one connection per host for every step', async () => {
    const local = new SshPool(settings());
    const before = fleet.connections(2);
    const results = await Promise.all(Array.from({ length: 12 }, async (_, i) => (await local.get(fleet.hosts[2]!)).exec(['echo', String(i)])));
    assert.deepEqual(results.map((r) => r.stdout_tail[0]), Array.from({ length: 12 }, (_, i) => String(i)));
    const t = await local.get(fleet.hosts[2]!);
    await t.upload(`/tmp/prov-reuse-${Date.now()}`, 'x');
    assert.equal(local.connects, 1);
    assert.equal(fleet.connections(2) - before, 1);
    // a closed connection is forgotten: the next step reconnects
    await t.close();
    await rejectsWith(t.exec(['true']), 'UNAVAILABLE', 'closed');
    assert.equal((await (await local.get(fleet.hosts[2]!)).exec(['true'])).code, 0);
    assert.equal(local.connects, 2);
    await local.closeAll();
  });

  it('kills the remote process group on timeout and reports TIMEOUT', async () => {
    const t = await pool.get(fleet.hosts[0]!);
    const started = Date.now();
    const err = await rejectsWith(t.exec(['sh', '-c', 'echo started; sleep 317 & sleep 318; echo never'], { timeoutMs: 700 }), 'TIMEOUT', 'timed out after 0.7s', 'root@127.0.0.1');
    assert.ok(Date.now() - started < 8000);
    assert.deepEqual(err.details.stdout_tail, ['started']);
    assert.ok(!/sleep 31[78]/.test(allCmdlines()), 'remote processes survived the timeout');

    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await rejectsWith(t.exec(['sh', '-c', 'sleep 319'], { signal: ac.signal }), 'INTERRUPTED');
    assert.ok(!/sleep 319/.test(allCmdlines()));
  });

  it('records host keys on first use, verifies them after, and refuses a changed key with both fingerprints', async () => {
    const kh = join(ws, 'tofu', 'known_hosts');
    const h = fleet.hosts[2]!;
    const first = new SshPool(settings({ knownHosts: kh }));
    await (await first.get(h)).exec(['true']);
    await first.closeAll();
    const recorded = readFileSync(kh, 'utf8');
    assert.match(recorded, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h.port} ssh-ed25519 \\S+\\n$`));
    const oldFp = sshFingerprint(`${h.hostKeyFile}.pub`);
    assert.equal(execFileSync('ssh-keygen', ['-lf', kh]).toString().split(' ')[1], oldFp, 'known_hosts readable by OpenSSH');

    const second = new SshPool(settings({ knownHosts: kh, hostKeyChecking: 'strict' }));
    assert.equal((await (await second.get(h)).exec(['true'])).code, 0);
    await second.closeAll();
    assert.equal(readFileSync(kh, 'utf8'), recorded);

    await fleet.restart(2, { newHostKey: true });
    const newFp = sshFingerprint(`${h.hostKeyFile}.pub`);
    const third = new SshPool(settings({ knownHosts: kh }));
    const err = await rejectsWith(third.get(h), 'HOST_KEY_CHANGED', oldFp, newFp, `127.0.0.1:${h.port}`, `line 1 of ${kh}`);
    assert.deepEqual(err.location, { file: kh, line: 1 });
    assert.equal(err.exitCode, 1);
    assert.equal(readFileSync(kh, 'utf8'), recorded, 'a refused key is not recorded');

    const off = new SshPool(settings({ knownHosts: kh, hostKeyChecking: 'off' }));
    assert.equal((await (await off.get(h)).exec(['true'])).code, 0);
    await off.closeAll();

    const strict = new SshPool(settings({ knownHosts: join(ws, 'empty', 'known_hosts'), hostKeyChecking: 'strict' }));
    await rejectsWith(strict.get(h), 'HOST_KEY_UNKNOWN', newFp, 'strict');
  });

  it('reaches a host through a bastion', async () => {
    const jump = fleet.hosts[0]!;
    const local = new SshPool(settings({ bastion: `root@127.0.0.1:${jump.port}`, hostKeyChecking: 'off' }));
    const res = await (await local.get(fleet.hosts[1]!)).exec(['sh', '-c', 'echo "$SSH_CONNECTION"']);
    assert.equal(res.code, 0);
    assert.match(res.stdout_tail[0]!, new RegExp(` ${fleet.hosts[1]!.port}$`));
    assert.equal(local.connects, 2);
    await local.closeAll();
  });

  it('opens transports from a provider connection answer, sharing the pool', async () => {
    const ts = new Transports(settings());
    const h = fleet.hosts[1]!;
    const a = await ts.open({ transport: 'ssh', host: h.host, port: h.port, user: 'root' });
    const b = await ts.open({ transport: 'ssh', host: h.host, port: h.port });
    assert.equal(a, b);
    assert.equal(a.kind, 'ssh');
    assert.equal((await a.exec(['id', '-u'])).stdout_tail[0], '0');
    await rejectsWith(ts.open({ transport: 'ssh' }), 'INVALID_ARGUMENT', 'host address');
    await rejectsWith(ts.open({ transport: 'exec', container: 'abc' }), 'UNAVAILABLE', 'providers.local.socket');
    await ts.closeAll();
  });

  it('escalates with sudo for a non-root login user: commands, env, scripts, uploads and the timeout kill', async () => {
    const local = new SshPool(settings({ defaultUser: SUDO_USER }));
    const t = await local.get(fleet.hosts[1]!);
    assert.equal(t.target, `${SUDO_USER}@127.0.0.1:${fleet.hosts[1]!.port}`);
    assert.deepEqual((await t.exec(['sh', '-c', 'id -un; echo "$X"'], { env: { X: 'via sudo' } })).stdout_tail, ['root', 'via sudo']);
    assert.equal((await t.exec(['id', '-un'], { sudo: false })).stdout_tail[0], SUDO_USER);
    assert.equal((await t.exec({ script: 'id -un' }, { user: 'nobody' })).stdout_tail[0], 'nobody');
    const dir = `/var/lib/prov-sudo-test-${Date.now()}`;
    await t.upload(`${dir}/secret.json`, '{}', { mode: 0o600 });
    assert.equal((await t.exec(['stat', '-c', '%a %U', `${dir}/secret.json`])).stdout_tail[0], '600 root');
    await rejectsWith(t.exec(['sh', '-c', 'sleep 337'], { timeoutMs: 700 }), 'TIMEOUT');
    assert.ok(!/sleep 337/.test(allCmdlines()), 'root process survived the timeout');
    await t.exec(['rm', '-rf', dir]);
    await local.closeAll();
  });

  it('authenticates with ssh-agent when the key file is absent', async () => {
    const sock = join(ws, 'agent.sock');
    const out = execFileSync('ssh-agent', ['-s', '-a', sock]).toString();
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1]);
    try {
      execFileSync('ssh-add', ['-q', fleet.keyFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const local = new SshPool(settings({ privateKey: join(ws, 'absent'), agentSocket: sock }));
      assert.equal((await (await local.get(fleet.hosts[0]!)).exec(['true'])).code, 0);
      await local.closeAll();
    } finally {
      process.kill(pid);
    }
  });

  it('says which key is missing or refused, and which address is unreachable', async () => {
    const h = fleet.hosts[0]!;
    const missing = join(ws, 'no-such-key');
    const e1 = await rejectsWith(new SshPool(settings({ privateKey: missing })).get(h), 'AUTH_REQUIRED', missing, `root@127.0.0.1:${h.port}`, 'ssh-keygen', 'ssh.private_key');
    assert.equal(e1.exitCode, 4);

    await rejectsWith(new SshPool(settings({ privateKey: fleet.refusedKeyFile })).get(h), 'AUTH_REQUIRED', `root@127.0.0.1:${h.port} refused the SSH key ${fleet.refusedKeyFile}`, 'authorized_keys');

    const locked = join(ws, 'id_locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'passphrase', '-f', locked]);
    await rejectsWith(new SshPool(settings({ privateKey: locked })).get(h), 'AUTH_REQUIRED', locked, 'ssh-agent');

    const port = await freePort();
    const e3 = await rejectsWith(new SshPool(settings()).get({ host: '127.0.0.1', port }), 'UNAVAILABLE', `cannot reach root@127.0.0.1:${port} over SSH: connection refused`);
    assert.equal(e3.exitCode, 9);

    // accepts TCP but never speaks SSH: the connect timeout applies
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as AddressInfo).port;
    try {
      await rejectsWith(new SshPool(settings({ connectTimeoutMs: 400 })).get({ host: '127.0.0.1', port: silentPort }), 'UNAVAILABLE', 'no SSH handshake within 0.4s', 'ssh.connect_timeout');
    } finally {
      silent.close();
    }
  });
});
