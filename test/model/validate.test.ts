import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateInfra, validateWorkflow, validateManifest, assertValid } from '../../src/model/validate.js';
import { parseDefinitionText } from '../../src/model/load.js';
import type { Problem } from '../../src/model/problems.js';
import { ProvError } from '../../src/errors/index.js';

const infra = (servers: unknown[], extra: Record<string, unknown> = {}) => ({ name: 'shop', servers, ...extra });
const one = (errors: Problem[], code: string, path: string): Problem => {
  const hit = errors.find((e) => e.code === code && e.path === path);
  assert.ok(hit, `expected ${code} at ${path}, got ${JSON.stringify(errors, null, 1)}`);
  return hit;
};

test('a valid minimal infra passes and keeps its value', () => {
  const r = validateInfra(infra([{ hostname: 'web-01' }]));
  assert.deepEqual(r.errors, []);
  assert.equal(r.value?.servers[0]?.hostname, 'web-01');
});

test('bad names: uppercase, underscores, too long, leading digit, trailing hyphen — DEF_NAME with the corrected name as hint', () => {
  const cases: [string, string | undefined][] = [
    ['Web_01', 'web-01'], ['rook_ceph', 'rook-ceph'], ['WEB', 'web'], ['1web', 'web'], ['web-', 'web'], ['a'.repeat(64), 'a'.repeat(63)],
  ];
  const r = validateInfra(infra(cases.map(([h]) => ({ hostname: h }))));
  assert.equal(r.errors.length, cases.length);
  cases.forEach(([bad, fixed], i) => {
    const e = one(r.errors, 'DEF_NAME', `servers[${i}].hostname`);
    assert.equal(e.actual, JSON.stringify(bad.length > 60 ? `${bad.slice(0, 57)}...` : bad));
    assert.match(e.message, new RegExp(`^servers\\[${i}\\]\\.hostname: ".*" is not a valid name`));
    assert.equal(e.hint, `use "${fixed}"`);
  });
  assert.match(one(r.errors, 'DEF_NAME', 'servers[5].hostname').message, /at most 63 characters \(got 64\)/);
});

test('environment names are at most 32 characters', () => {
  const r = validateInfra(infra([], { environment: 'e'.repeat(33) }));
  one(r.errors, 'DEF_NAME', 'environment');
});

test('unknown keys are DEF_UNKNOWN_KEY with did-you-mean and the expected keys, at every level', () => {
  const r = validateInfra(infra([{ hostname: 'web-01', memroy: '4GiB', storage: [{ name: 'data', size: 10, mout: '/data' }], taskservs: [{ name: 'redis', versoin: '^7' }] }], { lables: {} }));
  const top = one(r.errors, 'DEF_UNKNOWN_KEY', 'lables');
  assert.equal(top.hint, 'did you mean `labels`?');
  assert.equal(top.message, 'unknown key `lables`');
  assert.match(top.expected, /^one of: name, description, environment/);
  assert.equal(one(r.errors, 'DEF_UNKNOWN_KEY', 'servers[0].memroy').hint, 'did you mean `memory`?');
  assert.equal(one(r.errors, 'DEF_UNKNOWN_KEY', 'servers[0].storage[0].mout').hint, 'did you mean `mount`?');
  const ref = one(r.errors, 'DEF_UNKNOWN_KEY', 'servers[0].taskservs[0].versoin');
  assert.equal(ref.hint, 'did you mean `version`?');
  assert.equal(ref.message, 'unknown key `versoin` in servers[0].taskservs[0]');
  assert.equal(r.errors.length, 4);
});

test('wrong types name the path, what was expected and what was found', () => {
  const r = validateInfra(infra([{ hostname: 'web-01' }, { hostname: 'web-02' }, { hostname: 'db-01', memory: 'lots', cores: 'two', protected: 'yes', taskservs: [3] }]));
  const mem = one(r.errors, 'DEF_TYPE', 'servers[2].memory');
  assert.equal(mem.message, 'servers[2].memory: expected a size such as "4GiB" or a number of MiB of 256MiB–4TiB, got "lots"');
  assert.equal(mem.actual, '"lots"');
  assert.equal(one(r.errors, 'DEF_TYPE', 'servers[2].cores').expected, 'an integer 1–512');
  assert.equal(one(r.errors, 'DEF_TYPE', 'servers[2].protected').expected, 'true or false');
  assert.match(one(r.errors, 'DEF_TYPE', 'servers[2].taskservs[0]').expected, /a taskserv name or a table/);
  assert.equal(r.errors.length, 4);
});

test('ranges, enums, patterns and required fields have their own codes', () => {
  const r = validateInfra(infra([{
    hostname: 'web-01', cores: 1024, memory: 128, disk: '1GiB',
    storage: [{ name: 'data', size: '10GiB', filesystem: 'btrfs', mount: 'data' }, { size: 5 }],
    network: { firewall: [{ protocol: 'tcp' }] },
  }], { network: { private_networks: [{ name: 'backend', cidr: '10.0.0.0/33' }] } }));
  assert.equal(one(r.errors, 'DEF_RANGE', 'servers[0].cores').expected, 'an integer 1–512');
  assert.equal(one(r.errors, 'DEF_RANGE', 'servers[0].memory').expected, 'a size of 256MiB–4TiB');
  one(r.errors, 'DEF_RANGE', 'servers[0].disk');
  assert.equal(one(r.errors, 'DEF_ENUM', 'servers[0].storage[0].filesystem').expected, 'one of "ext4", "xfs"');
  assert.equal(one(r.errors, 'DEF_PATTERN', 'servers[0].storage[0].mount').expected, 'an absolute path');
  const req = one(r.errors, 'DEF_REQUIRED', 'servers[0].storage[1].name');
  assert.match(req.message, /missing required field/);
  one(r.errors, 'DEF_REQUIRED', 'servers[0].network.firewall[0].port');
  one(r.errors, 'DEF_PATTERN', 'network.private_networks[0].cidr');
});

test('duplicate hostnames, taskservs, volumes, mounts and networks are DEF_DUPLICATE pointing at the first', () => {
  const r = validateInfra(infra([
    { hostname: 'web-01', taskservs: ['redis', { name: 'redis', version: '^7' }], storage: [{ name: 'a', size: 10, mount: '/d' }, { name: 'a', size: 10, mount: '/d' }] },
    { hostname: 'web-01' },
  ], { network: { private_networks: [{ name: 'n', cidr: '10.0.0.0/24' }, { name: 'n', cidr: '10.1.0.0/24' }] } }));
  assert.equal(one(r.errors, 'DEF_DUPLICATE', 'servers[1].hostname').message, 'servers[1].hostname: duplicate hostname "web-01" (first at servers[0].hostname)');
  assert.match(one(r.errors, 'DEF_DUPLICATE', 'servers[0].taskservs[1]').message, /duplicate taskserv on web-01 "redis"/);
  one(r.errors, 'DEF_DUPLICATE', 'servers[0].storage[1].name');
  one(r.errors, 'DEF_DUPLICATE', 'servers[0].storage[1].mount');
  one(r.errors, 'DEF_DUPLICATE', 'network.private_networks[1].name');
  assert.equal(r.errors.length, 5);
});

test('private network references, addresses and CIDR overlaps are checked', () => {
  const r = validateInfra(infra([
    { hostname: 'a', network: { private: [{ network: 'backend', ip: '10.20.0.5' }, { network: 'nope' }] } },
    { hostname: 'b', network: { private: [{ network: 'backend', ip: '10.20.0.5' }] } },
    { hostname: 'c', network: { private: [{ network: 'backend', ip: '10.99.0.1' }] } },
  ], { network: { private_networks: [{ name: 'backend', cidr: '10.20.0.0/24' }, { name: 'other', cidr: '10.20.0.128/25' }] } }));
  assert.match(one(r.errors, 'DEF_REFERENCE', 'servers[0].network.private[1].network').expected, /backend, other/);
  one(r.errors, 'DEF_DUPLICATE', 'servers[1].network.private[0].ip');
  one(r.errors, 'DEF_CONFLICT', 'servers[2].network.private[0].ip');
  one(r.errors, 'DEF_CONFLICT', 'network.private_networks[1].cidr');
});

test('reserved names and labels, and name vs directory', () => {
  const r = validateInfra({ name: 'shop', labels: { 'provisioning.io/infra': 'x', 'Bad Key': 'v', ok: 'spaces not allowed' }, servers: [{ hostname: 'localhost' }] }, { infraName: 'store' });
  one(r.errors, 'DEF_NAME', 'servers[0].hostname');
  one(r.errors, 'DEF_PATTERN', 'labels["provisioning.io/infra"]');
  one(r.errors, 'DEF_PATTERN', 'labels["Bad Key"]');
  one(r.errors, 'DEF_PATTERN', 'labels.ok');
  one(r.errors, 'DEF_CONFLICT', 'name');
});

test('clusters: inline components need taskserv and placement; references are checked', () => {
  const r = validateInfra(infra([{ hostname: 'web-01' }], {
    clusters: [
      { name: 'inline', components: [{ name: 'app', taskserv: 'nodejs-app', placement: { servers: ['web-09'] }, after: ['db'] }, { name: 'lb' }] },
      { name: 'inline' },
      { name: 'x', extension: 'web-stack', components: [{ name: 'app', placement: { labels: { role: 'web' }, cnt: 1 } }] },
    ],
  }));
  one(r.errors, 'DEF_REFERENCE', 'clusters[0].components[0].placement.servers[0]');
  one(r.errors, 'DEF_REFERENCE', 'clusters[0].components[0].after[0]');
  one(r.errors, 'DEF_REQUIRED', 'clusters[0].components[1].taskserv');
  one(r.errors, 'DEF_REQUIRED', 'clusters[0].components[1].placement');
  one(r.errors, 'DEF_DUPLICATE', 'clusters[1].name');
  one(r.errors, 'DEF_REQUIRED', 'clusters[1].extension');
  assert.equal(one(r.errors, 'DEF_UNKNOWN_KEY', 'clusters[2].components[0].placement.cnt').hint, 'did you mean `count`?');
});

test('several errors are reported together and thrown as one DEFINITION_INVALID (exit 3)', () => {
  const src = `name = "shop"\n\n[[servers]]\nhostname = "Web_01"\nmemory = "lots"\n\n[[servers]]\nhostname = "web-01"\nzone = 5\nfoo = 1\n\n[[servers]]\nhostname = "web-01"\n`;
  const def = parseDefinitionText(src, 'toml', 'infra/shop/settings.toml');
  const r = validateInfra(def.data, { file: def.file, locate: def.locate });
  assert.deepEqual(r.errors.map((e) => [e.code, e.path, e.line, e.column]), [
    ['DEF_NAME', 'servers[0].hostname', 4, 12],
    ['DEF_TYPE', 'servers[0].memory', 5, 10],
    ['DEF_TYPE', 'servers[1].zone', 9, 8],
    ['DEF_UNKNOWN_KEY', 'servers[1].foo', 10, 1],
    ['DEF_DUPLICATE', 'servers[2].hostname', 13, 12],
  ]);
  assert.ok(r.errors.every((e) => e.file === 'infra/shop/settings.toml'));
  assert.throws(() => assertValid(r), (e: unknown) => {
    assert.ok(e instanceof ProvError);
    assert.equal(e.code, 'DEFINITION_INVALID');
    assert.equal(e.exitCode, 3);
    assert.equal(e.message, '5 errors in definitions');
    assert.equal((e.details.errors as Problem[]).length, 5);
    assert.deepEqual(e.details.warnings, []);
    return true;
  });
});

test('problem objects have the documented key order and no internal fields', () => {
  const r = validateInfra(infra([{ hostname: 'web-01', memory: 'lots' }]), { file: 'f.toml', locate: () => ({ line: 3, column: 10 }) });
  assert.deepEqual(Object.keys(r.errors[0]!), ['code', 'message', 'file', 'line', 'column', 'path', 'expected', 'actual']);
});

// ── workflows ───────────────────────────────────────────────────────────────────

const wf = (operations: unknown[]) => ({ name: 'rollout', operations });

test('workflow: alternative spellings are accepted as the canonical form', () => {
  const r = validateWorkflow(wf([
    { id: 'db', type: 'server.create', servers: ['db-01'] },
    { id: 'pg', type: 'taskserv.create', taskserv: 'postgres', servers: ['db-01'], depends_on: ['db'], timeout_s: 1800 },
    { id: 'stack', type: 'cluster_create', cluster: 'storefront', dependencies: ['pg'] },
  ]));
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.value!.operations[0], { id: 'db', type: 'server_create', target: { servers: ['db-01'] } });
  assert.deepEqual(r.value!.operations[1], { id: 'pg', type: 'taskserv_create', target: { taskserv: 'postgres', servers: ['db-01'] }, dependencies: ['db'], timeout: 1800 });
  assert.deepEqual(r.value!.operations[2]!.target, { cluster: 'storefront' });
});

test('workflow: duplicate ids, unknown and self references, cycles over both edge kinds', () => {
  const r = validateWorkflow(wf([
    { id: 'a', type: 'script', target: { run: 'x' }, dependencies: ['b'] },
    { id: 'b', type: 'script', target: { run: 'x' }, after: ['a'] },
    { id: 'c', type: 'script', target: { run: 'x' }, dependencies: ['c', 'zz'] },
    { id: 'c', type: 'script', target: { run: 'x' } },
  ]));
  one(r.errors, 'DEF_DUPLICATE', 'operations[3].id');
  assert.match(one(r.errors, 'DEF_REFERENCE', 'operations[2].dependencies[0]').message, /cannot depend on itself/);
  one(r.errors, 'DEF_REFERENCE', 'operations[2].dependencies[1]');
  assert.equal(one(r.errors, 'DEF_CYCLE', 'operations[0]').message, 'dependency cycle: a → b → a');
});

test('workflow: an unknown type is DEF_ENUM, a wrong target shape names the expected one', () => {
  const r = validateWorkflow(wf([
    { id: 'a', type: 'server_explode', target: 'x' },
    { id: 'b', type: 'server_create', target: 5 },
    { id: 'Bad_Id', type: 'script', target: { run: 'x', on: 'remote' } },
  ]));
  assert.match(one(r.errors, 'DEF_ENUM', 'operations[0].type').expected, /"server_create"/);
  assert.match(one(r.errors, 'DEF_TYPE', 'operations[1].target').expected, /a hostname, a list of hostnames/);
  assert.equal(one(r.errors, 'DEF_NAME', 'operations[2].id').hint, 'use "bad_id"');
  one(r.errors, 'DEF_TYPE', 'operations[2].target.on');
});

test('workflow: at least one operation', () => {
  one(validateWorkflow(wf([])).errors, 'DEF_RANGE', 'operations');
});

// ── manifests ───────────────────────────────────────────────────────────────────

test('manifests: kind-specific schemas, path escapes and checks', () => {
  const ok = validateManifest({
    extension: { name: 'redis', kind: 'taskserv', version: '1.2.0', category: 'database' },
    compatibility: { provisioning: '>=0.1', os: ['ubuntu>=22.04', 'debian>=12'] },
    dependencies: { requires: { os: '>=1.0' }, optional: { 'node-exporter': { version: '>=1.6', scope: 'server' } }, conflicts: { keydb: '*' }, provides: ['kv-store'] },
    resources: { cores: 1, memory: '512MiB', ports: [6379] },
    settings: { port: { type: 'integer', default: 6379, min: 1024, max: 65535 }, password: { type: 'secret', required: true } },
    profiles: { production: { maxmemory: '2GiB' } },
    templates: [{ source: 'templates/redis.conf.j2', target: '/etc/redis/redis.conf', mode: '0640' }],
    scripts: { install: { run: 'scripts/install.sh', timeout: '10m' }, check: { inline: 'exit 0' } },
    readiness: [{ kind: 'tcp', port: '{{ settings.port }}', retries: 30 }],
    smoke: [{ name: 'set-get', kind: 'command', command: 'redis-cli ping', expect_output: '^PONG$' }],
  });
  assert.deepEqual(ok.errors, []);
  const bad = validateManifest({
    extension: { name: 'redis', kind: 'taskserv', version: '1.2' },
    templates: [{ source: '../../etc/passwd', target: '/x' }],
    scripts: { install: { run: '/bin/sh' }, start: {} },
    readiness: [{ kind: 'ping' }, { kind: 'http' }],
    settings: { port: { type: 'int' }, pw: { type: 'secret', required: true, default: 'x' } },
  });
  one(bad.errors, 'DEF_PATTERN', 'extension.version');
  assert.match(one(bad.errors, 'DEF_PATTERN', 'templates[0].source').hint!, /\.\./);
  one(bad.errors, 'DEF_PATTERN', 'scripts.install.run');
  one(bad.errors, 'DEF_REQUIRED', 'scripts.start.run');
  one(bad.errors, 'DEF_ENUM', 'readiness[0].kind');
  one(bad.errors, 'DEF_REQUIRED', 'readiness[1].url');
  one(bad.errors, 'DEF_ENUM', 'settings.port.type');
  one(bad.errors, 'DEF_CONFLICT', 'settings.pw.default');
});

test('manifests: provider and cluster kinds; an unknown kind is DEF_ENUM', () => {
  const provider = validateManifest({
    extension: { name: 'upcloud', kind: 'provider', version: '1.0.0' },
    provider: { entry: 'dist/index.js', interface: 1, transport: 'ssh' },
    capabilities: { custom_plans: true, resize: true, storage: true },
    config: { username: { type: 'string', required: true }, zone: { type: 'string', default: 'de-fra1' } },
    server_settings: { backup_rule: { type: 'string', enum: ['none', 'daily'], default: 'none' } },
    catalog: { zones: ['de-fra1'] },
    pricing: { currency: 'EUR', source: 'static', plans: [{ name: '1xCPU-2GB', cores: 1, memory: '2GiB', disk: '50GiB', hourly: 0.011, monthly: 7.5 }] },
  });
  assert.deepEqual(provider.errors, []);
  const caps = validateManifest({ extension: { name: 'p', kind: 'provider', version: '1.0.0' }, provider: { entry: 'x.js', interface: 1 }, capabilities: { gpus: true } });
  one(caps.errors, 'DEF_UNKNOWN_KEY', 'capabilities.gpus');
  const cluster = validateManifest({
    extension: { name: 'web-stack', kind: 'cluster', version: '1.0.0' },
    settings: { domain: { type: 'string', required: true } },
    cluster: { components: [{ name: 'db', taskserv: 'postgres', version: '^2', placement: { labels: { role: 'db' }, count: 1 } }, { name: 'lb', taskserv: 'haproxy', placement: { all: true }, after: ['db'] }] },
  });
  assert.deepEqual(cluster.errors, []);
  one(validateManifest({ extension: { name: 'x', kind: 'widget', version: '1.0.0' } }).errors, 'DEF_ENUM', 'extension.kind');
});
