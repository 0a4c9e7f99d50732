import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveServers, deepMerge } from '../../src/model/resolve.js';
import { canonicalSpec, checksum, secretValues } from '../../src/model/canonical.js';
import { validateInfra, assertValid } from '../../src/model/validate.js';
import { parseDefinitionText } from '../../src/model/load.js';
import { jsonSchemaFor, SCHEMA_KINDS } from '../../src/model/json-schema.js';
import { parseDuration, parseSize } from '../../src/model/scalars.js';
import type { InfraSettings } from '../../src/model/schema.js';

const infra = (v: unknown): InfraSettings => assertValid(validateInfra(v));

test('resolution order: provider config → infra.defaults → provider_defaults → server; tables merge, arrays replace', () => {
  const [a, b, c] = resolveServers(infra({
    provider: 'upcloud',
    labels: { team: 't', tier: 'x' },
    defaults: { zone: 'de-fra1', labels: { tier: 'default' }, taskservs: ['containerd'], ssh: { user: 'admin' }, provider_settings: { backup: { rule: 'daily', keep: 7 } } },
    provider_defaults: { upcloud: { image: 'ubuntu-24.04', provider_settings: { backup: { keep: 3 } } }, aws: { zone: 'eu-central-1', plan: 't3.small' } },
    ssh: { port: 2222 },
    servers: [
      { hostname: 'a' },
      { hostname: 'b', provider: 'aws', taskservs: ['redis'], labels: { tier: 'cache' }, ssh: { user: 'ubuntu' } },
      { hostname: 'c', cores: 2, memory: 4096, zone: 'fi-hel1' },
    ],
  }), { defaultProvider: 'local', providers: { upcloud: { zone: 'nl-ams1', plan: '1xCPU-2GB', image: 'debian-12' }, aws: { image: 'ami-1' } } });
  assert.equal(a!.provider, 'upcloud');
  assert.equal(a!.zone, 'de-fra1');
  assert.equal(a!.plan, '1xCPU-2GB');
  assert.equal(a!.image, 'ubuntu-24.04');
  assert.deepEqual(a!.labels, { team: 't', tier: 'default' });
  assert.deepEqual(a!.taskservs, [{ name: 'containerd', enabled: true }]);
  assert.deepEqual(a!.provider_settings, { backup: { rule: 'daily', keep: 3 } });
  assert.deepEqual(a!.ssh, { port: 2222, user: 'admin' });
  assert.equal(b!.provider, 'aws');
  assert.equal(b!.zone, 'eu-central-1');
  assert.equal(b!.plan, 't3.small');
  assert.equal(b!.image, 'ami-1');
  assert.deepEqual(b!.labels, { team: 't', tier: 'cache' });
  assert.deepEqual(b!.taskservs, [{ name: 'redis', enabled: true }], 'arrays are replaced, not merged');
  assert.deepEqual(b!.ssh, { port: 2222, user: 'ubuntu' });
  assert.equal(c!.plan, undefined, 'the config plan does not apply to a server sized by cores/memory');
  assert.equal(c!.cores, 2);
  assert.equal(c!.memory_mb, 4096);
  assert.equal(c!.zone, 'fi-hel1');
});

test('resolution defaults: disk 20GiB (or the plan disk), UTC, 10m, IPv4 only, allow tcp/22', () => {
  const [s, t] = resolveServers(infra({ servers: [{ hostname: 's' }, { hostname: 't', plan: 'big', memory: '8GiB', disk: 100, running_timeout: '1h', storage: [{ name: 'v', size: '512GiB' }] }] }),
    { defaultProvider: 'local', planDisk: (p, plan) => (plan === 'big' ? 80 : undefined) });
  assert.deepEqual(s, {
    hostname: 's', fqdn: 's', provider: 'local', disk_gb: 20, labels: {}, storage: [],
    network: { public_ipv4: true, public_ipv6: false, private: [], firewall: [{ direction: 'in', protocol: 'tcp', port: 22, source: '0.0.0.0/0', action: 'allow' }] },
    ssh: {}, taskservs: [], protected: false, time_zone: 'UTC', running_timeout_s: 600,
  });
  assert.equal(t!.disk_gb, 100);
  assert.equal(t!.memory_mb, 8192);
  assert.equal(t!.running_timeout_s, 3600);
  assert.deepEqual(t!.storage, [{ name: 'v', size_gb: 512, filesystem: 'ext4', encrypted: false, keep_on_delete: false }]);
  const [u] = resolveServers(infra({ servers: [{ hostname: 'u', plan: 'big' }] }), { defaultProvider: 'x', planDisk: () => 80 });
  assert.equal(u!.disk_gb, 80);
});

test('deepMerge merges tables and replaces arrays and scalars', () => {
  assert.deepEqual(deepMerge<Record<string, unknown>>({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3], e: 2 } }, undefined, { d: 2 }), { a: { b: 1, c: [3], e: 2 }, d: 2 });
});

test('sizes and durations', () => {
  assert.equal(parseSize('4GiB'), 4096);
  assert.equal(parseSize(40, 'GiB'), 40960);
  assert.equal(parseSize('10GB'), 1e10 / 1048576);
  assert.equal(parseSize('lots'), undefined);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('500ms'), 0.5);
  assert.equal(parseDuration('7d'), 604800);
  assert.equal(parseDuration(30), 30);
  assert.equal(parseDuration('soon'), undefined);
});

test('canonical spec: key order and secret values do not change the checksum; data does', () => {
  const a = { b: 1, a: { y: [1, 2], x: '{{kms.decrypt("shop/a")}}' }, gone: undefined };
  const b = { a: { x: '{{kms.decrypt("shop/other")}}', y: [1, 2] }, b: 1 };
  assert.deepEqual(canonicalSpec(a), { a: { x: '<secret>', y: [1, 2] }, b: 1 });
  assert.equal(JSON.stringify(canonicalSpec(a)), '{"a":{"x":"<secret>","y":[1,2]},"b":1}');
  assert.equal(checksum(a), checksum(b));
  assert.match(checksum(a), /^sha256:[0-9a-f]{64}$/);
  assert.notEqual(checksum(a), checksum({ ...b, b: 2 }));
  assert.notEqual(checksum({ y: [1, 2] }), checksum({ y: [2, 1] }), 'array order matters');
  assert.equal(checksum({ p: 'ENC[AES256,aaa]' }), checksum({ p: 'ENC[AES256,bbb]' }));
  assert.equal(checksum({ s: { pw: 'plain-1' } }, { secretPaths: ['s.pw'] }), checksum({ s: { pw: 'plain-2' } }, { secretPaths: ['s.pw'] }));
  assert.deepEqual(secretValues(a), [{ path: 'a.x', value: '{{kms.decrypt("shop/a")}}' }]);
  assert.throws(() => canonicalSpec({ a: [NaN] }), /a\[0\]: NaN has no canonical form/);
});

test('canonical spec of resolved servers: "4GiB" and 4096 are the same desired state', () => {
  const one = resolveServers(infra({ servers: [{ hostname: 'a', memory: '4GiB', disk: '40GiB', running_timeout: '10m' }] }))[0];
  const two = resolveServers(infra({ servers: [{ running_timeout: 600, disk: 40, memory: 4096, hostname: 'a' }] }))[0];
  assert.equal(checksum(one), checksum(two));
});

test('JSON Schema export for every kind', () => {
  for (const kind of SCHEMA_KINDS) {
    const s = jsonSchemaFor(kind);
    assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema', kind);
    assert.equal(s.$id, `https://provisioning.dev/schemas/${kind}.json`);
    assert.ok(JSON.stringify(s).length > 200, kind);
  }
  const infraSchema = jsonSchemaFor('infra') as { properties: Record<string, { items?: { properties: Record<string, { description?: string }>; additionalProperties?: boolean } }>; required: string[] };
  assert.deepEqual(infraSchema.required, ['servers']);
  const server = infraSchema.properties.servers!.items!;
  assert.equal(server.additionalProperties, false);
  assert.match(server.properties.memory!.description!, /a size such as "4GiB"/);
});

test('1,000 servers × 5 taskservs: parse, validate, resolve and checksum every server (timing lives in bench/plan)', () => {
  let toml = 'name = "big"\nprovider = "upcloud"\n[network]\nprivate_networks = [{ name = "backend", cidr = "10.0.0.0/16" }]\n';
  for (let i = 0; i < 1000; i++) {
    toml += `[[servers]]\nhostname = "node-${i}"\nplan = "2xCPU-4GB"\nlabels = { role = "web" }\nstorage = [{ name = "data", size = "20GiB", mount = "/data" }]\n`
      + `network = { private = [{ network = "backend", ip = "10.0.${i >> 8}.${i & 255}" }] }\n`
      + `taskservs = ["containerd", "node-exporter", { name = "nginx", settings = { worker_processes = 2 } }, "redis", "haproxy"]\n`;
  }
  const def = parseDefinitionText(toml, 'toml', 'big.toml');
  const r = validateInfra(def.data);
  assert.deepEqual(r.errors, []);
  const servers = resolveServers(r.value!, {});
  const sums = new Set(servers.map((s) => checksum(s)));
  assert.equal(sums.size, 1000);
  // A broken file of the same size reports each problem once, with positions.
  const bad = toml.replace(/hostname = "node-(\d+)"/g, (_m, n: string) => `hostname = "Node_${n}"`);
  const badDef = parseDefinitionText(bad, 'toml', 'big.toml');
  const rb = validateInfra(badDef.data, { file: 'big.toml', locate: badDef.locate });
  assert.equal(rb.errors.length, 1000);
  assert.equal(rb.errors[999]!.line, 4 + 999 * 7 + 2);
});
