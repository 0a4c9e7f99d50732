import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProvError } from '../../src/errors/index.js';
import type { ResolvedServer } from '../../src/model/index.js';
import { providerFor } from '../../src/providers/index.js';
import { addressesOf, addressProblem, imageMatches, parseOsRelease, StaticProvider } from '../../src/providers/static/index.js';
import { systemTags } from '../../src/providers/types.js';
import { Transports, type SshSettings } from '../../src/transport/index.js';
import { keygen, startSshd, SUDO_USER, type SshdFleet } from '../fixtures/sshd.js';
import { coreManifest, server } from './support.js';

const manifest = coreManifest('static');
let fleet: SshdFleet;
let ws: string;
let seq = 0;

/** Run-level SSH settings; each call gets its own known_hosts unless one is given. */
function settings(over: Partial<SshSettings> = {}): SshSettings {
  return {
    privateKey: fleet.keyFile, knownHosts: join(ws, `run-${++seq}`, 'known_hosts'), hostKeyChecking: 'accept_new',
    connectTimeoutMs: 5000, keepaliveMs: 15_000, commandTimeoutMs: 60_000, sudo: true, defaultUser: 'root', ...over,
  };
}

/** One "run": its transports (one SSH pool) and the provider built on them. */
function run(opts: { config?: Record<string, unknown>; ssh?: Partial<SshSettings>; env?: Record<string, string> } = {}): { provider: StaticProvider; transports: Transports; knownHosts: string } {
  const s = settings(opts.ssh);
  const transports = new Transports(s);
  const provider = new StaticProvider({ manifest, config: opts.config ?? {}, env: opts.env ?? {}, transports });
  return { provider, transports, knownHosts: s.knownHosts };
}

const staticServer = (hostname: string, i: number, over: Partial<ResolvedServer> = {}): ResolvedServer => server(hostname, {
  provider: 'static', provider_settings: { address: '127.0.0.1' }, ssh: { port: fleet.hosts[i]!.port }, ...over,
});

const ctx = (name: string, progress?: string[]) => ({
  tags: { ...systemTags('acme', 'shop', name), tier: 'web' }, ssh_public_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test@provisioning'],
  ...(progress ? { progress: (m: string) => progress.push(m) } : {}),
});

async function rejectsWith(p: Promise<unknown>, code: string, ...parts: (string | RegExp)[]): Promise<ProvError> {
  const err = await p.then(() => assert.fail(`expected ${code}`), (e: unknown) => e);
  assert.ok(err instanceof ProvError, String(err));
  assert.equal(err.code, code, err.message);
  for (const part of parts) assert.match(`${err.message}\n${err.hint ?? ''}`, typeof part === 'string' ? new RegExp(part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : part);
  return err;
}

// What the probes must find: the daemons run on this machine.
const local = {
  os: Object.fromEntries(readFileSync('/etc/os-release', 'utf8').split('\n').map((l) => /^(\w+)=("?)(.*)\2$/.exec(l)).filter((m) => m !== null).map((m) => [m[1]!, m[3]!])),
  cores: Number(execFileSync('nproc').toString()),
  memory_mb: Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024),
  disk_gb: Math.round(Number(execFileSync('df', ['-P', '-k', '/']).toString().trim().split('\n')[1]!.split(/\s+/)[1]) / 1024 / 1024),
};
const localImage = `${local.os.ID}-${local.os.VERSION_ID}`;

const sshFingerprint = (pubFile: string): string => execFileSync('ssh-keygen', ['-lf', pubFile]).toString().split(' ')[1]!;
/** sshd (LogLevel VERBOSE) logs one "Starting session" per command channel. */
const sessions = (i: number): number => (readFileSync(fleet.hosts[i]!.log, 'utf8').match(/Starting session/g) ?? []).length;

/** Until nothing accepts connections on the port (a stopped daemon). */
async function closed(port: number): Promise<void> {
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host: '127.0.0.1', port });
      sock.once('connect', () => { sock.destroy(); resolve(true); });
      sock.once('error', () => { sock.destroy(); resolve(false); });
    });
    if (!open) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('static provider against real sshd', () => {
  before(async () => {
    fleet = await startSshd(3);
    ws = mkdtempSync(join(tmpdir(), 'prov-static-'));
  });
  after(async () => {
    await fleet.stop();
    rmSync(ws, { recursive: true, force: true });
  });

  it('creates three static servers in parallel: OS, sizes, addresses and endpoint are what the machine has', async () => {
    // the run's key is refused everywhere: only the servers' own ssh.private_key ('~' expanded) gets in
    const { provider, transports, knownHosts } = run({ config: { zone: 'site-a' }, ssh: { privateKey: fleet.refusedKeyFile }, env: { HOME: fleet.dir } });
    const authorized = readFileSync(join(fleet.dir, 'authorized_keys'), 'utf8');
    try {
      const servers = [0, 1, 2].map((i) => staticServer(`web-0${i}`, i, {
        zone: 'site-a', ssh: { port: fleet.hosts[i]!.port, private_key: '~/id_ed25519', ...(i === 2 ? { user: SUDO_USER } : {}) },
      }));
      const progress: string[] = [];
      const made = await Promise.all(servers.map((s) => provider.create(s, ctx(s.hostname, progress))));
      made.forEach((obs, i) => {
        const port = fleet.hosts[i]!.port;
        assert.deepEqual(obs, {
          provider_id: `127.0.0.1:${port}`, status: 'running', zone: 'site-a',
          cores: local.cores, memory_mb: local.memory_mb, disk_gb: local.disk_gb, image: localImage,
          addresses: { public_ipv4: [], public_ipv6: [], private: [{ network: '', ip: '127.0.0.1' }] },
          tags: ctx(`web-0${i}`).tags, ssh_endpoint: { host: '127.0.0.1', port },
        });
      });
      assert.ok(progress.some((m) => m.includes(local.os.PRETTY_NAME!) && m.includes('web-01')), progress.join('\n'));
      assert.equal(transports.ssh.connects, 3, 'one connection per machine');

      // create again: the same answer on the same connections
      assert.deepEqual(await Promise.all(servers.map((s) => provider.create(s, ctx(s.hostname)))), made);
      // find by the recorded id: running, with no tags (static hosts carry none)
      const found = await provider.find({ provider_id: made[1]!.provider_id, tags: {} });
      assert.deepEqual(found, { ...made[1]!, tags: {} });
      assert.equal(await provider.find({ tags: systemTags('acme', 'shop', 'web-01') }), null, 'no id, nothing to find');
      assert.deepEqual(await provider.list({ 'provisioning.io/workspace': 'acme' }), []);

      // connect: the server's own user and key, and the steps reuse the pooled connection
      const conn = provider.connect(made[2]!);
      assert.deepEqual(conn, { transport: 'ssh', host: '127.0.0.1', port: fleet.hosts[2]!.port, user: SUDO_USER, private_key: join(fleet.dir, 'id_ed25519') });
      const t = await transports.open(conn);
      const who = await t.exec(['id', '-un'], { sudo: false });
      assert.deepEqual(who.stdout_tail, [SUDO_USER]);
      assert.equal(provider.connect(made[0]!).user, 'root', 'no ssh.user: the run default');
      assert.equal(transports.ssh.connects, 3);

      // host keys recorded on first use; the public keys of ctx were not installed
      for (const h of fleet.hosts) assert.match(readFileSync(knownHosts, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h.port} ssh-ed25519 `, 'm'));
      assert.equal(readFileSync(join(fleet.dir, 'authorized_keys'), 'utf8'), authorized);
    } finally {
      await transports.closeAll();
    }
  });

  it('verify_os: the image must name the machine\'s OS, unless verify_os = false', async () => {
    const { provider, transports } = run();
    try {
      for (const image of [localImage, `${local.os.ID}:${local.os.VERSION_ID}`, local.os.ID!, localImage.toUpperCase()]) {
        assert.equal((await provider.create(staticServer('db-01', 0, { image }), ctx('db-01'))).image, localImage, image);
      }
      const err = await rejectsWith(provider.create(staticServer('db-01', 0, { image: 'alpine-3.19' }), ctx('db-01')), 'DEFINITION_INVALID',
        'db-01', `127.0.0.1:${fleet.hosts[0]!.port}`, "'alpine-3.19'", localImage, 'verify_os = false');
      assert.deepEqual({ expected: err.details.expected, found: err.details.found, server: err.details.server }, { expected: 'alpine-3.19', found: localImage, server: 'db-01' });
      assert.equal(err.location?.resource, 'servers.db-01.image');

      const lax = new StaticProvider({ manifest, config: { verify_os: false }, env: {}, transports });
      assert.equal((await lax.create(staticServer('db-01', 0, { image: 'alpine-3.19' }), ctx('db-01'))).image, localImage, 'reports what it found');
    } finally {
      await transports.closeAll();
    }
  });

  it('the image rule: ID, ID-VERSION_ID, ID:VERSION_ID, a leading version part, or the codename', () => {
    const rhel = { ID: 'rhel', VERSION_ID: '9.3' };
    const debian = { ID: 'debian', VERSION_ID: '12', VERSION_CODENAME: 'bookworm' };
    assert.ok(imageMatches('rhel-9', rhel));
    assert.ok(imageMatches('rhel-9.3', rhel));
    assert.ok(!imageMatches('rhel-93', rhel));
    assert.ok(!imageMatches('rhel-9.', rhel));
    assert.ok(imageMatches('debian:bookworm', debian));
    assert.ok(imageMatches('Debian 12', debian));
    assert.ok(!imageMatches('debian-1', debian));
    assert.ok(!imageMatches('debian-', debian));
    assert.ok(!imageMatches('debianx-12', debian));
    assert.ok(!imageMatches('ubuntu-24.04', debian));
    assert.ok(!imageMatches('debian-12', {}), 'no os-release: nothing matches');
    assert.deepEqual(parseOsRelease('ID=opensuse-leap\nVERSION_ID="15.5"\nPRETTY_NAME=\'openSUSE Leap 15.5\'\n# comment\nNAME="a \\"quoted\\" name"\n'),
      { ID: 'opensuse-leap', VERSION_ID: '15.5', PRETTY_NAME: 'openSUSE Leap 15.5', NAME: 'a "quoted" name' });
    assert.ok(imageMatches('opensuse-leap-15', { ID: 'opensuse-leap', VERSION_ID: '15.5' }));
  });

  it('a stopped machine: find reports status error, create is UNAVAILABLE naming the server and address:port', async () => {
    const { provider, transports } = run();
    const port = fleet.hosts[2]!.port;
    const s = staticServer('app-02', 2);
    try {
      const obs = await provider.create(s, ctx('app-02'));
      // a live session survives its daemon; a new run opens new connections
      await transports.closeAll();
      process.kill(Number(readFileSync(join(fleet.dir, 'host2', 'sshd.pid'), 'utf8')), 'SIGTERM');
      await closed(port);

      const down = await provider.find({ provider_id: obs.provider_id, tags: {} });
      assert.equal(down?.status, 'error');
      assert.equal(down?.provider_id, `127.0.0.1:${port}`);
      assert.deepEqual(down?.ssh_endpoint, { host: '127.0.0.1', port });
      const err = await rejectsWith(provider.create(s, ctx('app-02')), 'UNAVAILABLE', 'app-02', `127.0.0.1:${port}`, 'connection refused', `sshd listens on port ${port}`);
      assert.equal(err.details.server, 'app-02');
    } finally {
      await transports.closeAll();
      await fleet.restart(2);
    }
    const again = run();
    try {
      assert.equal((await again.provider.create(s, ctx('app-02'))).status, 'running', 'back once the daemon is');
    } finally {
      await again.transports.closeAll();
    }
  });

  it('a key the machine refuses is AUTH_REQUIRED naming the server; a missing key file names ssh.private_key and connects nowhere', async () => {
    const { provider, transports } = run();
    try {
      const refused = staticServer('cache-01', 1, { ssh: { port: fleet.hosts[1]!.port, private_key: fleet.refusedKeyFile } });
      const err = await rejectsWith(provider.create(refused, ctx('cache-01')), 'AUTH_REQUIRED', 'cache-01', `127.0.0.1:${fleet.hosts[1]!.port}`, fleet.refusedKeyFile, 'authorized_keys');
      assert.equal(err.details.server, 'cache-01');
      await rejectsWith(provider.find({ provider_id: `127.0.0.1:${fleet.hosts[1]!.port}`, tags: {} }), 'AUTH_REQUIRED', 'cache-01');

      const before = fleet.connections(1);
      const missing = join(ws, 'no-such-key');
      const gone = await rejectsWith(provider.create(staticServer('cache-01', 1, { ssh: { port: fleet.hosts[1]!.port, private_key: missing } }), ctx('cache-01')),
        'AUTH_REQUIRED', 'cache-01', 'ssh.private_key', missing, 'servers.cache-01.ssh.private_key');
      assert.equal(gone.location?.resource, 'servers.cache-01.ssh.private_key');
      assert.equal(fleet.connections(1), before, 'no connection attempted');
    } finally {
      await transports.closeAll();
    }
  });

  it('a pinned host key: the right one is seeded into known_hosts (strict checking too), another is refused with both fingerprints', async () => {
    const host = fleet.hosts[0]!;
    const pub = `${host.hostKeyFile}.pub`;
    const pin = readFileSync(pub, 'utf8').trim();
    const right = run({ ssh: { hostKeyChecking: 'strict' } });
    try {
      const obs = await right.provider.create(staticServer('edge-01', 0, { provider_settings: { address: '127.0.0.1', host_key: pin } }), ctx('edge-01'));
      assert.equal(obs.status, 'running');
      const lines = readFileSync(right.knownHosts, 'utf8').trim().split('\n');
      assert.deepEqual(lines, [`[127.0.0.1]:${host.port} ${pin.split(' ').slice(0, 2).join(' ')}`]);
    } finally {
      await right.transports.closeAll();
    }

    const wrongKey = join(ws, 'wrong_host_key');
    keygen(wrongKey);
    const wrongPin = readFileSync(`${wrongKey}.pub`, 'utf8').trim();
    const wrong = run();
    try {
      const err = await rejectsWith(wrong.provider.create(staticServer('edge-01', 0, { provider_settings: { address: '127.0.0.1', host_key: wrongPin } }), ctx('edge-01')),
        'HOST_KEY_CHANGED', 'edge-01', sshFingerprint(`${wrongKey}.pub`), sshFingerprint(pub), 'update the pin');
      assert.equal(err.details.server, 'edge-01');
    } finally {
      await wrong.transports.closeAll();
    }

    // known_hosts already records the machine's real key (an earlier unpinned run): a different
    // pin conflicts with it and is refused before any connection
    const earlier = run();
    try {
      await earlier.provider.create(staticServer('edge-01', 0), ctx('edge-01'));
      await earlier.transports.closeAll();
      const before = fleet.connections(0);
      await rejectsWith(earlier.provider.create(staticServer('edge-01', 0, { provider_settings: { address: '127.0.0.1', host_key: wrongPin } }), ctx('edge-01')),
        'HOST_KEY_CHANGED', 'edge-01', sshFingerprint(pub), sshFingerprint(`${wrongKey}.pub`), 'ssh-keygen -R');
      assert.equal(fleet.connections(0), before);
    } finally {
      await earlier.transports.closeAll();
    }
  });

  it('delete forgets and never touches the machine; power is refused', async () => {
    const { provider, transports } = run();
    try {
      const obs = await provider.create(staticServer('old-01', 1), ctx('old-01'));
      const [conns, cmds] = [fleet.connections(1), sessions(1)];
      assert.ok(cmds > 0, 'the log counts sessions');
      await provider.delete(obs, { keep_storage: false });
      assert.deepEqual([fleet.connections(1), sessions(1)], [conns, cmds], 'no connection, no command');
      await rejectsWith(provider.power(obs, 'stop'), 'INVALID_ARGUMENT', 'static hosts are not powered by provisioning', obs.provider_id);
      assert.deepEqual([fleet.connections(1), sessions(1)], [conns, cmds]);
      // the machine is still there
      assert.equal((await provider.find({ provider_id: obs.provider_id, tags: {} }))?.status, 'running');
    } finally {
      await transports.closeAll();
    }
  });

  it('validate is offline: address, port, key file, host key, duplicates and zone', async () => {
    const { provider, transports } = run({ config: { zone: 'site-a' } });
    const before = fleet.hosts.map((_, i) => fleet.connections(i));
    const at = (address: unknown, over: Partial<ResolvedServer> = {}): ResolvedServer => server('x', { provider: 'static', provider_settings: address === undefined ? {} : { address }, ...over });
    const issues = await provider.validate({}, [
      { ...at('root@10.0.0.5'), hostname: 'a1' },
      { ...at('10.0.0.5:2222'), hostname: 'a2' },
      { ...at('web 01'), hostname: 'a3' },
      { ...at(undefined), hostname: 'a4' },
      { ...at('[::1]'), hostname: 'a5' },
      { ...at('10.0.0.6', { ssh: { port: 70000 } }), hostname: 'p1' },
      { ...at('10.0.0.7', { ssh: { private_key: join(ws, 'missing-key') } }), hostname: 'k1' },
      { ...at('10.0.0.8', { provider_settings: { address: '10.0.0.8', host_key: 'ssh-ed25519 not-base64!' } }), hostname: 'h1' },
      { ...at('host.example.com'), hostname: 'd1' },
      { ...at('host.example.com'), hostname: 'd2' },
      { ...at('10.0.0.9', { zone: 'mars' }), hostname: 'z1' },
      { ...at('2001:db8::1', { zone: 'site-a' }), hostname: 'ok1' },
      { ...at('10.0.0.10', { zone: 'static' }), hostname: 'ok2' },
    ]);
    const by = (path: string) => issues.filter((i) => i.path === path);
    assert.match(by('servers.a1.provider_settings.address')[0]!.hint!, /ssh\.user/);
    assert.match(by('servers.a2.provider_settings.address')[0]!.hint!, /ssh\.port/);
    assert.equal(by('servers.a3.provider_settings.address')[0]!.code, 'DEF_PATTERN');
    assert.equal(by('servers.a4.provider_settings.address')[0]!.code, 'DEF_REQUIRED');
    assert.match(by('servers.a5.provider_settings.address')[0]!.message, /bracketed/);
    assert.equal(by('servers.p1.ssh.port')[0]!.code, 'DEF_RANGE');
    assert.equal(by('servers.k1.ssh.private_key')[0]!.severity, 'warning', 'the key may live where create runs');
    assert.match(by('servers.h1.provider_settings.host_key')[0]!.message, /OpenSSH public key/);
    assert.match(by('servers.d2.provider_settings.address')[0]!.message, /d2 and d1 are the same machine \(host\.example\.com:22\)/);
    assert.equal(by('servers.z1.zone')[0]!.code, 'DEF_CONFLICT');
    for (const i of issues) assert.equal(i.severity === 'error' || i.path === 'servers.k1.ssh.private_key', true, JSON.stringify(i));
    assert.deepEqual(issues.filter((i) => /ok\d/.test(i.path ?? '')), []);
    assert.deepEqual(issues.filter((i) => i.path === 'servers.d1.provider_settings.address'), []);
    assert.equal(issues.length, 10, JSON.stringify(issues, null, 1));
    assert.deepEqual(fleet.hosts.map((_, i) => fleet.connections(i)), before, 'validate connects nowhere');
    await transports.closeAll();
  });

  it('validate remembers logins: find and connect in a later run use the server\'s own user and key', async () => {
    // the run default key is refused: find only succeeds with the key validate learned
    const { provider, transports } = run({ ssh: { privateKey: fleet.refusedKeyFile } });
    try {
      const s = staticServer('late-01', 1, { ssh: { port: fleet.hosts[1]!.port, user: SUDO_USER, private_key: fleet.keyFile } });
      assert.deepEqual(await provider.validate({}, [s]), []);
      const id = `127.0.0.1:${fleet.hosts[1]!.port}`;
      const obs = await provider.find({ provider_id: id, tags: {} });
      assert.equal(obs?.status, 'running');
      assert.deepEqual(provider.connect(obs!), { transport: 'ssh', host: '127.0.0.1', port: fleet.hosts[1]!.port, user: SUDO_USER, private_key: fleet.keyFile });
    } finally {
      await transports.closeAll();
    }
  });

  it('addresses: public and private IPs; a DNS name only in ssh_endpoint', () => {
    assert.deepEqual(addressesOf('203.0.113.7'), { public_ipv4: ['203.0.113.7'], public_ipv6: [], private: [] });
    assert.deepEqual(addressesOf('192.168.1.20'), { public_ipv4: [], public_ipv6: [], private: [{ network: '', ip: '192.168.1.20' }] });
    assert.deepEqual(addressesOf('2a01:4f8::1'), { public_ipv4: [], public_ipv6: ['2a01:4f8::1'], private: [] });
    assert.deepEqual(addressesOf('fd00::5'), { public_ipv4: [], public_ipv6: [], private: [{ network: '', ip: 'fd00::5' }] });
    assert.deepEqual(addressesOf('db1.example.com'), { public_ipv4: [], public_ipv6: [], private: [] });
    assert.equal(addressProblem('db1.example.com'), undefined);
    assert.equal(addressProblem('2001:db8::1'), undefined);
    assert.notEqual(addressProblem('-bad.example'), undefined);
    assert.notEqual(addressProblem('300.1.1.1'), undefined);
  });

  it('registry, price, catalog; its own pool when the run gives none', async () => {
    const transports = new Transports(settings());
    const p = await providerFor('static', { manifest, config: {}, env: {}, transports });
    assert.ok(p instanceof StaticProvider);
    assert.deepEqual(p.price?.(server('x')), { hourly: 0, monthly: 0, currency: 'EUR' });
    assert.deepEqual(await new StaticProvider({ manifest, config: { zone: 'site-a' }, env: {} }).catalog(), { zones: ['static', 'site-a'], plans: [], images: [] });
    await assert.rejects(p.power({ provider_id: 'nope' }, 'start'), (e: ProvError) => e.code === 'INVALID_ARGUMENT');

    const knownHosts = join(ws, 'own', 'known_hosts');
    mkdirSync(join(ws, 'own'));
    const own = new StaticProvider({ manifest, config: {}, env: {}, ssh: settings({ knownHosts }) });
    try {
      assert.equal((await own.create(staticServer('solo-01', 0), ctx('solo-01'))).status, 'running');
      assert.ok(existsSync(knownHosts));
    } finally {
      await own.close();
    }
  });
});
