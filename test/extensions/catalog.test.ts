// The core extension catalog shipped in extensions/: every manifest is well formed (models.md §5),
// every file it names exists inside it, every default validates against its own schema, and every
// template, script and check string renders with the documented context (undefined = error), the
// same with Jinja2 as with nunjucks; rendered scripts pass `sh -n` and shellcheck.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import semver from 'semver';
import {
  deepMerge, type Extension, insideExtension, isTable, jinja2Available, KIND_DIRS, loadCatalog, rel, render,
  renderJinja2, ROOT, sampleContext, sampleSettings, schemaProblems, SERVERS, type Table, valueProblems,
} from './catalog-support.js';

const catalog = loadCatalog();
const byKind = (k: Extension['kind']) => catalog.filter((e) => e.kind === k);
const find = (k: Extension['kind'], name: string) => catalog.find((e) => e.kind === k && e.name === name)!;
const NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const CATEGORIES = ['container_runtime', 'kubernetes', 'networking', 'storage', 'database', 'observability', 'security', 'development', 'misc'];
const STEPS = ['install', 'configure', 'start', 'check', 'uninstall', 'stop', 'restart', 'upgrade'];
const REQUIRED_STEPS = ['install', 'configure', 'start', 'check', 'uninstall'];
const work = mkdtempSync(join(tmpdir(), 'prov-catalog-'));
after(() => rmSync(work, { recursive: true, force: true }));

const TOP_KEYS: Record<Extension['kind'], string[]> = {
  taskserv: ['extension', 'compatibility', 'dependencies', 'resources', 'settings', 'profiles', 'templates', 'scripts', 'readiness', 'smoke'],
  provider: ['extension', 'compatibility', 'provider', 'capabilities', 'config', 'server_settings', 'catalog', 'pricing'],
  cluster: ['extension', 'compatibility', 'settings', 'cluster'],
};

describe('core catalog: contents', () => {
  it('ships the taskservs, clusters and providers the product promises', () => {
    const names = (k: Extension['kind']) => byKind(k).map((e) => e.name);
    for (const t of ['containerd', 'etcd', 'kubernetes', 'postgres', 'redis', 'nginx', 'haproxy', 'node-exporter']) assert.ok(names('taskserv').includes(t), `taskserv ${t}`);
    for (const c of ['web-stack', 'k8s-single']) assert.ok(names('cluster').includes(c), `cluster ${c}`);
    assert.deepEqual(names('provider'), ['aws', 'local', 'static', 'upcloud']);
  });

  it('documents every extension in docs/catalog.md', () => {
    const doc = readFileSync(join(ROOT, 'docs/catalog.md'), 'utf8');
    for (const e of catalog) assert.match(doc, new RegExp(`\\b${e.name}\\b`), `${e.kind} ${e.name} missing from docs/catalog.md`);
  });
});

for (const ext of catalog) {
  const m = ext.manifest;
  const id = `${ext.kind}/${ext.name}`;
  describe(`${id}: manifest`, () => {
    it('has the common [extension] table: name = directory, kind = folder, semver version', () => {
      for (const k of Object.keys(m)) assert.ok(TOP_KEYS[ext.kind].includes(k), `${id}: unknown top-level table [${k}]`);
      const e = m.extension as Table;
      assert.equal(e.name, ext.name);
      assert.match(ext.name, NAME);
      assert.equal(e.kind, ext.kind);
      assert.equal(KIND_DIRS[ext.kind], rel(ext.dir).split('/')[1]);
      assert.ok(semver.valid(e.version as string), `version ${String(e.version)} is not semver`);
      assert.ok(typeof e.description === 'string' && e.description.length > 10, 'description');
      assert.ok(typeof e.license === 'string', 'license');
      const c = m.compatibility as Table;
      assert.ok(semver.validRange(c.provisioning as string), 'compatibility.provisioning is a range');
      if (ext.kind === 'taskserv') {
        assert.ok(CATEGORIES.includes(e.category as string), `category ${String(e.category)}`);
        assert.deepEqual(c.os, ['debian>=12', 'ubuntu>=22.04']);
      }
    });

    for (const section of ['settings', 'config', 'server_settings'] as const) {
      if (!isTable(m[section])) continue;
      it(`[${section}]: every field schema is valid and every default validates against it`, () => {
        const problems = Object.entries(m[section] as Table).flatMap(([k, f]) => schemaProblems(f, `${section}.${k}`));
        assert.deepEqual(problems, []);
      });
    }
  });
}

for (const ext of byKind('taskserv')) describeTaskserv(ext);

function describeTaskserv(ext: Extension) {
  const m = ext.manifest;
  const settingsSchema = (m.settings ?? {}) as Record<string, Table>;
  const templates = (m.templates ?? []) as Table[];
  const scripts = (m.scripts ?? {}) as Record<string, Table>;
  const checks = [...((m.readiness ?? []) as Table[]).map((c) => ({ c, group: 'readiness' })), ...((m.smoke ?? []) as Table[]).map((c) => ({ c, group: 'smoke' }))];
  const profiles = (m.profiles ?? {}) as Record<string, Table>;
  const contexts = renderContexts(ext);

  describe(`taskserv/${ext.name}: contract`, () => {
    it('declares dependencies as ranges or { version, scope } and capabilities by name', () => {
      const deps = (m.dependencies ?? {}) as Table;
      for (const kind of ['requires', 'optional', 'conflicts']) {
        for (const [name, spec] of Object.entries((deps[kind] ?? {}) as Table)) {
          assert.match(name, NAME);
          const range = isTable(spec) ? spec.version : spec;
          assert.ok(semver.validRange(range as string), `${kind}.${name}: ${String(range)} is not a range`);
          if (isTable(spec)) assert.ok(spec.scope === undefined || ['server', 'infra'].includes(spec.scope as string), `${kind}.${name}.scope`);
        }
      }
      for (const p of (deps.provides ?? []) as string[]) assert.match(p, NAME);
    });

    it('declares its resources: ports that are valid, and no port used twice', () => {
      const r = m.resources as Table;
      const ports = r.ports as number[];
      assert.ok(ports.length > 0 && ports.every((p) => Number.isInteger(p) && p > 0 && p < 65536), 'ports');
      assert.equal(new Set(ports).size, ports.length);
      assert.ok(Number.isInteger(r.cores) && typeof r.memory === 'string' && typeof r.disk === 'string');
    });

    it('has profiles that only set known settings, with valid values', () => {
      for (const [p, values] of Object.entries(profiles)) {
        for (const [k, v] of Object.entries(values)) {
          assert.ok(settingsSchema[k], `profiles.${p}.${k} is not a setting`);
          assert.deepEqual(valueProblems(settingsSchema[k]!, v, `profiles.${p}.${k}`), []);
        }
      }
      assert.ok(profiles.production, 'a production profile');
    });

    it('names template and script files that exist inside the extension', () => {
      assert.ok(templates.length > 0, 'at least one template');
      for (const t of templates) {
        const src = insideExtension(ext.dir, t.source as string);
        assert.ok(src, `${String(t.source)} escapes the extension`);
        assert.ok(existsSync(src) && String(t.source).endsWith('.j2'), `${String(t.source)} exists and is a .j2 template`);
        assert.match(t.target as string, /^\//, 'target is absolute');
        if (t.mode !== undefined) assert.match(t.mode as string, /^0[0-7]{3}$/);
      }
      for (const s of REQUIRED_STEPS) assert.ok(scripts[s], `[scripts].${s}`);
      for (const [step, s] of Object.entries(scripts)) {
        assert.ok(STEPS.includes(step), `unknown step ${step}`);
        const file = insideExtension(ext.dir, s.run as string);
        assert.ok(file && existsSync(file), `${step}: ${String(s.run)} exists inside the extension`);
        if (s.timeout !== undefined) assert.match(s.timeout as string, /^(\d+(ms|s|m|h))+$/);
      }
    });

    it('has readiness and smoke checks of known kinds with their required fields', () => {
      assert.ok(checks.some((x) => x.group === 'readiness') && checks.some((x) => x.group === 'smoke'));
      const need: Record<string, string[]> = { tcp: ['port'], http: ['url'], command: ['command'], file: ['path'] };
      for (const { c, group } of checks) {
        assert.ok(need[c.kind as string], `${group}: unknown kind ${String(c.kind)}`);
        for (const f of need[c.kind as string]!) assert.ok(c[f] !== undefined, `${group} ${String(c.kind)} needs ${f}`);
        for (const re of ['expect_output', 'expect_body']) if (typeof c[re] === 'string') new RegExp(c[re] as string);
      }
    });

    for (const [label, ctx] of contexts) {
      it(`renders every template, target, script and check (${label})`, () => {
        for (const t of templates) {
          render(readFileSync(join(ext.dir, t.source as string), 'utf8'), ctx);
          assert.match(render(t.target as string, ctx), /^\/\S+$/);
        }
        for (const s of Object.values(scripts)) render(readFileSync(join(ext.dir, s.run as string), 'utf8'), ctx);
        for (const { c } of checks) {
          const r = renderCheck(c, ctx);
          if (r.kind === 'tcp') assert.match(String(r.port), /^\d+$/, 'tcp port renders to a number');
          if (r.kind === 'http') assert.doesNotThrow(() => new URL(r.url as string));
        }
      });
    }

    it('renders the same text with Jinja2 (StrictUndefined) as with nunjucks', { skip: !jinja2Available() && 'python3 with jinja2 is not installed' }, () => {
      const jobs: { text: string; ctx: Table; what: string }[] = [];
      for (const [label, ctx] of contexts) {
        const files = [...templates.map((t) => t.source as string), ...Object.values(scripts).map((s) => s.run as string)];
        for (const f of files) jobs.push({ text: readFileSync(join(ext.dir, f), 'utf8'), ctx, what: `${f} (${label})` });
        for (const { c, group } of checks) {
          for (const text of checkStrings(c)) jobs.push({ text, ctx, what: `${group} ${String(c.name ?? c.kind)} (${label})` });
        }
      }
      const out = renderJinja2(jobs);
      jobs.forEach((j, i) => assert.equal(render(j.text, j.ctx), out[i], j.what));
    });

    it('has scripts that are valid POSIX sh once rendered (sh -n, shellcheck)', async (t) => {
      const [, ctx] = contexts[0]!;
      const files: string[] = [];
      for (const [step, s] of Object.entries(scripts)) {
        const text = render(readFileSync(join(ext.dir, s.run as string), 'utf8'), ctx);
        assert.match(text, /^#!\/bin\/sh\n/, `${step} starts with #!/bin/sh`);
        assert.match(text, /^set -(eu|e|u)$/m, `${step} sets -e or -u`);
        const file = join(work, `${ext.name}-${step}.sh`);
        writeFileSync(file, text);
        files.push(file);
        const syntax = spawnSync('sh', ['-n', file], { encoding: 'utf8' });
        assert.equal(syntax.status, 0, `sh -n ${step}: ${syntax.stderr}`);
      }
      if (spawnSync('shellcheck', ['--version'], { stdio: 'ignore' }).status !== 0) {
        t.skip('shellcheck is not installed (apt-get install shellcheck)');
        return;
      }
      const sc = spawnSync('shellcheck', ['-s', 'sh', '-f', 'gcc', ...files], { encoding: 'utf8' });
      assert.equal(sc.status, 0, sc.stdout);
    });

    it('keeps secrets off command lines: scripts never interpolate a secret setting', () => {
      const secretKeys = Object.entries(settingsSchema).filter(([, f]) => f.type === 'secret').map(([k]) => k);
      for (const s of Object.values(scripts)) {
        const text = readFileSync(join(ext.dir, s.run as string), 'utf8');
        for (const k of secretKeys) assert.doesNotMatch(text, new RegExp(`\\{[{%][^}]*settings\\.${k}\\b`), `${String(s.run)} interpolates settings.${k}`);
      }
      for (const { c } of checks) {
        if (typeof c.command !== 'string') continue;
        for (const k of secretKeys) assert.doesNotMatch(c.command, new RegExp(`\\{[{%][^}]*settings\\.${k}\\b`), 'secrets reach checks through env');
      }
    });
  });
}

/** Every render context a taskserv must handle: defaults, each profile, optional secrets absent, in a cluster. */
function renderContexts(ext: Extension): [string, Table][] {
  const schema = (ext.manifest.settings ?? {}) as Table;
  const profiles = (ext.manifest.profiles ?? {}) as Record<string, Table>;
  const base = sampleSettings(schema);
  const out: [string, Table][] = [['defaults', sampleContext(ext, base)]];
  for (const [p, values] of Object.entries(profiles)) out.push([`profile ${p}`, sampleContext(ext, deepMerge(base, values), p)]);
  out.push(['optional secrets unset', sampleContext(ext, sampleSettings(schema, false))]);
  const cluster = { name: 'storefront', settings: { domain: 'shop.example.com' }, members: { db: [SERVERS[0]], app: [SERVERS[1], SERVERS[2]], lb: [SERVERS[1]] } };
  out.push(['placed by a cluster', sampleContext(ext, base, 'default', cluster)]);
  return out;
}

/** The template strings of a check: its string fields and the values of its env and headers tables. */
function checkStrings(c: Table): string[] {
  return Object.values(c).flatMap((v) => (typeof v === 'string' ? [v] : isTable(v) ? Object.values(v).filter((x): x is string => typeof x === 'string') : []));
}

function renderCheck(c: Table, ctx: Table): Table {
  const out: Table = {};
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'string') out[k] = render(v, ctx);
    else if (isTable(v)) out[k] = Object.fromEntries(Object.entries(v).map(([ek, ev]) => [ek, typeof ev === 'string' ? render(ev, ctx) : ev]));
    else out[k] = v;
  }
  return out;
}

for (const ext of byKind('cluster')) {
  describe(`cluster/${ext.name}: components`, () => {
    const components = ((ext.manifest.cluster as Table).components ?? []) as Table[];

    it('places catalog taskservs with satisfiable versions, valid settings and known placement', () => {
      assert.ok(components.length > 0);
      const names = components.map((c) => c.name as string);
      assert.equal(new Set(names).size, names.length, 'component names are unique');
      for (const c of components) {
        assert.match(c.name as string, /^[a-z][a-z0-9_-]{0,62}$/);
        const ts = find('taskserv', c.taskserv as string);
        assert.ok(ts, `${String(c.name)}: taskserv ${String(c.taskserv)} is in the catalog`);
        if (c.version !== undefined) assert.ok(semver.satisfies((ts.manifest.extension as Table).version as string, c.version as string), `${String(c.name)}: ${String(c.version)}`);
        const schema = ts.manifest.settings as Record<string, Table>;
        for (const [k, v] of Object.entries((c.settings ?? {}) as Table)) {
          assert.ok(schema[k], `${String(c.name)}.settings.${k} is a setting of ${ts.name}`);
          assert.deepEqual(valueProblems(schema[k]!, v, `${String(c.name)}.settings.${k}`), []);
        }
        const p = c.placement as Table;
        assert.ok(p.all === true || Array.isArray(p.servers) || isTable(p.labels), `${String(c.name)}: placement`);
        for (const a of (c.after ?? []) as string[]) assert.ok(names.includes(a), `${String(c.name)}: after ${a} names a component`);
      }
    });

    it('orders components without a cycle, respecting the taskservs\' own requirements', () => {
      const edges = new Map(components.map((c) => [c.name as string, new Set((c.after ?? []) as string[])]));
      for (const c of components) {
        const requires = ((find('taskserv', c.taskserv as string).manifest.dependencies as Table | undefined)?.requires ?? {}) as Table;
        for (const other of components) if (other.taskserv as string in requires) edges.get(c.name as string)!.add(other.name as string);
      }
      const order: string[] = [];
      const visiting = new Set<string>();
      const visit = (n: string) => {
        if (order.includes(n)) return;
        assert.ok(!visiting.has(n), `cycle through ${n}`);
        visiting.add(n);
        for (const d of edges.get(n)!) visit(d);
        order.push(n);
      };
      for (const n of edges.keys()) visit(n);
      for (const [n, deps] of edges) for (const d of deps) assert.ok(order.indexOf(d) < order.indexOf(n));
    });
  });
}

describe('cluster layouts', () => {
  it('web-stack: postgres first, nginx on the web servers behind haproxy, no shared port', () => {
    const comps = Object.fromEntries(((find('cluster', 'web-stack').manifest.cluster as Table).components as Table[]).map((c) => [c.name, c]));
    assert.deepEqual([comps.db!.taskserv, comps.app!.taskserv, comps.lb!.taskserv], ['postgres', 'nginx', 'haproxy']);
    const app = comps.app!.settings as Table;
    const lb = comps.lb!.settings as Table;
    assert.notEqual(app.port, lb.port, 'nginx and haproxy share the web servers');
    assert.equal(lb.backend_port, app.port);
    assert.equal(lb.backend_component, 'app');
  });

  it('k8s-single: kubernetes after containerd and etcd, on one server', () => {
    const comps = (find('cluster', 'k8s-single').manifest.cluster as Table).components as Table[];
    assert.deepEqual(comps.map((c) => c.taskserv), ['containerd', 'etcd', 'kubernetes']);
    for (const c of comps) assert.equal((c.placement as Table).count, 1);
    const k8s = find('taskserv', 'kubernetes').manifest.dependencies as Table;
    assert.deepEqual(Object.keys(k8s.requires as Table).sort(), ['containerd', 'etcd']);
  });
});

// config.md §3.7: the keys each built-in provider's [config] must accept.
const PROVIDER_CONFIG_KEYS: Record<string, string[]> = {
  local: ['socket', 'network', 'image', 'transport', 'pull', 'zone', 'plan'],
  static: ['zone', 'verify_os'],  // config.md: {} plus the common zone; verify_os is this manifest's own
  upcloud: ['username', 'password', 'api_url', 'zone', 'plan', 'image', 'storage_tier', 'timeout'],
  aws: ['zone', 'plan', 'image', 'profile', 'access_key_id', 'secret_access_key', 'vpc_id', 'subnet_id', 'timeout'],
};

for (const ext of byKind('provider')) {
  describe(`provider/${ext.name}: manifest`, () => {
    const m = ext.manifest;
    const pricing = m.pricing as Table;
    const plans = pricing.plans as Table[];
    const config = m.config as Record<string, Table>;

    it('declares the provider interface and its capabilities', () => {
      const p = m.provider as Table;
      assert.equal(p.interface, 1);
      assert.ok(['ssh', 'exec'].includes(p.transport as string));
      assert.ok(typeof p.entry === 'string' && insideExtension(ext.dir, p.entry), 'entry is a path inside the extension');
      assert.ok(typeof p.default_user === 'string');
      const caps = m.capabilities as Table;
      assert.deepEqual(Object.keys(caps).sort(), ['custom_plans', 'firewall', 'pricing', 'private_networks', 'public_ipv6', 'resize', 'storage', 'user_data']);
      for (const v of Object.values(caps)) assert.equal(typeof v, 'boolean');
    });

    it('accepts the config keys of config.md §3.7, with credentials optional (check mode needs none)', () => {
      for (const k of PROVIDER_CONFIG_KEYS[ext.name]!) assert.ok(config[k], `[config].${k}`);
      for (const [k, f] of Object.entries(config)) if (f.type === 'secret') assert.notEqual(f.required, true, `${k} must not be required`);
    });

    it('has a static catalog containing its default zone and plan, and a price table', () => {
      const catalogZones = (m.catalog as Table).zones as string[];
      assert.ok(catalogZones.includes(config.zone!.default as string), 'default zone is in the catalog');
      if (config.plan?.default !== undefined) assert.ok(plans.some((p) => p.name === config.plan!.default), 'default plan is priced');
      assert.match(pricing.currency as string, /^[A-Z]{3}$/);
      assert.ok(['api', 'static'].includes(pricing.source as string));
      for (const p of plans) {
        assert.ok(Number.isInteger(p.cores) && (p.cores as number) > 0, `${String(p.name)}.cores`);
        assert.ok(typeof p.memory === 'string' && valueProblems({ type: 'size' }, p.memory, 'memory').length === 0, `${String(p.name)}.memory`);
        assert.ok(typeof p.hourly === 'number' && typeof p.monthly === 'number' && p.hourly >= 0);
      }
      if (['local', 'static'].includes(ext.name)) assert.ok(plans.every((p) => p.hourly === 0 && p.monthly === 0), 'free');
    });
  });
}

describe('provider pricing figures', () => {
  it('upcloud: standard plans 1xCPU-1GB … 8xCPU-32GB; monthly = 672 h × hourly', () => {
    const plans = (find('provider', 'upcloud').manifest.pricing as Table).plans as Table[];
    for (const n of ['1xCPU-1GB', '1xCPU-2GB', '2xCPU-4GB', '4xCPU-8GB', '6xCPU-16GB', '8xCPU-32GB']) assert.ok(plans.some((p) => p.name === n), n);
    for (const p of plans) assert.ok(Math.abs((p.hourly as number) * 672 - (p.monthly as number)) < 0.1, String(p.name));
  });

  it('aws: t3 and m6i sizes; monthly = 730 h × hourly; the shop example\'s t3.small exists', () => {
    const plans = (find('provider', 'aws').manifest.pricing as Table).plans as Table[];
    assert.ok(plans.some((p) => p.name === 't3.small') && plans.some((p) => String(p.name).startsWith('m6i.')));
    for (const p of plans) assert.ok(Math.abs((p.hourly as number) * 730 - (p.monthly as number)) < 0.01, String(p.name));
  });

  it('static: an address is required for every server', () => {
    const ss = find('provider', 'static').manifest.server_settings as Record<string, Table>;
    assert.equal(ss.address!.required, true);
  });
});

// What the rendered configuration must say: settings really reach the files the daemons read.
describe('rendered configuration content', () => {
  const renderFile = (name: string, source: string, settings: Table = {}, cluster?: Table) => {
    const ext = find('taskserv', name);
    const all = deepMerge(sampleSettings(ext.manifest.settings as Table), settings);
    return render(readFileSync(join(ext.dir, source), 'utf8'), sampleContext(ext, all, 'default', cluster));
  };
  const cluster = { name: 'storefront', settings: { domain: 'shop.example.com' }, members: { db: [SERVERS[0]], app: [SERVERS[1], SERVERS[2]], lb: [SERVERS[1]] } };

  it('redis: port, memory in redis units, password only in the 0600 include, escaped', () => {
    const conf = renderFile('redis', 'templates/redis.conf.j2', { port: 6380, maxmemory: '2GiB' });
    assert.match(conf, /^port 6380$/m);
    assert.match(conf, /^maxmemory 2gb$/m);
    assert.match(conf, /^include \/etc\/redis\/provisioning-auth\.conf$/m);
    assert.doesNotMatch(conf, /s3cr3t/);
    assert.match(renderFile('redis', 'templates/auth.conf.j2', { password: 'a"b\\c' }), /^requirepass "a\\"b\\\\c"$/m);
    assert.match(renderFile('redis', 'templates/redis.conf.j2', { maxmemory: 300 }), /^maxmemory 300mb$/m);
  });

  it('postgres: sizes in PostgreSQL units, hba_file, cluster members allowed by private address', () => {
    const conf = renderFile('postgres', 'templates/postgresql.conf.j2', { shared_buffers: '2GiB', work_mem: '512KiB' });
    assert.match(conf, /^shared_buffers = 2GB$/m);
    assert.match(conf, /^work_mem = 512kB$/m);
    assert.match(conf, /^hba_file = '\/etc\/provisioning\/postgres\/pg_hba\.conf'$/m);
    const hba = renderFile('postgres', 'templates/pg_hba.conf.j2', { allowed_networks: ['10.9.0.0/16'] }, cluster);
    assert.match(hba, /^host\s+all\s+all\s+10\.9\.0\.0\/16\s+scram-sha-256$/m);
    assert.match(hba, /^host\s+all\s+all\s+10\.20\.0\.12\/32\s+scram-sha-256\s+# web-02 \(app\)$/m);
    assert.doesNotMatch(renderFile('postgres', 'templates/pg_hba.conf.j2'), /10\.20\.0\.12/);
  });

  it('nginx: worker_processes auto or a number, health location with the hostname, upstream proxying', () => {
    assert.match(renderFile('nginx', 'templates/nginx.conf.j2'), /^worker_processes auto;$/m);
    assert.match(renderFile('nginx', 'templates/nginx.conf.j2', { worker_processes: 2 }), /^worker_processes 2;$/m);
    const site = renderFile('nginx', 'templates/site.conf.j2', { port: 8080 }, cluster);
    assert.match(site, /listen 8080 default_server;/);
    assert.match(site, /server_name _ shop\.example\.com;/);
    assert.match(site, /return 200 "ok web-01\\n";/);
    assert.match(renderFile('nginx', 'templates/site.conf.j2', { upstream: 'http://127.0.0.1:3000' }), /proxy_pass http:\/\/127\.0\.0\.1:3000;/);
  });

  it('haproxy: backends from settings or from the cluster component, health gated on a live backend', () => {
    const placed = renderFile('haproxy', 'templates/haproxy.cfg.j2', { backend_port: 8080 }, cluster);
    assert.match(placed, /^\s+server web-01 10\.20\.0\.11:8080$/m);
    assert.match(placed, /^\s+server web-02 10\.20\.0\.12:8080$/m);
    assert.match(placed, /nbsrv\(be_app\) lt 1/);
    const listed = renderFile('haproxy', 'templates/haproxy.cfg.j2', { backends: [{ name: 'api', address: '10.0.0.5', port: 3000 }], timeout_client: 30 });
    assert.match(listed, /^\s+server api 10\.0\.0\.5:3000$/m);
    assert.match(listed, /^\s+timeout client 30s$/m);
    const alone = renderFile('haproxy', 'templates/haproxy.cfg.j2');
    assert.doesNotMatch(alone, /^\s+server /m);
    assert.doesNotMatch(alone, /nbsrv/, 'without backends the health answer is 200');
  });

  it('etcd: single member on the listen address, a cluster of members by private address, quota in bytes', () => {
    const single = renderFile('etcd', 'templates/etcd.env.j2');
    assert.match(single, /^ETCD_INITIAL_CLUSTER="web-01=http:\/\/127\.0\.0\.1:2380"$/m);
    assert.match(single, /^ETCD_QUOTA_BACKEND_BYTES="2147483648"$/m);
    const three = renderFile('etcd', 'templates/etcd.env.j2', {}, { name: 'kv', settings: {}, members: { etcd: SERVERS } });
    assert.match(three, /^ETCD_INITIAL_CLUSTER="db-01=http:\/\/10\.20\.0\.21:2380,web-01=http:\/\/10\.20\.0\.11:2380,web-02=http:\/\/10\.20\.0\.12:2380"$/m);
    assert.match(three, /^ETCD_LISTEN_CLIENT_URLS="http:\/\/127\.0\.0\.1:2379,http:\/\/10\.20\.0\.11:2379"$/m);
  });

  it('containerd: CRI sandbox image, cgroup driver and mirrors', () => {
    const conf = renderFile('containerd', 'templates/config.toml.j2', { systemd_cgroup: false, registry_mirrors: ['https://mirror.example.com'] });
    assert.match(conf, /SystemdCgroup = false/);
    assert.match(conf, /sandbox_image = "registry\.k8s\.io\/pause:3\.9"/);
    assert.match(conf, /endpoint = \["https:\/\/mirror\.example\.com"\]/);
  });

  it('kubernetes: kubeadm config with the external etcd, containerd socket and no taint on a single node', () => {
    const conf = renderFile('kubernetes', 'templates/kubeadm-config.yaml.j2');
    assert.match(conf, /criSocket: unix:\/\/\/run\/containerd\/containerd\.sock/);
    assert.match(conf, /external:\n\s+endpoints:\n\s+- "http:\/\/127\.0\.0\.1:2379"/);
    assert.match(conf, /advertiseAddress: "10\.20\.0\.11"/);
    assert.match(conf, /taints: \[\]/);
    assert.doesNotMatch(renderFile('kubernetes', 'templates/kubeadm-config.yaml.j2', { schedule_on_control_plane: false }), /taints/);
  });

  it('node-exporter: listen address, bracketed IPv6, collectors', () => {
    assert.match(renderFile('node-exporter', 'templates/node-exporter.default.j2', { collectors_enabled: ['processes'], collectors_disabled: ['wifi'] }),
      /^ARGS="--web\.listen-address=0\.0\.0\.0:9100 --collector\.textfile\.directory=\/var\/lib\/prometheus\/node-exporter --collector\.processes --no-collector\.wifi"$/m);
    assert.match(renderFile('node-exporter', 'templates/node-exporter.default.j2', { listen_address: '::1' }), /--web\.listen-address=\[::1\]:9100/);
  });

  it('an undefined variable is a render error, not an empty string', () => {
    assert.throws(() => render('port {{ settings.nope }}', { settings: {} }), /undefined|null/);
  });
});
