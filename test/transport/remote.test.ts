import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ProvError } from '../../src/errors/index.js';
import { envScript, escalation, Tail } from '../../src/transport/remote.js';
import { sshSettingsFromConfig } from '../../src/transport/ssh/index.js';
import { fingerprint, lookup, verifyHostKey } from '../../src/transport/ssh/known-hosts.js';
import { keygen } from '../fixtures/sshd.js';

describe('transport building blocks', () => {
  it('env travels as export lines, counted across values with newlines; bad names refused', () => {
    const env = envScript({ A: 'x', B: "it's\nmulti $HOME" });
    assert.equal(env.lines, 3);
    const out = execFileSync('sh', ['-c', `${env.text}printf '%s|%s' "$A" "$B"`]).toString();
    assert.equal(out, "x|it's\nmulti $HOME");
    assert.throws(() => envScript({ __prov_c: '/etc/passwd' }), (e: unknown) => e instanceof ProvError && e.code === 'INVALID_ARGUMENT');
    assert.throws(() => envScript({ '1X': 'y' }), (e: unknown) => e instanceof ProvError && e.code === 'INVALID_ARGUMENT' && /1X/.test(e.message));
  });

  it('escalates with sudo -n only when the login user is not root', () => {
    assert.deepEqual(escalation('root', {}, true), []);
    assert.deepEqual(escalation('deploy', {}, true), ['sudo', '-n', '--']);
    assert.deepEqual(escalation('deploy', {}, false), []);
    assert.deepEqual(escalation('deploy', { sudo: false }, true), []);
    assert.deepEqual(escalation('deploy', { user: 'redis' }, true), ['sudo', '-n', '-u', 'redis', '--']);
    assert.deepEqual(escalation('root', { user: 'root' }, true), []);
  });

  it('tails keep the last lines, across chunk and UTF-8 boundaries', () => {
    const t = new Tail(3);
    const text = Buffer.from('one\r\ntwo\nthrée\nfour\nfi');
    for (let i = 0; i < text.length; i += 3) t.push(text.subarray(i, i + 3));
    t.push(Buffer.from('ve'));
    assert.deepEqual(t.done(), ['thrée', 'four', 'five']);
  });

  it('known_hosts: hashed entries match, fingerprints equal ssh-keygen\'s, other hosts ignored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-kh-'));
    keygen(join(dir, 'host'));
    const pub = readFileSync(join(dir, 'host.pub'), 'utf8').split(' ');
    const blob = Buffer.from(pub[1]!, 'base64');
    const kh = join(dir, 'known_hosts');
    writeFileSync(kh, `# comment\nother.example ${pub[0]} AAAA\n[10.0.0.5]:2222 ${pub[0]} ${pub[1]}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'ignore' });
    assert.match(readFileSync(kh, 'utf8'), /^\|1\|/m);
    assert.equal(lookup(kh, '10.0.0.5', 2222).length, 1);
    assert.equal(lookup(kh, '10.0.0.5', 22).length, 0);
    assert.equal(verifyHostKey(kh, 'strict', '10.0.0.5', 2222, blob), undefined);
    assert.equal(fingerprint(blob), execFileSync('ssh-keygen', ['-lf', join(dir, 'host.pub')]).toString().split(' ')[1]);
    assert.equal(verifyHostKey(kh, 'strict', 'new.example', 22, blob)?.code, 'HOST_KEY_UNKNOWN');
    assert.equal(verifyHostKey(kh, 'accept_new', 'new.example', 22, blob), undefined);
    assert.match(readFileSync(kh, 'utf8'), new RegExp(`\\nnew\\.example ssh-ed25519 ${pub[1]!.replace(/[+/]/g, '\\$&')}\\n$`));
  });

  it('settings come from the [ssh] keys, with id_rsa as the fallback key and the agent from SSH_AUTH_SOCK', () => {
    const home = mkdtempSync(join(tmpdir(), 'prov-home-'));
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.ssh', 'id_rsa'), 'x');
    const values: Record<string, unknown> = {
      'ssh.private_key': '~/.ssh/id_ed25519', 'ssh.agent': true, 'ssh.known_hosts': '/ws/.provisioning/known_hosts',
      'ssh.host_key_checking': 'strict', 'ssh.connect_timeout': '5s', 'ssh.keepalive': '15s', 'ssh.command_timeout': '30m',
      'ssh.bastion': 'jump@bastion:2200', 'ssh.sudo': false, 'ssh.user': '',
    };
    const s = sshSettingsFromConfig((k) => values[k], { HOME: home, SSH_AUTH_SOCK: '/run/agent.sock' });
    assert.deepEqual(s, {
      privateKey: join(home, '.ssh', 'id_rsa'), agentSocket: '/run/agent.sock', knownHosts: '/ws/.provisioning/known_hosts',
      hostKeyChecking: 'strict', connectTimeoutMs: 5000, keepaliveMs: 15_000, commandTimeoutMs: 1_800_000,
      bastion: 'jump@bastion:2200', sudo: false, defaultUser: 'root',
    });
    assert.equal(sshSettingsFromConfig((k) => ({ ...values, 'ssh.agent': false })[k], { HOME: home, SSH_AUTH_SOCK: '/x' }).agentSocket, undefined);
  });
});
