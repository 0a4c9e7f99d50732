import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCli, tempHome } from '../fixtures/cli.js';
import { tree, writeFiles } from '../workspace/fixtures.js';

/**
 * The extension commands end to end: a `local` template workspace made through the CLI, with
 * extensions loaded, overridden and broken in its workspace and infra layers.
 */

let home: string;
let ws: string;
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { home, cwd: ws, env });
const names = (rows: { name: string }[]) => rows.map((r) => r.name);

before(async () => {
  home = tempHome('prov-ext-');
  const r = await runCli(['workspace', 'init', 'demo', '--template', 'local'], { home });
  assert.equal(r.code, 0, r.stderr);
  ws = join(home, 'demo');
});

/** A taskserv manifest in a layer directory (`<ws>/extensions` or `<ws>/infra/local/extensions`). */
function taskserv(layerDir: string, name: string, body: string): string {
  const dir = join(layerDir, 'taskservs', name);
  writeFiles(dir, { 'extension.toml': `[extension]\nname = "${name}"\nkind = "taskserv"\n${body}` });
  return dir;
}

describe('provider commands', () => {
  it('list: name, version, layer, transport, capabilities and whether it is configured', async () => {
    const r = await cli(['provider', 'list', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.json();
    assert.deepEqual(names(rows), ['aws', 'local', 'static', 'upcloud']);
    const local = rows.find((p: { name: string }) => p.name === 'local');
    assert.deepEqual([local.layer, local.transport, local.configured, local.usable], ['core', 'exec', true, true]);
    assert.ok(local.capabilities.includes('custom_plans'));
    const up = rows.find((p: { name: string }) => p.name === 'upcloud');
    assert.equal(up.configured, false);
    assert.deepEqual(up.missing, ['providers.upcloud.password']);
    const table = await cli(['provider', 'list']);
    assert.match(table.stdout, /^NAME\s+VERSION\s+LAYER\s+TRANSPORT\s+CAPABILITIES\s+CONFIGURED\s+STATUS/);
    assert.match(table.stdout, /upcloud\s+1\.0\.0\s+core\s+ssh\s+.*no \(missing password\)/);
  });

  it('info: config keys with types and defaults, capabilities, zones and priced plans; never a secret value', async () => {
    const env = { PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD: 'hunter2-very-secret' };
    const r = await cli(['provider', 'info', 'upcloud', '--out', 'json'], env);
    assert.equal(r.code, 0, r.stderr);
    const info = r.json();
    const pw = info.config.find((f: { key: string }) => f.key === 'password');
    assert.deepEqual([pw.type, pw.required, pw.set, pw.env], ['secret', false, true, 'PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD']);
    assert.equal(info.config.find((f: { key: string }) => f.key === 'zone').default, 'de-fra1');
    assert.equal(info.capabilities.resize, true);
    assert.ok(info.zones.includes('fi-hel1'));
    assert.deepEqual(Object.keys(info.plans[0]).sort(), ['cores', 'currency', 'disk', 'hourly', 'memory', 'monthly', 'name']);
    assert.equal(info.plans[0].currency, 'EUR');
    const table = await cli(['provider', 'info', 'upcloud'], env);
    assert.match(table.stdout, /PLANS \(EUR, api\)\nPLAN\s+CORES\s+MEMORY\s+DISK\s+HOURLY\s+MONTHLY\n1xCPU-1GB/);
    for (const out of [r.stdout, table.stdout, (await cli(['provider', 'list', '--out', 'json'], env)).stdout]) assert.doesNotMatch(out, /hunter2/);
  });

  it('validate: missing credentials name the config key and the environment variable (exit 3)', async () => {
    const r = await cli(['provider', 'validate', 'upcloud']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[CONFIG_REQUIRED\]: providers\.upcloud\.password is not set: provider upcloud signs in with it \(set the key, or the environment variable PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD\)/);
    const j = await cli(['provider', 'validate', 'upcloud', '--out', 'json']);
    assert.equal(j.json().error.code, 'CONFIG_INVALID');
    assert.deepEqual(j.json().error.details.errors.map((e: { path: string }) => e.path), ['providers.upcloud.password']);

    const ok = await cli(['provider', 'validate', 'upcloud'], { PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD: 'x', PROVISIONING_PROVIDERS__UPCLOUD__USERNAME: 'u' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /✓ provider upcloud: config valid, credentials present \(not contacted\)/);
  });

  it('validate: a value against the manifest schema, located at its origin', async () => {
    const r = await cli(['provider', 'validate', 'upcloud', '--out', 'json'], { PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD: 'x', PROVISIONING_PROVIDERS__UPCLOUD__STORAGE_TIER: 'fast' });
    assert.equal(r.code, 3);
    const [e] = r.json().error.details.errors;
    assert.deepEqual([e.code, e.path, e.variable], ['CONFIG_ENUM', 'providers.upcloud.storage_tier', 'PROVISIONING_PROVIDERS__UPCLOUD__STORAGE_TIER']);
    assert.match(e.message, /expected one of "maxiops", "standard", "hdd", got "fast"/);
  });

  it('validate --all checks the providers in use and skips the others; a name or --all is required', async () => {
    const r = await cli(['provider', 'validate', '--all', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json().providers.map((p: { name: string; status: string }) => `${p.name}:${p.status}`), ['aws:skipped', 'local:valid', 'static:skipped', 'upcloud:skipped']);
    const used = await cli(['provider', 'validate', '--all'], { PROVISIONING_PROVIDERS__AWS__ZONE: 'eu-west-1' });
    assert.equal(used.code, 3);
    assert.match(used.stderr, /providers\.aws\.secret_access_key is not set.*PROVISIONING_PROVIDERS__AWS__SECRET_ACCESS_KEY/);
    const none = await cli(['provider', 'validate']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /name a provider, or pass --all/);
  });
});

describe('taskserv commands', () => {
  it('list --available: the catalog with category and layer, filtered by category and search', async () => {
    const r = await cli(['taskserv', 'list', '--available', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const all = names(r.json());
    for (const n of ['containerd', 'etcd', 'haproxy', 'kubernetes', 'nginx', 'node-exporter', 'postgres', 'redis']) assert.ok(all.includes(n), n);
    assert.deepEqual(all, [...all].sort());
    assert.deepEqual(Object.keys(r.json()[0]), ['name', 'version', 'category', 'layer', 'description', 'keywords', 'usable', 'problem']);
    assert.deepEqual(names((await cli(['taskserv', 'list', '--available', '--category', 'database', '--out', 'json'])).json()), ['postgres', 'redis']);
    const search = names((await cli(['t', 'list', '--available', '--search', 'KUBEADM', '--out', 'json'])).json());
    assert.deepEqual(search, ['kubernetes']);
    const bad = await cli(['taskserv', 'list', '--category', 'databse']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /database/);
  });

  it('list without --available: the installed taskservs inside an infra (defined ones not installed yet included), the catalog outside a workspace', async () => {
    const r = await cli(['taskserv', 'list', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json().map((t: { name: string; server: string; status: string }) => `${t.name}@${t.server}: ${t.status}`), ['nginx@web-01: not installed', 'redis@db-01: not installed']);
    const inst = await cli(['taskserv', 'list', '--installed']);
    assert.equal(inst.code, 0, inst.stderr);
    assert.match(inst.stdout, /^NAME\s+VERSION\s+SERVER\s+STATUS\nnginx\s+1\.0\.0\s+web-01\s+not installed/);
    const outside = await runCli(['taskserv', 'list'], { home: tempHome('prov-ext-none-') });
    assert.equal(outside.code, 0, outside.stderr);
    assert.match(outside.stderr, /no workspace selected: showing the catalogue/);
    assert.match(outside.stdout, /^NAME\s+VERSION\s+CATEGORY\s+LAYER\s+DESCRIPTION\ncontainerd/);
    const none = await runCli(['taskserv', 'list', '--installed'], { home: tempHome('prov-ext-none-') });
    assert.equal(none.code, 3, none.stderr);
  });

  it('show: version, layer, dependencies, resources, settings with defaults, profiles, templates, scripts, checks', async () => {
    const r = await cli(['taskserv', 'show', 'kubernetes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const t = r.json();
    assert.deepEqual([t.version, t.layer, t.category], ['1.0.0', 'core', 'kubernetes']);
    assert.deepEqual(t.dependencies.requires, { containerd: { version: '>=1', scope: 'server' }, etcd: { version: '>=1', scope: 'server' } });
    assert.deepEqual(t.resources.ports, [6443, 10250, 10257, 10259]);
    assert.equal(t.settings.find((f: { key: string }) => f.key === 'api_port').default, 6443);
    assert.deepEqual(t.profiles.production, { schedule_on_control_plane: false });
    assert.equal(t.templates[0].target, '/etc/kubernetes/provisioning/kubeadm-config.yaml');
    assert.deepEqual(t.scripts.map((s: { step: string }) => s.step).slice(0, 3), ['install', 'configure', 'start']);
    assert.deepEqual(t.readiness.map((c: { name: string }) => c.name), ['tcp-1', 'livez']);
    assert.deepEqual(t.smoke.map((c: { name: string }) => c.name), ['readyz']);
    const table = await cli(['taskserv', 'show', 'kubernetes']);
    for (const h of ['SETTINGS', 'PROFILES', 'TEMPLATES', 'SCRIPTS', 'READINESS', 'SMOKE TESTS']) assert.match(table.stdout, new RegExp(`\n${h}\n`));
    assert.match(table.stdout, /requires\s+containerd >=1, etcd >=1/);
  });

  it('deps (alias check-deps): kubernetes installs after containerd and etcd, with the reasons', async () => {
    for (const sub of ['deps', 'check-deps']) {
      const r = await cli(['taskserv', sub, 'kubernetes', '--out', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const d = r.json();
      assert.deepEqual(d.order.map((o: { name: string; reason: string }) => `${o.name}: ${o.reason}`), ['containerd: required by kubernetes', 'etcd: required by kubernetes', 'kubernetes: declared']);
      assert.deepEqual(d.order[2].requires, ['containerd', 'etcd']);
      assert.ok(d.provides.some((p: { capability: string }) => p.capability === 'kubernetes-control-plane'));
    }
    const table = await cli(['taskserv', 'deps', 'kubernetes']);
    assert.match(table.stdout, /1\s+containerd\s+1\.0\.0\s+core\s+required by kubernetes\n2\s+etcd\s+.*\n3\s+kubernetes\s+1\.0\.0\s+core\s+declared\s+containerd, etcd/);
  });

  it('validate: levels, and an unresolvable requirement of a workspace-layer taskserv (exit 3)', async () => {
    const all = await cli(['taskserv', 'validate', 'kubernetes']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /✓ taskserv kubernetes 1\.0\.0 \(core layer\) is valid \(level all\)[^]*✓ template syntax[^]*install order: containerd → etcd → kubernetes/);
    const st = await cli(['taskserv', 'validate', 'kubernetes', '--level', 'static', '--out', 'json']);
    assert.equal(st.json().level, 'static');
    assert.ok(!st.json().checked.includes('dependencies resolve'));

    const dir = taskserv(join(ws, 'extensions'), 'needy', 'version = "1.0.0"\n[dependencies]\nrequires = { "message-bus" = ">=1" }\n');
    try {
      const r = await cli(['taskserv', 'validate', 'needy']);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /error\[DEF_REFERENCE\]: needy: needy requires 'message-bus', which no taskserv in the catalog is or provides/);
      assert.equal((await cli(['taskserv', 'validate', 'needy', '--level', 'static'])).code, 0);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('cluster commands', () => {
  it('list and show: components, placement, order and settings', async () => {
    const l = await cli(['cluster', 'list', '--available', '--out', 'json']);
    assert.equal(l.code, 0, l.stderr);
    assert.deepEqual(names(l.json()), ['k8s-single', 'observability', 'web-stack']);
    const s = await cli(['cluster', 'show', 'web-stack', '--out', 'json']);
    assert.equal(s.code, 0, s.stderr);
    assert.deepEqual(s.json().order, ['db', 'app', 'lb']);
    assert.deepEqual(s.json().components.map((c: { taskserv: string }) => c.taskserv), ['postgres', 'nginx', 'haproxy']);
    assert.equal(s.json().settings[0].key, 'domain');
    const t = await cli(['cl', 'show', 'web-stack']);
    assert.match(t.stdout, /order\s+db → app → lb/);
    assert.match(t.stdout, /lb\s+haproxy\s+\^1\s+role=web ×1\s+app\s+no/);
    const v = await cli(['cluster', 'validate', 'k8s-single']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /order: runtime → etcd → control-plane/);
  });

  it('validate: a workspace-layer cluster with a cycle and bad references fails with every problem (exit 3)', async () => {
    const dir = join(ws, 'extensions', 'clusters', 'loop');
    writeFiles(dir, {
      'extension.toml': [
        '[extension]', 'name = "loop"', 'kind = "cluster"', 'version = "1.0.0"', '', '[cluster]', 'components = [',
        '  { name = "web", taskserv = "nginx", placement = { all = true }, after = ["cache"] },',
        '  { name = "cache", taskserv = "redis", placement = { all = true }, after = ["web"] },',
        '  { name = "db", taskserv = "postgress", placement = { all = true }, after = ["ghost"] },',
        ']', ''].join('\n'),
    });
    try {
      const r = await cli(['cluster', 'validate', 'loop']);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /error\[DEF_CYCLE\]: cluster loop: dependency cycle web → cache → web/);
      assert.match(r.stderr, /--> .*clusters\/loop\/extension\.toml:8:/);
      assert.match(r.stderr, /error\[DEF_REFERENCE\]: cluster\.components\[2\]\.taskserv: unknown taskserv 'postgress'\n.*\n.*\n\s+= help: did you mean 'postgres'\?/);
      assert.match(r.stderr, /no component named 'ghost'/);
      assert.match(r.stderr, /3 errors/);
      const j = await cli(['cluster', 'validate', 'loop', '--out', 'json']);
      assert.deepEqual(j.json().error.details.errors.map((e: { code: string }) => e.code).sort(), ['DEF_CYCLE', 'DEF_REFERENCE', 'DEF_REFERENCE']);
      const show = await cli(['cluster', 'show', 'loop', '--out', 'json']);
      assert.equal(show.code, 0);
      assert.equal(show.json().order, null);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("a cycle through the taskservs' requires counts too", async () => {
    const dir = join(ws, 'extensions', 'clusters', 'k8s-backwards');
    writeFiles(dir, {
      'extension.toml': '[extension]\nname = "k8s-backwards"\nkind = "cluster"\nversion = "1.0.0"\n[cluster]\ncomponents = [\n'
        + '  { name = "cp", taskserv = "kubernetes", placement = { all = true } },\n  { name = "kv", taskserv = "etcd", placement = { all = true }, after = ["cp"] },\n]\n',
    });
    try {
      const r = await cli(['cluster', 'validate', 'k8s-backwards']);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /dependency cycle (cp → kv → cp|kv → cp → kv)/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('layers and modules', () => {
  it('layer show: the three layers with paths and whether they exist', async () => {
    const r = await cli(['layer', 'show', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const [core, wsl, infra] = r.json();
    assert.deepEqual([core.layer, core.exists], ['core', true]);
    assert.deepEqual([wsl.layer, wsl.path, wsl.exists], ['workspace', join(ws, 'extensions'), true]);
    assert.deepEqual([infra.layer, infra.path, infra.note], ['infra', join(ws, 'infra', 'local', 'extensions'), 'infra local']);
  });

  it('module load --check writes nothing; load copies; a second load is refused (exit 6) unless --force', async () => {
    const before = tree(ws);
    const chk = await cli(['module', 'load', 'taskserv', 'redis', '--check']);
    assert.equal(chk.code, 0, chk.stderr);
    assert.match(chk.stdout, /^Check mode — nothing will be changed {3}workspace layer\n\nACTION\s+EXTENSION\s+FILE\s*\ncreate\s+taskserv\/redis 1\.0\.0\s+.*extensions\/taskservs\/redis\/extension\.toml/);
    assert.match(chk.stdout, /templates\/redis\.conf\.j2/);
    assert.deepEqual(tree(ws), before);

    const r = await cli(['module', 'load', 'taskserv', 'redis', 'nginx', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json().loaded.map((l: { name: string; from: string }) => `${l.name}:${l.from}`), ['redis:core', 'nginx:core']);
    assert.ok(existsSync(join(ws, 'extensions/taskservs/redis/templates/redis.conf.j2')));
    const again = await cli(['module', 'load', 'taskserv', 'redis']);
    assert.equal(again.code, 6);
    assert.match(again.stderr, /taskserv\/redis is already in the workspace layer[^]*--force/);
    assert.equal((await cli(['module', 'load', 'taskserv', 'redis', '--force'])).code, 0);
    const unknown = await cli(['module', 'load', 'taskserv', 'redsi']);
    assert.equal(unknown.code, 5);
    assert.match(unknown.stderr, /did you mean 'redis'\?/);

    const list = await cli(['module', 'list', 'taskserv', '--out', 'json']);
    assert.deepEqual(list.json().map((m: { name: string; layer: string; overrides: string[] }) => `${m.name}:${m.layer}:${m.overrides}`), ['nginx:workspace:core 1.0.0', 'redis:workspace:core 1.0.0']);
    const discover = await cli(['dt', 'taskserv', '--out', 'json']);
    assert.equal(discover.code, 0, discover.stderr);
    assert.ok(!names(discover.json()).includes('redis'));
    assert.ok(names(discover.json()).includes('postgres'));
  });

  it('layer explain: a workspace override wins; a broken infra-layer manifest is reported unusable', async () => {
    const manifest = join(ws, 'extensions/taskservs/redis/extension.toml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/^version = "1\.0\.0"/m, 'version = "1.1.0"'));
    const r = await cli(['layer', 'explain', 'taskserv/redis', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const e = r.json();
    assert.deepEqual([e.winner, e.usable], ['workspace', true]);
    assert.deepEqual(e.candidates.map((c: { layer: string; version: string; wins: boolean }) => `${c.layer} ${c.version} ${c.wins}`), ['workspace 1.1.0 true', 'core 1.0.0 false']);
    assert.match(e.candidates[1].verdict, /loses to the workspace layer/);
    assert.equal((await cli(['layer', 'test', 'taskserv/redis', '--out', 'json'])).json().manifest.extension.version, '1.1.0');
    assert.match((await cli(['layer', 'explain', 'taskserv', 'redis'])).stdout, /^taskserv\/redis: supplied by the workspace layer \(1\.1\.0\)/);

    taskserv(join(ws, 'infra/local/extensions'), 'redis', 'version = "latest"\n');
    try {
      const x = await cli(['layer', 'explain', 'taskserv/redis']);
      assert.equal(x.code, 0, x.stderr);
      assert.match(x.stdout, /^taskserv\/redis: the infra layer wins but is unusable: extension\.version: expected a semver version such as "1\.2\.0", got "latest"/);
      assert.match(x.stdout, /infra\s+\?\s+no\s+wins \(most specific layer\) but is unusable/);
      const list = await cli(['taskserv', 'list', '--available']);
      assert.equal(list.code, 0);
      assert.match(list.stdout, /redis\s+infra\s+✗ unusable: extension\.version/);
      const show = await cli(['taskserv', 'show', 'redis']);
      assert.equal(show.code, 3);
      assert.match(show.stderr, /error\[DEF_PATTERN\]: extension\.version: expected a semver version[^]*--> .*infra\/local\/extensions\/taskservs\/redis\/extension\.toml:4:11/);
      const test = await cli(['layer', 'test', 'taskserv/redis']);
      assert.equal(test.code, 3);
      const stats = (await cli(['layer', 'stats', '--out', 'json'])).json();
      const coreTaskservs = readdirSync(join((await cli(['layer', 'show', '--out', 'json'])).json()[0].path, 'taskservs')).length;
      assert.deepEqual(stats.layers.map((l: { layer: string; taskservs: number; unusable: number }) => `${l.layer}:${l.taskservs}:${l.unusable}`), [`core:${coreTaskservs}:0`, 'workspace:2:0', 'infra:1:1']);
      assert.deepEqual(stats.overrides.find((o: { extension: string }) => o.extension === 'taskserv/redis'), { extension: 'taskserv/redis', winner: 'infra', shadows: ['workspace', 'core'] });
      const ext = await cli(['extension', 'list', '--layer', 'infra', '--out', 'json']);
      assert.deepEqual(ext.json().map((x: { name: string; usable: boolean }) => `${x.name}:${x.usable}`), ['redis:false']);
    } finally {
      rmSync(join(ws, 'infra/local/extensions'), { recursive: true });
    }
  });

  it('module unload: confirmation needed (exit 7 without --yes, nothing removed), --check lists, --yes removes', async () => {
    const target = join(ws, 'extensions/taskservs/nginx');
    const no = await cli(['module', 'unload', 'taskserv', 'nginx']);
    assert.equal(no.code, 7);
    assert.match(no.stderr, /needs confirmation and this session is not interactive[^]*--yes/);
    assert.ok(existsSync(target));
    const chk = await cli(['module', 'unload', 'taskserv', 'nginx', '--check', '--out', 'json']);
    assert.equal(chk.code, 0);
    assert.deepEqual([chk.json().actions[0].action, chk.json().actions[0].details.after], ['delete', 'core']);
    assert.ok(existsSync(target));
    const yes = await cli(['module', 'unload', 'taskserv', 'nginx', '--yes']);
    assert.equal(yes.code, 0, yes.stderr);
    assert.match(yes.stdout, /✓ unloaded taskserv\/nginx from the workspace layer; the core layer supplies taskserv\/nginx afterwards/);
    assert.ok(!existsSync(target));
    const gone = await cli(['module', 'unload', 'taskserv', 'nginx', '--yes']);
    assert.equal(gone.code, 5);
    assert.match(gone.stderr, /not loaded in the workspace layer \(it comes from: core\)/);
  });

  it('module load --infra targets the infra layer', async () => {
    const r = await cli(['module', 'load', 'taskserv', 'etcd', '--infra', 'local']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(ws, 'infra/local/extensions/taskservs/etcd/extension.toml')));
    assert.equal((await cli(['extension', 'info', 'taskserv/etcd', '--out', 'json'])).json().layer, 'infra');
    assert.equal((await cli(['module', 'unload', 'taskserv', 'etcd', '--infra', 'local', '--yes'])).code, 0);
    assert.equal((await cli(['extension', 'info', 'taskserv/etcd', '--out', 'json'])).json().layer, 'core');
  });
});

describe('extension commands', () => {
  it('list and info: kinds, layers, candidates and the manifest', async () => {
    const l = await cli(['extension', 'list', '--kind', 'providers', '--out', 'json']);
    assert.equal(l.code, 0, l.stderr);
    assert.deepEqual(names(l.json()), ['aws', 'local', 'static', 'upcloud']);
    const all = (await cli(['extension', 'list', '--out', 'json'])).json();
    const count = async (k: string) => (await cli([k, 'list', ...(k === 'provider' ? [] : ['--available']), '--out', 'json'])).json().length;
    assert.equal(all.length, (await count('provider')) + (await count('taskserv')) + (await count('cluster')));
    assert.deepEqual(names(all), [...names(all)].sort());
    const i = await cli(['extension', 'info', 'taskserv/redis', '--out', 'json']);
    assert.equal(i.code, 0, i.stderr);
    assert.deepEqual([i.json().layer, i.json().candidates.map((c: { layer: string }) => c.layer)], ['workspace', ['workspace', 'core']]);
    assert.equal(i.json().manifest.extension.name, 'redis');
  });

  it('`list <kind>` is the same as `<kind> list`', async () => {
    for (const kind of ['provider', 'taskserv', 'cluster', 'extension']) {
      const a = await cli(['list', `${kind}s`, '--out', 'json']);
      assert.equal(a.code, 0, a.stderr);
      assert.deepEqual(a.json(), (await cli([kind, 'list', '--out', 'json'])).json());
    }
  });

  const badDir = () => {
    const dir = join(home, 'ext-src', 'taskservs', 'bad');
    writeFiles(dir, {
      'extension.toml': [
        '[extension]', 'name = "Bad_Name"', 'kind = "taskserv"', 'version = "one"', 'colour = "red"', '',
        '[settings]', 'port = { type = "integer", default = "x" }', '',
        '[[templates]]', 'source = "templates/missing.j2"', 'target = "etc/bad.conf"', '',
        '[scripts]', 'install = { run = "../../../../etc/passwd" }', 'configure = { run = "scripts/configure.sh" }', '',
        '[[readiness]]', 'kind = "tcp"', 'port = "{{ settings.port "', ''].join('\n'),
      'scripts/configure.sh': 'echo {% if settings.port %}\n',
    });
    return dir;
  };

  it('validate lists every problem of a manifest with positions (exit 3), in both spellings', async () => {
    const dir = badDir();
    for (const args of [['validate', 'extension', dir], ['extension', 'validate', join(dir, 'extension.toml')]]) {
      const r = await cli(args);
      assert.equal(r.code, 3, r.stderr);
      const want = [
        /error\[DEF_NAME\]: extension\.name: "Bad_Name" is not a valid name[^]*--> .*extension\.toml:2:8[^]*= help: use "bad-name"/,
        /error\[DEF_PATTERN\]: extension\.version: expected a semver version such as "1\.2\.0", got "one"/,
        /error\[DEF_UNKNOWN_KEY\]: unknown key `colour` in extension/,
        /error\[DEF_TYPE\]: settings\.port\.default: expected a default that validates: an integer, got "x"/,
        /error\[DEF_REFERENCE\]: templates\[0\]\.source: 'templates\/missing\.j2' does not exist in the extension/,
        /error\[DEF_PATTERN\]: templates\[0\]\.target: expected an absolute path on the server/,
        /error\[DEF_PATTERN\]: scripts\.install\.run: expected a relative path inside the extension directory, got "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd"/,
        /error\[DEF_PARSE\]: scripts\.configure\.run: template scripts\/configure\.sh: .*expected elif, else, or endif/,
        /error\[DEF_PARSE\]: readiness\[0\]\.port: expected variable end/,
        /9 errors, 0 warnings/,
      ];
      for (const re of want) assert.match(r.stderr, re);
    }
    const j = await cli(['validate', 'extension', dir, '--out', 'json']);
    assert.equal(j.json().error.code, 'DEFINITION_INVALID');
    assert.equal(j.json().error.details.errors.length, 9);
  });

  it('validate refuses a script that links outside the extension directory', async () => {
    const dir = join(home, 'ext-src', 'taskservs', 'linky');
    writeFiles(dir, { 'extension.toml': '[extension]\nname = "linky"\nkind = "taskserv"\nversion = "1.0.0"\n[scripts]\ninstall = { run = "scripts/install.sh" }\n' });
    mkdirSync(join(dir, 'scripts'), { recursive: true });
    symlinkSync('/etc/hostname', join(dir, 'scripts', 'install.sh'));
    const r = await cli(['validate', 'extension', dir]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[DEF_REFERENCE\]: scripts\.install\.run: 'scripts\/install\.sh' links outside the extension directory\n\s+--> .*extension\.toml:6:/);
  });

  it('validate passes the shipped extensions; a provider without its code yet is a warning', async () => {
    const core = (await cli(['layer', 'show', '--out', 'json'])).json()[0].path;
    const ok = await cli(['validate', 'extension', join(core, 'taskservs', 'postgres')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^✓ taskserv postgres is valid[^]*✓ template syntax/);
    const p = await cli(['validate', 'extension', join(core, 'providers', 'upcloud')]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, /warning\[DEF_REFERENCE\]: provider\.entry: 'index\.js' does not exist in the extension/);
    const missing = await cli(['validate', 'extension', join(home, 'nowhere')]);
    assert.equal(missing.code, 5);
    assert.match(missing.stderr, /no such directory/);
  });
});

describe('unknown names and kinds', () => {
  const cases: [string[], RegExp][] = [
    [['taskserv', 'show', 'kubernets'], /no taskserv named 'kubernets' in any layer[^]*did you mean 'kubernetes'\?/],
    [['taskserv', 'deps', 'postgre'], /did you mean 'postgres'\?/],
    [['cluster', 'show', 'web-stak'], /no cluster named 'web-stak'[^]*did you mean 'web-stack'\?/],
    [['cluster', 'validate', 'k8s'], /did you mean 'k8s-single'\?/],
    [['provider', 'info', 'upclod'], /no provider named 'upclod'[^]*did you mean 'upcloud'\?/],
    [['provider', 'validate', 'awz'], /did you mean 'aws'\?/],
    [['layer', 'explain', 'taskserv/ngnix'], /did you mean 'nginx'\?/],
    [['extension', 'info', 'cluster/observabilty'], /did you mean 'observability'\?/],
  ];
  for (const [args, re] of cases) {
    it(`${args.join(' ')} → exit 5 with a hint`, async () => {
      const r = await cli(args);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, re);
    });
  }

  it('a bad kind or reference is a usage error (exit 2)', async () => {
    const k = await cli(['layer', 'explain', 'taskservz/redis']);
    assert.equal(k.code, 2);
    assert.match(k.stderr, /'taskservz' is not an extension kind[^]*did you mean 'taskserv'\?/);
    const r = await cli(['layer', 'explain', 'redis']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /write <kind>\/<name>/);
  });
});
