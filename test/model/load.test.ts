import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../fixtures/cli.js';
import { loadDefinition, parseDefinitionText, stringLeaves } from '../../src/model/load.js';
import { validateInfra, validateWorkflow } from '../../src/model/validate.js';
import { findInfraSettings, listInfras, loadInfra } from '../../src/model/discover.js';
import { resolveServers } from '../../src/model/resolve.js';
import { checksum } from '../../src/model/canonical.js';
import { tsLoaderStats } from '../../src/model/ts-load.js';
import { ProvError } from '../../src/errors/index.js';
import type { Problem } from '../../src/model/problems.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'defs');
const home = mkdtempSync(join(tmpdir(), 'prov-model-'));
const env = { PROVISIONING_HOME: join(home, 'prov') };
const ctx = { workspace: 'demo', infra: 'shop', environment: 'prod' };

function dir(name: string, files: Record<string, string>): string {
  const d = join(home, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) { mkdirSync(join(d, f, '..'), { recursive: true }); writeFileSync(join(d, f), text); }
  return d;
}

/** The problems of a DEFINITION_INVALID thrown by `fn`. */
async function problems(fn: () => Promise<unknown>): Promise<Problem[]> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof ProvError, String(e));
    assert.equal(e.code, 'DEFINITION_INVALID', e.message);
    assert.equal(e.exitCode, 3);
    return e.details.errors as Problem[];
  }
  assert.fail('expected DEFINITION_INVALID');
}

const IMPORT = `import { defineInfra, secret, type Server } from 'provisioning';\n`;

test('the spec shop example in TypeScript and TOML resolves to identical servers', async () => {
  const ts = await loadDefinition(join(FIXTURES, 'shop', 'settings.ts'), { env, context: ctx });
  const toml = await loadDefinition(join(FIXTURES, 'shop', 'settings.toml'), { env });
  const a = validateInfra(ts.data, { infraName: 'shop' });
  const b = validateInfra(toml.data, { infraName: 'shop' });
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  assert.deepEqual(ts.data, toml.data);
  const opts = { defaultProvider: 'upcloud', providers: { upcloud: { zone: 'fi-hel1', plan: '1xCPU-2GB', image: 'debian-12' }, aws: { image: 'ubuntu-24.04' } } };
  const ra = resolveServers(a.value!, opts);
  const rb = resolveServers(b.value!, opts);
  assert.deepEqual(ra, rb);
  assert.deepEqual(ra.map((s) => checksum(s)), rb.map((s) => checksum(s)));
  const [web1, , db, edge] = ra;
  assert.equal(web1!.zone, 'de-fra1');
  assert.equal(web1!.disk_gb, 40);
  assert.equal(web1!.fqdn, 'web-01.shop.internal');
  assert.deepEqual(web1!.labels, { team: 'storefront', role: 'web' });
  assert.deepEqual(web1!.network.firewall, [
    { direction: 'in', protocol: 'tcp', port: 22, source: '203.0.113.0/24', action: 'allow', description: 'office SSH' },
    { direction: 'in', protocol: 'tcp', port: 443, source: '0.0.0.0/0', action: 'allow' },
  ]);
  assert.equal(db!.storage[0]!.size_gb, 100);
  assert.equal(db!.taskservs[0]!.settings!.password, '{{kms.decrypt("shop/postgres-admin")}}');
  assert.equal(edge!.provider, 'aws');
  assert.equal(edge!.zone, 'eu-central-1');
  assert.equal(edge!.plan, 't3.small');
  assert.equal(edge!.image, 'ubuntu-24.04');
});

test('the spec rollout workflow loads from TypeScript', async () => {
  const wf = await loadDefinition(join(FIXTURES, 'rollout.ts'), { env, kind: 'workflow' });
  const r = validateWorkflow(wf.data);
  assert.deepEqual(r.errors, []);
  assert.equal(r.value!.operations.length, 8);
  const asInfra = await problems(() => loadDefinition(join(FIXTURES, 'rollout.ts'), { env, kind: 'infra' }));
  assert.match(asInfra[0]!.message, /the default export must be defineInfra\(…\), got defineWorkflow\(…\)/);
});

test('malformed TOML, YAML and JSON are DEF_PARSE with the line', async () => {
  const d = dir('malformed', {
    'a.toml': 'name = "x"\nservers = [\n  { hostname = "a" ,, },\n]\n',
    'b.yaml': 'name: x\nservers:\n  - hostname: a\n   bad: indent\n',
    'c.json': '{\n  "name": "x",\n  "servers": [\n    { "hostname": "a", }\n  ]\n}\n',
    'd.yml': 'name: x\nname: y\nservers: []\n',
  });
  const cases: [string, number][] = [['a.toml', 3], ['b.yaml', 4], ['c.json', 4], ['d.yml', 2]];
  for (const [f, line] of cases) {
    const [p] = await problems(() => loadDefinition(join(d, f), { displayPath: `infra/x/${f}` }));
    assert.equal(p!.code, 'DEF_PARSE', f);
    assert.equal(p!.file, `infra/x/${f}`);
    assert.equal(p!.line, line, `${f}: ${p!.message}`);
    assert.ok(p!.column! >= 1);
    assert.match(p!.message, /^invalid (TOML|YAML|JSON): /);
  }
});

test('YAML and JSON problems carry line and column of the value (of the key for unknown keys)', () => {
  const yaml = parseDefinitionText('name: shop\nservers:\n  - hostname: web-01\n    memory: lots\n    colour: red\n', 'yaml', 's.yaml');
  const ry = validateInfra(yaml.data, { file: 's.yaml', locate: yaml.locate });
  assert.deepEqual(ry.errors.map((e) => [e.code, e.path, e.line, e.column]), [['DEF_TYPE', 'servers[0].memory', 4, 13], ['DEF_UNKNOWN_KEY', 'servers[0].colour', 5, 5]]);
  const json = parseDefinitionText('{\n  "servers": [\n    {"hostname": "Web_01"}\n  ]\n}', 'json', 's.json');
  const rj = validateInfra(json.data, { file: 's.json', locate: json.locate });
  assert.deepEqual(rj.errors.map((e) => [e.code, e.path, e.line, e.column, e.hint]), [['DEF_NAME', 'servers[0].hostname', 3, 18, 'use "web-01"']]);
});

test('string leaves are enumerated with positions (for placeholder resolution)', () => {
  const def = parseDefinitionText('name = "shop"\n[[servers]]\nhostname = "web-01"\nzone = "{{ env.ZONE }}"\n', 'toml', 's.toml');
  assert.deepEqual(stringLeaves(def, /\{\{/), [{ at: ['servers', 0, 'zone'], path: 'servers[0].zone', value: '{{ env.ZONE }}', line: 4, column: 8 }]);
  assert.equal(stringLeaves(def).length, 3);
});

test('a TypeScript definition that throws is DEF_PARSE naming the file, the message and the line', async () => {
  const d = dir('throws', { 'settings.ts': `${IMPORT}\nconst servers: Server[] = [];\nif (servers.length === 0) {\n  throw new Error('no servers configured');\n}\nexport default defineInfra({ servers });\n` });
  const [p] = await problems(() => loadDefinition(join(d, 'settings.ts'), { env, displayPath: 'infra/throws/settings.ts' }));
  assert.equal(p!.code, 'DEF_PARSE');
  assert.equal(p!.message, 'infra/throws/settings.ts: the definition threw: no servers configured');
  assert.equal(p!.file, 'infra/throws/settings.ts');
  assert.equal(p!.line, 5);
});

test('a TypeScript definition that does not type-check is DEF_TYPE with file:line:col and the path', async () => {
  const d = dir('typeerr', { 'settings.ts': `${IMPORT}\nexport default defineInfra({\n  servers: [\n    { hostname: 'web-01', cores: 'two' },\n  ],\n});\n` });
  const errs = await problems(() => loadDefinition(join(d, 'settings.ts'), { env, displayPath: 'infra/t/settings.ts' }));
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.code, 'DEF_TYPE');
  assert.equal(errs[0]!.file, 'infra/t/settings.ts');
  assert.equal(errs[0]!.line, 5);
  assert.equal(errs[0]!.column, 27);
  assert.equal(errs[0]!.path, 'servers[0].cores');
  assert.match(errs[0]!.message, /^servers\[0\]\.cores: type error: Type 'string' is not assignable to type 'number'/);
  // Nothing was cached for a file that failed the check.
  const failed = await problems(() => loadDefinition(join(d, 'settings.ts'), { env }));
  assert.equal(failed[0]!.code, 'DEF_TYPE');
});

test('an unknown key in a TypeScript literal is a type error too', async () => {
  const d = dir('excess', { 'settings.ts': `${IMPORT}export default defineInfra({ servers: [], lables: {} });\n` });
  const [p] = await problems(() => loadDefinition(join(d, 'settings.ts'), { env }));
  assert.equal(p!.code, 'DEF_TYPE');
  assert.match(p!.message, /lables/);
  assert.equal(p!.line, 2);
});

test('exports that are not data: a bare function, a class instance, NaN', async () => {
  const d = dir('notdata', {
    'fn.ts': `export default () => ({ servers: [] });\n`,
    'cls.ts': `${IMPORT}class Disk { constructor(public size: number) {} }\nexport default defineInfra({\n  servers: [\n    { hostname: 'a', provider_settings: { disk: new Disk(10) } },\n  ],\n});\n`,
    'nan.ts': `${IMPORT}export default defineInfra(() => ({\n  servers: [{ hostname: 'a', cores: Number('x') }],\n}));\n`,
    'helper.ts': `${IMPORT}export default defineInfra({ servers: [], description: (() => 'x') as unknown as string });\n`,
  });
  const [fn] = await problems(() => loadDefinition(join(d, 'fn.ts'), { env, displayPath: 'fn.ts' }));
  assert.equal(fn!.code, 'DEF_TYPE');
  assert.equal(fn!.message, 'fn.ts: the default export must be defineInfra(…), got a function');
  const [cls] = await problems(() => loadDefinition(join(d, 'cls.ts'), { env, displayPath: 'cls.ts' }));
  assert.equal(cls!.code, 'DEF_TYPE');
  assert.equal(cls!.path, 'servers[0].provider_settings.disk');
  assert.equal(cls!.message, 'servers[0].provider_settings.disk: expected plain data, got an instance of Disk');
  assert.equal(cls!.line, 5);
  const [nan] = await problems(() => loadDefinition(join(d, 'nan.ts'), { env }));
  assert.equal(nan!.path, 'servers[0].cores');
  assert.equal(nan!.actual, 'NaN');
  assert.equal(nan!.line, 3);
  const [helper] = await problems(() => loadDefinition(join(d, 'helper.ts'), { env }));
  assert.equal(helper!.path, 'description');
  assert.match(helper!.message, /got a function/);
});

test('TypeScript: relative imports, the context function, process.env; validation problems point into the literal', async () => {
  const d = dir('rel', {
    'lib/servers.ts': `import type { Server } from 'provisioning';\nexport const web = (n: number): Server => ({ hostname: \`web-0\${n}\`, labels: { role: 'web' } });\n`,
    'settings.ts': `${IMPORT}import { web } from './lib/servers.ts';\nexport default defineInfra((ctx) => ({\n  name: ctx.infra,\n  environment: ctx.environment,\n  description: process.env.SHOP_DESC,\n  servers: [web(1), web(2), { hostname: 'Db_01' }],\n}));\n`,
  });
  const def = await loadDefinition(join(d, 'settings.ts'), { env: { ...env, SHOP_DESC: 'from env' }, context: ctx, displayPath: 'infra/shop/settings.ts' });
  assert.deepEqual(def.data, {
    name: 'shop', environment: 'prod', description: 'from env',
    servers: [{ hostname: 'web-01', labels: { role: 'web' } }, { hostname: 'web-02', labels: { role: 'web' } }, { hostname: 'Db_01' }],
  });
  const r = validateInfra(def.data, { file: def.file, locate: def.locate });
  assert.deepEqual(r.errors.map((e) => [e.code, e.path, e.line, e.column]), [['DEF_NAME', 'servers[2].hostname', 7, 41]]);
});

test('TypeScript: compiled once per content; a cache hit does not type-check; an imported file change does', async () => {
  const d = dir('cache', {
    'common.ts': `export const zone = 'de-fra1';\n`,
    'settings.ts': `${IMPORT}import { zone } from './common.js';\nexport default defineInfra({ servers: [{ hostname: 'a', zone }] });\n`,
  });
  const cacheRoot = join(env.PROVISIONING_HOME, 'cache', 'definitions');
  const before = { ...tsLoaderStats };
  const first = await loadDefinition(join(d, 'settings.ts'), { env });
  assert.equal(tsLoaderStats.typeChecks, before.typeChecks + 1);
  const entries = readdirSync(cacheRoot);
  const second = await loadDefinition(join(d, 'settings.ts'), { env });
  assert.equal(tsLoaderStats.typeChecks, before.typeChecks + 1, 'second load must not type-check');
  assert.equal(tsLoaderStats.cacheHits, before.cacheHits + 1);
  assert.deepEqual(second.data, first.data);
  assert.deepEqual(readdirSync(cacheRoot), entries, 'no new cache entry');
  assert.ok(entries.some((e) => existsSync(join(cacheRoot, e, 'settings.mjs')) && existsSync(join(cacheRoot, e, 'common.mjs'))));
  writeFileSync(join(d, 'common.ts'), `export const zone = 'fi-hel1';\n`);
  const third = await loadDefinition(join(d, 'settings.ts'), { env });
  assert.equal(tsLoaderStats.typeChecks, before.typeChecks + 2);
  assert.deepEqual(third.data, { servers: [{ hostname: 'a', zone: 'fi-hel1' }] });
});

test('TypeScript: evaluation has a time limit', async () => {
  const d = dir('loop', { 'settings.ts': `${IMPORT}while (Date.now() > 0) { /* spin */ }\nexport default defineInfra({ servers: [] });\n` });
  const [p] = await problems(() => loadDefinition(join(d, 'settings.ts'), { env, timeoutMs: 300, displayPath: 'loop.ts' }));
  assert.equal(p!.code, 'DEF_PARSE');
  assert.equal(p!.message, 'loop.ts: evaluation did not finish within 0.3 s');
});

test('secret() rejects a malformed name when the definition runs', async () => {
  const d = dir('secret', { 'settings.ts': `${IMPORT}export default defineInfra({ servers: [], description: secret('Bad Name') });\n` });
  const [p] = await problems(() => loadDefinition(join(d, 'settings.ts'), { env }));
  assert.equal(p!.code, 'DEF_PARSE');
  assert.match(p!.message, /secret\("Bad Name"\): a secret name is/);
});

test('infra discovery: one settings file per infra, two is DEF_AMBIGUOUS, --settings overrides', async () => {
  const ws = dir('ws', {
    'infra/shop/settings.toml': 'servers = [{ hostname = "web-01" }]\n',
    'infra/both/settings.ts': `${IMPORT}export default defineInfra({ servers: [] });\n`,
    'infra/both/settings.toml': 'servers = []\n',
    'infra/empty/README.md': '',
    'other.yaml': 'servers:\n  - hostname: x-01\n',
    'infra/named/settings.json': '{ "name": "other", "servers": [] }',
  });
  assert.equal(findInfraSettings(join(ws, 'infra', 'shop')), join(ws, 'infra', 'shop', 'settings.toml'));
  const [amb] = await problems(async () => findInfraSettings(join(ws, 'infra', 'both'), 'infra/both'));
  assert.equal(amb!.code, 'DEF_AMBIGUOUS');
  assert.equal(amb!.message, 'infra/both has 2 settings files: settings.ts, settings.toml');
  const [amb2] = await problems(() => loadInfra({ workspaceRoot: ws, infra: 'both', env }));
  assert.equal(amb2!.code, 'DEF_AMBIGUOUS');
  assert.throws(() => findInfraSettings(join(ws, 'infra', 'empty')), (e: unknown) => e instanceof ProvError && e.code === 'NOT_FOUND');

  const list = await listInfras(ws);
  assert.deepEqual(list.map((i) => [i.name, i.settings !== undefined, i.problem?.code]), [
    ['both', false, 'DEF_AMBIGUOUS'], ['empty', false, 'DEF_REQUIRED'], ['named', true, undefined], ['shop', true, undefined],
  ]);
  const shop = await loadInfra({ workspaceRoot: ws, infra: 'shop', env });
  assert.equal(shop.file, join('infra', 'shop', 'settings.toml'));
  assert.equal(shop.name, 'shop');
  const other = await loadInfra({ workspaceRoot: ws, settingsFile: join(ws, 'other.yaml'), infra: 'shop', env });
  assert.equal(other.settings.servers[0]!.hostname, 'x-01');
  const [named] = await problems(() => loadInfra({ workspaceRoot: ws, infra: 'named', env }));
  assert.equal(named!.code, 'DEF_CONFLICT');
  assert.equal(named!.file, join('infra', 'named', 'settings.json'));
  assert.equal(named!.line, 1);
});

test('the shop fixtures can be copied into a workspace and loaded by name', async () => {
  const ws = join(home, 'ws-shop');
  cpSync(join(FIXTURES, 'shop'), join(ws, 'infra', 'shop'), { recursive: true });
  const [amb] = await problems(() => loadInfra({ workspaceRoot: ws, infra: 'shop', env }));
  assert.equal(amb!.code, 'DEF_AMBIGUOUS');
  const viaTs = await loadInfra({ workspaceRoot: ws, infra: 'shop', settingsFile: join(ws, 'infra', 'shop', 'settings.ts'), env, context: ctx });
  assert.equal(viaTs.settings.servers.length, 4);
});
