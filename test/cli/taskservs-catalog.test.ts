/**
 * The core catalog for real, through the built CLI on the local provider: one fresh Debian 12
 * container per taskserv, every taskserv installed from Debian's archive at once, readiness and
 * smoke checks passing, a re-apply that changes nothing (each check script exits 0 and the daemon
 * keeps its PID), and `taskserv delete` leaving every server clean (daemon gone, package removed,
 * the taskserv's state directory gone). kubernetes cannot run here (its packages come from
 * pkgs.k8s.io): its files are rendered by the engine's renderer with a local server's context.
 *
 * Needs the container engine (test/fixtures/engine.ts) and access to Debian's archive from the
 * containers; the apt installs dominate the run time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { render, renderDeep, serverContext } from '../../src/engine/render.js';
import type { DesiredState } from '../../src/infra/desired.js';
import { fieldDefaults, normalizeFieldValues, deepMerge, type FieldTable } from '../../src/model/index.js';
import type { ResourceState } from '../../src/store/types.js';
import { ROOT, runCli, tempHome } from '../fixtures/cli.js';
import { ensureEngine, type Engine } from '../fixtures/engine.js';

const WS = `cat${process.pid}`;
const INFRA = 'catalog';

interface Case {
  name: string;
  host: string;
  /** TOML of the server's taskserv reference */
  ref: string;
  /** more TOML lines of the server */
  server?: string[];
  /** the daemon's process name as pgrep -x sees it (the kernel keeps 15 characters) */
  proc: string;
  /** the package that `uninstall` removes */
  pkg: string;
}

// Secret settings stay unset: the runner refuses encrypted references until KMS lands (plaintext is
// refused in definitions). redis then relies on its bind address, postgres on peer authentication.
const CASES: Case[] = [
  { name: 'redis', host: 'cat-redis-01', ref: '"redis"', proc: 'redis-server', pkg: 'redis-server' },
  { name: 'postgres', host: 'cat-postgres-01', ref: '{ name = "postgres", settings = { databases = ["shop"] } }', proc: 'postgres', pkg: 'postgresql-15' },
  { name: 'nginx', host: 'cat-nginx-01', ref: '"nginx"', proc: 'nginx', pkg: 'nginx' },
  // A backend that is surely up (haproxy's own stats page, HTTP-checked), so that the backends-up
  // smoke check proves the health gate; maxconn fits the test engine's nofile limit of 1024
  // (haproxy needs about 2 × maxconn descriptors and refuses to start otherwise).
  { name: 'haproxy', host: 'cat-haproxy-01', ref: '{ name = "haproxy", settings = { maxconn = 256, backend_check_path = "/stats", backends = [{ name = "stats", address = "127.0.0.1", port = 8404 }] } }', proc: 'haproxy', pkg: 'haproxy' },
  { name: 'node-exporter', host: 'cat-node-exporter-01', ref: '"node-exporter"', proc: 'prometheus-node', pkg: 'prometheus-node-exporter' },
  // privileged (as the manifest's resources say) so that runc can run a container; no systemd, and
  // overlayfs cannot mount on the container's own overlay root: the native snapshotter.
  { name: 'containerd', host: 'cat-containerd-01', ref: '{ name = "containerd", settings = { systemd_cgroup = false, snapshotter = "native" } }', server: ['provider_settings = { privileged = true }'], proc: 'containerd', pkg: 'containerd' },
  { name: 'etcd', host: 'cat-etcd-01', ref: '"etcd"', proc: 'etcd', pkg: 'etcd-server' },
];

// An OCI image archive of one layer holding Debian's static busybox, made on the server: the
// containers here cannot reach a registry.
const MAKE_IMAGE = `
import hashlib, io, json, sys, tarfile
out = tarfile.open(sys.argv[1], "w")
def add(name, data):
    ti = tarfile.TarInfo(name); ti.size = len(data); out.addfile(ti, io.BytesIO(data))
def blob(data, media):
    d = hashlib.sha256(data).hexdigest(); add("blobs/sha256/" + d, data)
    return {"mediaType": media, "digest": "sha256:" + d, "size": len(data)}
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as layer:
    layer.add("/bin/busybox", arcname="bin/busybox")
lay = blob(buf.getvalue(), "application/vnd.oci.image.layer.v1.tar")
cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [lay["digest"]]}}).encode(), "application/vnd.oci.image.config.v1+json")
man = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg, "layers": [lay]}).encode(), "application/vnd.oci.image.manifest.v1+json")
man["annotations"] = {"io.containerd.image.name": sys.argv[2], "org.opencontainers.image.ref.name": sys.argv[2]}
add("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
add("index.json", json.dumps({"schemaVersion": 2, "manifests": [man]}).encode())
out.close()
`;

interface Result { name: string; server: string; action: string; status: string; ms?: number; note?: string; error?: { message: string } }
const byServer = (results: Result[]) => Object.fromEntries(results.map((r) => [r.server, r]));

describe('core catalog taskservs for real on local Debian 12 containers (built CLI)', () => {
  const home = tempHome();
  const ws = join(home, WS);
  let engine: Engine;
  let env: Record<string, string>;
  // --infra right after the subcommand: after `--` it would belong to the remote command
  const cli = (args: string[]) => runCli([...args.slice(0, 2), '--infra', INFRA, ...args.slice(2)], { home, cwd: ws, env });
  const onServer = (host: string, script: string) => cli(['server', 'ssh', host, '--', 'sh', '-c', script]);
  const pids: Record<string, string> = {};
  const oldestPid = async (c: Case) => {
    const r = await onServer(c.host, `pgrep -o -x ${c.proc}`);
    assert.equal(r.code, 0, `${c.proc} runs on ${c.host}: ${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  };

  before(async () => {
    engine = await ensureEngine();
    env = { PROVISIONING_PROVIDERS__LOCAL__SOCKET: engine.socket };
    const r = await runCli(['workspace', 'init', WS, ws, '--template', 'local'], { home });
    assert.equal(r.code, 0, r.stderr);
    // every server at once (the template's dev environment allows 2)
    writeFileSync(join(ws, 'config', 'dev.toml'), '[execution]\nparallel_limit = 8\n');
    mkdirSync(join(ws, 'infra', INFRA), { recursive: true });
    writeFileSync(join(ws, 'infra', INFRA, 'settings.toml'), [
      'provider = "local"',
      '[defaults]', 'cores = 1', 'memory = "512MiB"',
      ...CASES.flatMap((c) => ['[[servers]]', `hostname = "${c.host}"`, ...(c.server ?? []), `taskservs = [${c.ref}]`]),
    ].join('\n') + '\n');
  });

  after(async () => {
    const found = await engine.docker.listContainers({ all: true, filters: { label: [`provisioning.io/workspace=${WS}`] } });
    await Promise.all(found.map((c) => engine.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  });

  it('creates one fresh server per taskserv, in parallel', async () => {
    const r = await cli(['server', 'create', '--yes', '--wait', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual((r.json().results as Result[]).map((x) => `${x.name}:${x.status}`).sort(), CASES.map((c) => `${c.host}:done`).sort());
  });

  it('installs every taskserv at once from Debian\'s archive; readiness and smoke checks pass', async (t) => {
    const r = await cli(['taskserv', 'create', '--yes', '--out', 'json']);
    const results = byServer(r.json().results as Result[]);
    t.diagnostic(Object.values(results).map((x) => `${x.name} ${((x.ms ?? 0) / 1000).toFixed(1)}s`).join(', '));
    for (const c of CASES) {
      const got = results[c.host];
      assert.ok(got, `a result for ${c.name} on ${c.host}`);
      assert.equal(got.name, c.name);
      assert.equal(got.status, 'done', `${c.name}: ${got.error?.message ?? ''}\n${JSON.stringify(got.error ?? {}, null, 1)}`);
      assert.equal(got.note, 'installed, smoke tests passed');
    }
    assert.equal(r.code, 0, r.stderr);
    for (const c of CASES) pids[c.name] = await oldestPid(c);
  });

  it('postgres without a password: the database was created, peer login works, password login over TCP does not', async () => {
    const host = CASES.find((c) => c.name === 'postgres')!.host;
    const db = await onServer(host, `runuser -u postgres -- psql -X -tAc "SELECT datname FROM pg_database WHERE datname = 'shop'"`);
    assert.equal(db.stdout.trim(), 'shop', db.stderr);
    const tcp = await onServer(host, `PGPASSWORD=guess PGCONNECT_TIMEOUT=5 psql -X -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1'`);
    assert.notEqual(tcp.code, 0);
    assert.match(tcp.stderr, /password authentication failed for user "postgres"/);
  });

  it('containerd runs a container: an imported image through runc on the privileged server', async () => {
    const host = CASES.find((c) => c.name === 'containerd')!.host;
    const image = 'provisioning.test/busybox:smoke';
    const prep = await onServer(host, 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends busybox-static >/dev/null');
    assert.equal(prep.code, 0, prep.stderr);
    const made = await cli(['server', 'ssh', host, '--', 'python3', '-c', MAKE_IMAGE, '/tmp/smoke-image.tar', image]);
    assert.equal(made.code, 0, made.stderr);
    const ran = await onServer(host, `ctr images import --snapshotter native /tmp/smoke-image.tar >/dev/null && ctr run --rm --snapshotter native ${image} prov-smoke /bin/busybox echo "hello from $(hostname)" && ctr images rm ${image} >/dev/null && rm -f /tmp/smoke-image.tar`);
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    assert.equal(ran.stdout.trim(), `hello from ${host}`, 'the container has its own UTS namespace and the server\'s hostname');
  });

  it('re-applying changes nothing: every check script exits 0 and every daemon keeps its PID', async () => {
    const r = await cli(['taskserv', 'create', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const results = byServer(r.json().results as Result[]);
    for (const c of CASES) {
      assert.equal(results[c.host]?.status, 'done', c.name);
      assert.equal(results[c.host]?.note, 'unchanged (check passed)', `${c.name}: the check script did not exit 0`);
    }
    for (const c of CASES) assert.equal(await oldestPid(c), pids[c.name], `${c.name} was not restarted`);
  });

  it('`taskserv delete` stops and uninstalls each, and leaves no state directory behind', async () => {
    const r = await cli(['taskserv', 'delete', ...CASES.map((c) => c.name), '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const results = byServer(r.json().results as Result[]);
    for (const c of CASES) assert.equal(results[c.host]?.status, 'done', `${c.name}: ${results[c.host]?.error?.message ?? 'no result'}`);
    await Promise.all(CASES.map(async (c) => {
      const clean = await onServer(c.host, [
        `test ! -e /var/lib/provisioning/taskservs/${c.name} || { echo "state directory left"; exit 1; }`,
        `! pgrep -a -x ${c.proc} || { echo "${c.proc} still runs"; exit 1; }`,
        `! dpkg-query -W -f='\${Status}' ${c.pkg} 2>/dev/null | grep -q 'install ok installed' || { echo "${c.pkg} still installed"; exit 1; }`,
      ].join('\n'));
      assert.equal(clean.code, 0, `${c.name} on ${c.host}: ${clean.stdout}${clean.stderr}`);
    }));
    const again = await cli(['server', 'status', CASES[0]!.host, '--out', 'json']);
    assert.deepEqual(again.json().taskservs, [], 'no taskserv recorded any more');
  });

  it('deletes the servers', async () => {
    const r = await cli(['server', 'delete', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.json().done, CASES.length);
    const left = await engine.docker.listContainers({ all: true, filters: { label: [`provisioning.io/workspace=${WS}`] } });
    assert.equal(left.length, 0);
  });
});

describe('kubernetes (needs pkgs.k8s.io: not run here) renders through the engine with a real server context', () => {
  const dir = join(ROOT, 'extensions', 'taskservs', 'kubernetes');
  const m = parse(readFileSync(join(dir, 'extension.toml'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const table = m.settings as FieldTable;
  // what the local provider records for a container (server status): no public address, one private
  const desired = { servers: [{ hostname: 'k8s-01', fqdn: 'k8s-01', provider: 'local', zone: 'local', plan: 'custom', cores: 2, memory_mb: 2048, disk_gb: 20, image: 'localhost/prov-debian:12', labels: { role: 'k8s' } }] } as unknown as DesiredState;
  const record = (addresses: ResourceState['addresses']) => ({ addresses }) as ResourceState;
  const ctx = (addresses: ResourceState['addresses'], settings: Record<string, unknown> = {}) => ({
    server: serverContext(desired, 'k8s-01', record(addresses), { family: 'debian', version: '12', arch: 'x86_64' }),
    settings: normalizeFieldValues(table, deepMerge<Record<string, unknown>>(fieldDefaults(table), settings) ?? {}),
    taskserv: { name: 'kubernetes', version: m.extension.version, profile: 'default' },
    infra: { name: INFRA, environment: 'dev', domain: '', labels: {} },
    servers: [serverContext(desired, 'k8s-01', undefined)],
    workspace: { name: WS },
  });
  const kubeadm = (c: ReturnType<typeof ctx>) => render(readFileSync(join(dir, 'templates', 'kubeadm-config.yaml.j2'), 'utf8'), c, 'kubernetes/templates/kubeadm-config.yaml.j2');
  const local = { public_ipv4: [], public_ipv6: [], private: [{ network: 'provisioning', ip: '10.89.0.7' }] };

  it('kubeadm config: the private address advertised, the etcd taskserv as external etcd, containerd\'s CRI socket, systemd cgroups', () => {
    const conf = kubeadm(ctx(local));
    assert.match(conf, /advertiseAddress: "10\.89\.0\.7"/);
    assert.match(conf, /controlPlaneEndpoint: "10\.89\.0\.7:6443"/);
    assert.match(conf, /name: "k8s-01"/);
    assert.match(conf, /criSocket: unix:\/\/\/run\/containerd\/containerd\.sock/);
    assert.match(conf, /external:\n\s+endpoints:\n\s+- "http:\/\/127\.0\.0\.1:2379"\n/);
    assert.match(conf, /taints: \[\]/);
    assert.match(conf, /cgroupDriver: systemd/);
  });

  it('addresses are lists (models.md §5.3): a public-only server advertises its first IPv4, a server without any 127.0.0.1', () => {
    assert.match(kubeadm(ctx({ public_ipv4: ['203.0.113.10', '203.0.113.11'], public_ipv6: [], private: [] })), /advertiseAddress: "203\.0\.113\.10"/);
    assert.match(kubeadm(ctx({ public_ipv4: [], public_ipv6: [], private: [] })), /advertiseAddress: "127\.0\.0\.1"/);
  });

  it('every script and check renders and every script parses with sh -n; the minor release selects the repository', () => {
    const c = ctx(local, { minor: '1.31', ignore_preflight_errors: ['Swap', 'SystemVerification'] });
    for (const [step, def] of Object.entries(m.scripts as Record<string, { run: string }>)) {
      const text = render(readFileSync(join(dir, def.run), 'utf8'), c, `kubernetes/${def.run}`);
      const sh = spawnSync('sh', ['-n'], { input: text, encoding: 'utf8' });
      assert.equal(sh.status, 0, `${step}: ${sh.stderr}`);
      if (step === 'install') assert.match(text, /^MINOR="1\.31"$/m);
      if (step === 'start') assert.match(text, /^IGNORE="Swap,SystemVerification"$/m);
    }
    const checks = renderDeep([...m.readiness, ...m.smoke], c, 'kubernetes checks') as { port?: string; command?: string }[];
    assert.equal(checks[0]!.port, '6443');
    assert.ok(checks.slice(1).every((x) => x.command!.startsWith('kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /')));
  });
});
