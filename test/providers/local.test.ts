import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProvError } from '../../src/errors/index.js';
import { providerFor } from '../../src/providers/index.js';
import { LocalProvider } from '../../src/providers/local/index.js';
import { systemTags, type Observed, type OperationContext } from '../../src/providers/types.js';
import { Transports, type SshPool, type SshSettings } from '../../src/transport/index.js';
import { ensureEngine, removeLabelled, testLabel, type Engine } from '../fixtures/engine.js';
import { keygen } from '../fixtures/sshd.js';
import { coreManifest, server } from './support.js';

const manifest = coreManifest('local');

async function rejectsWith(p: Promise<unknown>, code: string, ...parts: (string | RegExp)[]): Promise<ProvError> {
  const err = await p.then(() => assert.fail(`expected ${code}`), (e: unknown) => e);
  assert.ok(err instanceof ProvError, String(err));
  assert.equal(err.code, code, err.message);
  for (const part of parts) assert.match(`${err.message}\n${err.hint ?? ''}`, typeof part === 'string' ? new RegExp(part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : part);
  return err;
}

describe('local provider against the real engine (Podman behind the Docker API)', { timeout: 600_000 }, () => {
  let engine: Engine;
  const run = testLabel();
  const runValue = run['provisioning.test/run']!;
  const workspace = `t${runValue.replace(/[^a-z0-9]/g, '')}`;
  const infra = 'shop';
  const network = `prov-test-${runValue}`;
  const noSshdImage = `localhost/prov-nosshd:${runValue.replace(/[^a-z0-9]/g, '')}`;
  const dir = mkdtempSync(join(tmpdir(), 'prov-local-'));
  const keyFile = join(dir, 'id_ed25519');
  let pubKey: string;
  const pools: SshPool[] = [];

  const provider = (config: Record<string, unknown> = {}): LocalProvider =>
    new LocalProvider({ manifest, config: { socket: engine.socket, image: engine.image, network, ...config }, env: {} });
  const ctx = (hostname: string, over: Partial<OperationContext> = {}): OperationContext =>
    ({ tags: { ...systemTags(workspace, infra, hostname), ...run, tier: 'web' }, ssh_public_keys: [pubKey], ...over });
  const sshSettings = (): SshSettings => ({
    privateKey: keyFile, knownHosts: join(dir, 'known_hosts'), hostKeyChecking: 'accept_new',
    connectTimeoutMs: 10_000, keepaliveMs: 15_000, commandTimeoutMs: 60_000, sudo: true, defaultUser: 'root',
  });
  const transports = (): Transports => {
    const t = new Transports(sshSettings(), async () => engine.docker);
    pools.push(t.ssh);
    return t;
  };
  const byRun = { label: [`provisioning.test/run=${runValue}`] };

  const web01 = server('web-01', { cores: 1, memory_mb: 512, running_timeout_s: 120, storage: [
    { name: 'data', size_gb: 1, filesystem: 'ext4', encrypted: false, keep_on_delete: false },
    { name: 'keep', size_gb: 1, filesystem: 'ext4', encrypted: false, keep_on_delete: true },
  ] });
  const web02 = server('web-02', { plan: 'medium', running_timeout_s: 120, storage: [{ name: 'logs', size_gb: 1, mount: '/var/log/app', filesystem: 'ext4', encrypted: false, keep_on_delete: false }] });
  let obs1: Observed;
  let obs2: Observed;

  before(async () => {
    engine = await ensureEngine();
    keygen(keyFile);
    pubKey = readFileSync(`${keyFile}.pub`, 'utf8').trim();
  });

  after(async () => {
    await Promise.all(pools.map((p) => p.closeAll()));
    if (engine) {
      const d = engine.docker;
      await removeLabelled(d, run);
      const { Volumes } = await d.listVolumes({ filters: byRun });
      await Promise.all((Volumes ?? []).map((v) => d.getVolume(v.Name).remove()));
      await d.getNetwork(network).remove().catch(() => undefined);
      await d.getImage(noSshdImage).remove({ force: true }).catch(() => undefined);
      assert.deepEqual(await d.listContainers({ all: true, filters: byRun }), []);
      assert.deepEqual((await d.listVolumes({ filters: byRun })).Volumes ?? [], []);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('is registered as a core provider', async () => {
    const p = await providerFor('local', { manifest, config: {}, env: {} });
    assert.ok(p instanceof LocalProvider);
    assert.equal(p.name, 'local');
  });

  it('creates two servers in parallel: tagged containers with limits, a volume, the keys, sshd answering', async () => {
    const p = provider();
    const progress: string[] = [];
    [obs1, obs2] = await Promise.all([
      p.create(web01, ctx('web-01', { progress: (m) => progress.push(m) })),
      p.create(web02, ctx('web-02')),
    ]);
    assert.equal(obs1.status, 'running');
    assert.equal(obs1.zone, 'local');
    assert.equal(obs1.cores, 1);
    assert.equal(obs1.memory_mb, 512);
    assert.equal(obs1.plan, undefined);
    assert.equal(obs2.plan, 'medium');
    assert.equal(obs2.cores, 2);
    assert.equal(obs2.memory_mb, 4096);
    assert.equal(obs1.disk_gb, 20);
    assert.equal(obs1.image, engine.image);
    assert.deepEqual(obs1.tags, ctx('web-01').tags);
    assert.deepEqual(obs1.addresses.public_ipv4, []);
    assert.equal(obs1.addresses.private[0]?.network, network);
    assert.match(obs1.addresses.private[0]!.ip, /^\d+\.\d+\.\d+\.\d+$/);
    assert.notEqual(obs1.addresses.private[0]!.ip, obs2.addresses.private[0]!.ip);
    assert.equal(obs1.ssh_endpoint?.host, '127.0.0.1');
    assert.ok(obs1.ssh_endpoint!.port > 0 && obs1.ssh_endpoint!.port !== obs2.ssh_endpoint!.port);
    assert.ok(progress.some((m) => m.includes('waiting for sshd')), progress.join('\n'));

    // What the engine holds: name, hostname, labels, limits, the published port, the volume.
    const info = await engine.docker.getContainer(obs1.provider_id).inspect();
    assert.equal(info.Name.replace(/^\//, ''), `prov-${workspace}-${infra}-web-01`);
    assert.equal(info.Config.Hostname, 'web-01');
    assert.equal(info.Config.Labels['provisioning.io/id'], 'server:shop/web-01');
    assert.equal(info.HostConfig.NanoCpus, 1e9);
    assert.equal(info.HostConfig.Memory, 512 * 1024 * 1024);
    assert.deepEqual(info.HostConfig.PortBindings?.['22/tcp']?.map((b: { HostIp: string }) => b.HostIp), ['127.0.0.1']);
    assert.equal((await engine.docker.getContainer(obs2.provider_id).inspect()).HostConfig.Memory, 4096 * 1024 * 1024);
    const mount = info.Mounts.find((m) => m.Destination === '/mnt/data');
    assert.equal(mount?.Type, 'volume');
    assert.equal(mount?.Name, `prov-${workspace}-${infra}-web-01-data`);
    const vols = (await engine.docker.listVolumes({ filters: byRun })).Volumes ?? [];
    assert.deepEqual(vols.map((v) => v.Name).sort(), [`prov-${workspace}-${infra}-web-01-data`, `prov-${workspace}-${infra}-web-01-keep`, `prov-${workspace}-${infra}-web-02-logs`]);
    assert.equal(vols.find((v) => v.Name.endsWith('-data'))!.Labels['provisioning.io/name'], 'web-01');
    assert.deepEqual((await engine.docker.getNetwork(network).inspect()).Labels, { 'provisioning.local/network': network, 'provisioning.io/provider': 'local' });
  });

  it('the limits are applied by the kernel, seen from inside the container (exec transport)', async () => {
    const p = provider();
    const conn = p.connect(obs1);
    assert.deepEqual(conn, { transport: 'exec', container: obs1.provider_id, user: 'root' });
    const t = await transports().open(conn);
    assert.equal(t.kind, 'exec');
    const cg = await t.exec(['sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; '
      + 'cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"']);
    assert.equal(cg.code, 0, cg.stderr_tail.join('\n'));
    assert.equal(cg.stdout_tail[0], String(512 * 1024 * 1024));
    const [quota, period] = cg.stdout_tail[1]!.split(' ').map(Number);
    assert.equal(quota! / period!, 1);
    const res = await t.exec(['sh', '-c', 'hostname; id -un; test -d /mnt/data && echo has-data; cat /root/.ssh/authorized_keys']);
    assert.deepEqual(res.stdout_tail, ['web-01', 'root', 'has-data', pubKey]);
  });

  it('finds the containers by tags and by id, lists them, and a second create adopts instead of duplicating', async () => {
    const p = provider();
    assert.equal((await p.find({ tags: systemTags(workspace, infra, 'web-01') }))?.provider_id, obs1.provider_id);
    assert.equal((await p.find({ provider_id: obs2.provider_id, tags: {} }))?.provider_id, obs2.provider_id);
    assert.equal(await p.find({ provider_id: 'f'.repeat(64), tags: {} }), null);
    assert.equal(await p.find({ tags: systemTags(workspace, infra, 'web-03') }), null);
    assert.deepEqual((await p.list({ 'provisioning.io/workspace': workspace })).map((o) => o.provider_id).sort(), [obs1.provider_id, obs2.provider_id].sort());
    assert.deepEqual(await p.list({ 'provisioning.io/workspace': `${workspace}-other` }), []);

    const progress: string[] = [];
    const again = await p.create(web01, ctx('web-01', { progress: (m) => progress.push(m) }));
    assert.equal(again.provider_id, obs1.provider_id);
    assert.match(progress[0]!, /^adopting web-01/);
    assert.equal((await engine.docker.listContainers({ all: true, filters: byRun })).length, 2);
  });

  it('the published port answers SSH with the injected key (ssh transport)', async () => {
    const p = provider({ transport: 'ssh' });
    const conn = p.connect(obs1);
    assert.deepEqual(conn, { transport: 'ssh', host: '127.0.0.1', port: obs1.ssh_endpoint!.port, user: 'root' });
    const t = await transports().open(conn);
    assert.equal(t.kind, 'ssh');
    const res = await t.exec(['sh', '-c', 'uname -a; hostname; readlink /proc/1/exe; tr "\\0" " " < /proc/1/cmdline']);
    assert.equal(res.code, 0);
    assert.match(res.stdout_tail[0]!, /^Linux web-01 /);
    assert.equal(res.stdout_tail[1], 'web-01');
    assert.equal(res.stdout_tail[2], '/usr/sbin/sshd', 'sshd is PID 1');
    assert.match(res.stdout_tail[3]!, /\/usr\/sbin\/sshd -D -e/);
    // without a published port there is nothing to SSH to: exec instead
    const { ssh_endpoint: _gone, ...noPort } = obs1;
    assert.equal(p.connect(noPort).transport, 'exec');
  });

  it('stop and start keep the container, its port and the key working; restart too', async () => {
    const p = provider({ transport: 'ssh' });
    await p.power(obs1, 'stop');
    assert.equal((await p.find({ provider_id: obs1.provider_id, tags: {} }))?.status, 'stopped');
    await p.power(obs1, 'stop'); // already stopped: nothing to do
    await p.power(obs1, 'start');
    const started = await p.find({ provider_id: obs1.provider_id, tags: {} });
    assert.equal(started?.status, 'running');
    // power start waits for sshd, so logging in right away works
    const t = await transports().open(p.connect(started!));
    const res = await t.exec(['sh', '-c', 'grep -c . /root/.ssh/authorized_keys; test -d /mnt/data && echo has-data']);
    assert.deepEqual(res.stdout_tail, ['1', 'has-data'], 'the key is added once, not once per start');
    await p.power(obs1, 'restart');
    const restarted = await p.find({ provider_id: obs1.provider_id, tags: {} });
    const t2 = await transports().open(p.connect(restarted!));
    assert.equal((await t2.exec(['hostname'])).stdout_tail[0], 'web-01');
  });

  it('an image without sshd gets a keep-alive PID 1 that stops at once on SIGTERM', async () => {
    const d = engine.docker;
    // An image like the base one, minus sshd (no registry here, so derive it).
    const strip = await d.createContainer({ Image: engine.image, Entrypoint: ['rm', '-f', '/usr/sbin/sshd'], Labels: run });
    await strip.start();
    await strip.wait();
    await strip.commit({ repo: noSshdImage.split(':')[0], tag: noSshdImage.split(':')[1] });
    await strip.remove({ force: true });

    const p = provider();
    const obs = await p.create(server('bare-01', { image: noSshdImage }), ctx('bare-01'));
    assert.equal(obs.status, 'running');
    assert.equal(obs.image, noSshdImage);
    const t = await transports().open(p.connect(obs));
    const res = await t.exec(['sh', '-c', 'readlink -f /proc/1/exe /bin/sh; cat /root/.ssh/authorized_keys']);
    assert.equal(res.stdout_tail[0], res.stdout_tail[1], 'PID 1 is the shell loop');
    assert.equal(res.stdout_tail[2], pubKey);
    await p.power(obs, 'stop');
    const state = (await d.getContainer(obs.provider_id).inspect()).State;
    assert.equal(state.Status, 'exited');
    assert.equal(state.ExitCode, 0, 'exited through the TERM trap, not killed after the stop timeout');
    await p.delete(obs, { keep_storage: false });
  });

  it('an aborted signal stops create before anything is made; wait = false returns without waiting for sshd', async () => {
    const p = provider();
    const ac = new AbortController();
    ac.abort(new ProvError('INTERRUPTED', 'interrupted by the test'));
    await rejectsWith(p.create(server('sig-01'), ctx('sig-01', { signal: ac.signal })), 'INTERRUPTED', 'interrupted by the test');
    assert.equal(await p.find({ tags: systemTags(workspace, infra, 'sig-01') }), null);

    const progress: string[] = [];
    const quick = await p.create(server('nowait-01'), ctx('nowait-01', { wait: false, progress: (m) => progress.push(m) }));
    assert.ok(['creating', 'running'].includes(quick.status), quick.status);
    assert.ok(!progress.some((m) => m.includes('waiting for sshd')), progress.join('\n'));
    await p.delete(quick, { keep_storage: false });
  });

  it('delete removes the container and its volumes; keep_storage and keep_on_delete keep them; deleting again is fine', async () => {
    const p = provider();
    await p.delete(obs2, { keep_storage: true });
    assert.equal(await p.find({ provider_id: obs2.provider_id, tags: {} }), null);
    let vols = ((await engine.docker.listVolumes({ filters: byRun })).Volumes ?? []).map((v) => v.Name);
    assert.ok(vols.includes(`prov-${workspace}-${infra}-web-02-logs`), vols.join(', '));

    await p.delete(obs1, { keep_storage: false });
    await p.delete(obs1, { keep_storage: false });
    assert.equal(await p.find({ tags: systemTags(workspace, infra, 'web-01') }), null);
    assert.deepEqual(await engine.docker.listContainers({ all: true, filters: { label: ['provisioning.io/name=web-01', `provisioning.test/run=${runValue}`] } }), []);
    vols = ((await engine.docker.listVolumes({ filters: byRun })).Volumes ?? []).map((v) => v.Name);
    assert.deepEqual(vols.sort(), [`prov-${workspace}-${infra}-web-01-keep`, `prov-${workspace}-${infra}-web-02-logs`], 'keep_on_delete and keep_storage volumes stay');
  });

  it('a name taken by a container that is not this server is ALREADY_EXISTS', async () => {
    const name = `prov-${workspace}-${infra}-clash-01`;
    await engine.docker.createContainer({ name, Image: engine.image, Labels: run, Entrypoint: ['true'] });
    await rejectsWith(provider().create(server('clash-01'), ctx('clash-01')), 'ALREADY_EXISTS', `a container named ${name} exists`, 'rm -f');
  });

  it('a missing image that cannot be pulled names the image and prepare-image', async () => {
    const image = `localhost/prov-missing:${runValue.replace(/[^a-z0-9]/g, '')}`;
    const never = await rejectsWith(provider({ pull: 'never' }).create(server('img-01', { image }), ctx('img-01')), 'NOT_FOUND',
      `image ${image} is not in the container engine at ${engine.socket}`, 'providers.local.pull = "never"', 'provisioning provider local prepare-image');
    assert.equal(never.exitCode, 5);
    // pull = missing tries the registry, which is unreachable here
    await rejectsWith(provider({ pull: 'missing' }).create(server('img-01', { image }), ctx('img-01')), 'NOT_FOUND',
      `image ${image} is not in the container engine`, 'pulling it failed', 'provisioning provider local prepare-image');
    assert.deepEqual(await engine.docker.listContainers({ all: true, filters: { label: ['provisioning.io/name=img-01', `provisioning.test/run=${runValue}`] } }), []);
  });

  it('an unreachable socket is UNAVAILABLE (exit 9) naming the socket and how to start an engine', async () => {
    const socket = `unix://${join(dir, 'missing', 'podman.sock')}`;
    const p = new LocalProvider({ manifest, config: { socket }, env: {} });
    const err = await rejectsWith(p.find({ tags: systemTags(workspace, infra, 'web-01') }), 'UNAVAILABLE', `container engine at ${socket} is not reachable`, 'bash scripts/engine.sh');
    assert.equal(err.exitCode, 9);
    await rejectsWith(p.create(web01, ctx('web-01')), 'UNAVAILABLE', socket);
    // DOCKER_HOST is used when the config names no socket
    const fromEnv = new LocalProvider({ manifest, config: {}, env: { DOCKER_HOST: socket } });
    await rejectsWith(fromEnv.list({}), 'UNAVAILABLE', socket);
  });

  it('validate is offline: zone, plan and bind mounts with did-you-mean hints', async () => {
    // an unreachable socket proves no engine is asked
    const p = new LocalProvider({ manifest, config: { socket: 'unix:///nonexistent/podman.sock' }, env: {} });
    assert.deepEqual(await p.validate({}, [web01, web02, server('ok-01', { zone: 'local', provider_settings: { privileged: true, volumes: ['/srv/a:/a', '/etc/ssl:/etc/ssl:ro'] } })]), []);
    const issues = await p.validate({}, [
      server('z-01', { zone: 'locl' }),
      server('p-01', { plan: 'smal' }),
      server('v-01', { provider_settings: { volumes: ['data:/data', '/srv/x:relative'] } }),
      server('m-01', { storage: [{ name: 'a', size_gb: 1, mount: '/x', filesystem: 'ext4', encrypted: false, keep_on_delete: false }], provider_settings: { volumes: ['/srv/x:/x'] } }),
    ]);
    const by = (path: string) => issues.find((i) => i.path === path);
    assert.equal(by('servers.z-01.zone')?.severity, 'error');
    assert.match(by('servers.z-01.zone')!.message, /local has no zone 'locl'/);
    assert.match(by('servers.z-01.zone')!.hint!, /did you mean 'local'/);
    assert.equal(by('servers.p-01.plan')?.severity, 'error');
    assert.match(by('servers.p-01.plan')!.hint!, /did you mean 'small'.*small, medium, large/);
    assert.equal(by('servers.v-01.provider_settings.volumes[0]')?.code, 'DEF_PATTERN');
    assert.match(by('servers.v-01.provider_settings.volumes[1]')!.message, /"\/srv\/x:relative" is not "host:container/);
    assert.match(by('servers.m-01.storage')!.message, /two volumes of m-01 mount at \/x/);
    assert.equal(issues.length, 5, JSON.stringify(issues, null, 1));

    const cfg = await new LocalProvider({ manifest, config: { zone: 'lokal', plan: 'huge' }, env: {} }).validate({}, []);
    assert.deepEqual(cfg.map((i) => [i.path, i.severity]), [['providers.local.zone', 'error'], ['providers.local.plan', 'error']]);
    assert.match(cfg[0]!.hint!, /did you mean 'local'/);
  });

  it('an unknown plan at create is DEFINITION_INVALID before anything is made', async () => {
    await rejectsWith(provider().create(server('p-02', { plan: 'smal' }), ctx('p-02')), 'DEFINITION_INVALID', "local has no plan 'smal'", "did you mean 'small'");
  });

  it('catalog and prices come from the manifest', async () => {
    const p = new LocalProvider({ manifest, config: { socket: 'unix:///nonexistent/podman.sock' }, env: {} });
    const cat = await p.catalog();
    assert.deepEqual(cat.zones, ['local']);
    assert.deepEqual(cat.plans.map((x) => [x.name, x.cores, x.memory_mb]), [['small', 1, 1024], ['medium', 2, 4096], ['large', 4, 8192]]);
    assert.deepEqual(p.price(server('a', { plan: 'large' })), { hourly: 0, monthly: 0, currency: 'EUR' });
  });
});
