/**
 * End to end on the static provider: the built CLI "creates" (verifies and records) three
 * existing machines — real sshd daemons on loopback ports — reaches them, re-runs without
 * change, and deletes (forgets) them without touching the machines.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, tempHome } from '../fixtures/cli.js';
import { startSshd, type SshdFleet } from '../fixtures/sshd.js';

describe('server lifecycle on the static provider (real sshd, built CLI)', () => {
  const home = tempHome();
  const ws = join(home, 'fleet');
  let fleet: SshdFleet;
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { home, cwd: ws, env });
  const sessions = (i: number) => (readFileSync(fleet.hosts[i]!.log, 'utf8').match(/Starting session/g) ?? []).length;

  before(async () => {
    fleet = await startSshd(3);
    const r = await runCli(['workspace', 'init', 'fleet', ws, '--template', 'minimal'], { home });
    assert.equal(r.code, 0, r.stderr);
    mkdirSync(join(ws, 'infra', 'metal'), { recursive: true });
    writeFileSync(join(ws, 'infra', 'metal', 'settings.toml'), [
      'provider = "static"',
      ...fleet.hosts.flatMap((h, i) => ['[[servers]]', `hostname = "metal-0${i + 1}"`, '[servers.provider_settings]', `address = "${h.host}"`, '[servers.ssh]', `port = ${h.port}`, `private_key = "${fleet.keyFile}"`]),
    ].join('\n') + '\n');
  });

  after(() => fleet?.stop());

  it('create verifies and records every machine, with the OS it found', async () => {
    const r = await cli(['server', 'create', '--infra', 'metal', '--yes', '--wait', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.json().done, 3);
    const list = await cli(['server', 'list', '--infra', 'metal', '--out', 'json']);
    const rows = list.json() as { name: string; status: string; ip: string; provider: string }[];
    assert.deepEqual(rows.map((x) => `${x.name}:${x.status}:${x.provider}:${x.ip}`).sort(), ['metal-01:running:static:127.0.0.1', 'metal-02:running:static:127.0.0.1', 'metal-03:running:static:127.0.0.1']);
    const os = /^ID=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))![1]!.replace(/"/g, '');
    const st = await cli(['server', 'status', 'metal-02', '--infra', 'metal', '--out', 'json']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.json().provider_id, `127.0.0.1:${fleet.hosts[1]!.port}`);
    assert.match(st.json().reachability, new RegExp(`^ok over ssh root@127\\.0\\.0\\.1:${fleet.hosts[1]!.port}`));
    const show = await cli(['server', 'ssh', 'metal-02', '--infra', 'metal', '--', 'sh', '-c', '. /etc/os-release; echo $ID']);
    assert.equal(show.stdout.trim(), os);
  });

  it('`server ssh` reaches the right machine and returns the command\'s exit code', async () => {
    const r = await cli(['server', 'ssh', 'metal-03', '--infra', 'metal', '--', 'sh', '-c', 'echo ${SSH_CONNECTION##* }; exit 4']);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stdout.trim(), String(fleet.hosts[2]!.port));
  });

  it('re-running create changes nothing', async () => {
    const r = await cli(['server', 'create', '--infra', 'metal', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json().plan.summary.create, 0);
  });

  it('a machine nobody answers for fails its create naming the address (exit 9) and is recorded as failed', async () => {
    writeFileSync(join(ws, 'infra', 'metal', 'settings.toml'), readFileSync(join(ws, 'infra', 'metal', 'settings.toml'), 'utf8')
      + '[[servers]]\nhostname = "gone-01"\n[servers.provider_settings]\naddress = "127.0.0.1"\n[servers.ssh]\nport = 1\n');
    const r = await cli(['server', 'create', '--infra', 'metal', '--yes', '--out', 'json']);
    assert.equal(r.code, 9, r.stderr + r.stdout);
    const out = r.json();
    assert.deepEqual(out.results.map((x: { name: string; status: string }) => `${x.name}:${x.status}`), ['gone-01:failed']);
    assert.match(out.results[0].error.message, /127\.0\.0\.1:1/);
    const list = await cli(['server', 'list', '--infra', 'metal', '--out', 'json']);
    assert.equal((list.json() as { name: string; status: string }[]).find((x) => x.name === 'gone-01')!.status, 'failed');
  });

  it('a refused key is AUTH_REQUIRED (exit 4) naming the key', async () => {
    writeFileSync(join(ws, 'infra', 'metal', 'settings.toml'), readFileSync(join(ws, 'infra', 'metal', 'settings.toml'), 'utf8')
      .replace(/hostname = "gone-01"[\s\S]*$/, `hostname = "refused-01"\n[servers.provider_settings]\naddress = "127.0.0.1"\n[servers.ssh]\nport = ${fleet.hosts[0]!.port}\nprivate_key = "${fleet.refusedKeyFile}"\n`));
    const r = await cli(['server', 'create', 'refused-01', '--infra', 'metal', '--yes']);
    assert.equal(r.code, 4, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, new RegExp(`refused the SSH key ${fleet.refusedKeyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('a changed host key is refused with both fingerprints, and nothing runs', async () => {
    await fleet.restart(2, { newHostKey: true });
    const marker = join(home, 'ran-after-key-change');
    const r = await cli(['server', 'ssh', 'metal-03', '--infra', 'metal', '--', 'touch', marker]);
    assert.equal(existsSync(marker), false);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /host key of 127\.0\.0\.1:\d+ has changed: expected SHA256:\S+ \(ssh-ed25519\), presented SHA256:\S+/);
    assert.match(r.stderr, /known_hosts/);
  });

  it('delete forgets the machines and never touches them', async () => {
    const before = fleet.hosts.map((_, i) => sessions(i));
    const r = await cli(['server', 'delete', 'metal-01', 'metal-02', 'metal-03', '--infra', 'metal', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.json().done, 3);
    assert.deepEqual(fleet.hosts.map((_, i) => sessions(i)), before, 'no command ran on any machine');
    const list = await cli(['server', 'list', '--infra', 'metal', '--out', 'json']);
    const rows = Object.fromEntries((list.json() as { name: string; status: string }[]).map((x) => [x.name, x.status]));
    assert.equal(rows['metal-01'], 'not created');
    // still there and answering: create records it again
    const again = await cli(['server', 'create', 'metal-01', '--infra', 'metal', '--yes']);
    assert.equal(again.code, 0, again.stderr);
  });
});
