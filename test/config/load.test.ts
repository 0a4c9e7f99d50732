import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, type LoadOptions } from '../../src/config/index.js';
import { interpolate } from '../../src/config/interpolate.js';
import { buildState } from '../../src/config/load.js';
import { parseDuration, parseSize } from '../../src/config/schema.js';
import { setKeyText, unifiedDiff, unsetKeyText } from '../../src/config/toml.js';
import type { ProvError } from '../../src/errors/index.js';

/** A temp PROVISIONING_HOME with a workspace `shop` in it; files are relative to the workspace. */
function fixture(files: Record<string, string> = {}, userFile?: string) {
  const home = mkdtempSync(join(tmpdir(), 'prov-cfg-'));
  const ws = join(home, 'shop');
  const write = (p: string, text: string) => { mkdirSync(dirname(p), { recursive: true }); writeFileSync(p, text); };
  write(join(ws, 'provisioning.toml'), files['provisioning.toml'] ?? '[workspace]\nname = "shop"\n');
  for (const [p, t] of Object.entries(files)) if (p !== 'provisioning.toml') write(join(ws, p), t);
  if (userFile) write(join(home, 'config', 'config.user.toml'), userFile);
  const opts = (extra: Partial<LoadOptions> = {}, env: Record<string, string> = {}): LoadOptions => ({
    cwd: ws, env: { PROVISIONING_HOME: home, HOME: home, ...env }, select: {}, cli: { set: [], flags: [] }, ...extra,
  });
  return { home, ws, opts };
}

const problems = (o: LoadOptions) => buildState(o).problems.filter((p) => p.severity === 'error');

describe('merge', () => {
  it('merges tables key by key and replaces arrays whole', async () => {
    const f = fixture({ 'config/local-overrides.toml': '[orchestrator.queue]\nretries = 7\n[extensions]\ninsecure_registries = []\n' },
      '[orchestrator.queue]\nmax_concurrent_tasks = 20\nretries = 1\n');
    const cfg = await loadConfig(f.opts());
    assert.equal(cfg.get('orchestrator.queue.retries'), 7);
    assert.equal(cfg.get('orchestrator.queue.max_concurrent_tasks'), 20);
    assert.equal(cfg.get('orchestrator.queue.retry_delay'), '1s');
    assert.deepEqual(cfg.get('extensions.insecure_registries'), []);
    assert.deepEqual(cfg.history('orchestrator.queue.retries').map((h) => h.origin.layer), ['default', 'user', 'local']);
  });

  it('a scalar replaces a table of a lower layer in free-form tables', async () => {
    const f = fixture({ 'provisioning.toml': '[workspace]\nname = "shop"\n[extensions.dependencies]\npostgres = { version = "^2.0", source = "oci://r/p" }\n',
      'config/local-overrides.toml': '[extensions.dependencies]\npostgres = "^2.1"\n' });
    const cfg = await loadConfig(f.opts());
    assert.equal(cfg.get('extensions.dependencies.postgres'), '^2.1');
    assert.equal(cfg.get('extensions.dependencies.postgres.source'), undefined);
  });

  it('takes the mode from the highest layer and completes the defaults with its preset', async () => {
    const f = fixture({ 'config/local-overrides.toml': 'mode = "multi-user"\n' });
    const cfg = await loadConfig(f.opts());
    assert.equal(cfg.mode, 'multiuser');
    assert.equal(cfg.get('auth.enabled'), true);
    assert.deepEqual(cfg.origin('orchestrator.host'), { layer: 'mode', name: 'multiuser' });
  });

  it('rejects a mode constraint that a layer overrides', () => {
    const f = fixture({ 'provisioning.toml': '[workspace]\nname = "shop"\n[auth]\nenabled = true\n' });
    const p = problems(f.opts());
    assert.equal(p[0]!.code, 'CONFIG_MODE_CONSTRAINT');
    assert.match(p[0]!.message, /mode solo requires `auth.enabled` = false/);
  });
});

describe('environment variables', () => {
  it('map double underscores to levels and `_` to `-` in user-named tables', async () => {
    const f = fixture();
    const cfg = await loadConfig(f.opts({}, {
      PROVISIONING_PLATFORM__SERVICES__OCI_REGISTRY__PORT: '5001',
      PROVISIONING_PROVIDERS__MY_CLOUD__API_TOKEN: 'abc',
      PROVISIONING_CONTROL_CENTER__CORS_ORIGINS: 'https://a, https://b',
      PROVISIONING_SSH__PUBLIC_KEYS: '["k1", "k2"]',
      PROVISIONING_EXECUTION__WAIT: '1',
      PROVISIONING_LOG_LEVEL: 'debug',
    }));
    assert.equal(cfg.get('platform.services.oci-registry.port'), 5001);
    assert.equal(cfg.get('providers.my-cloud.api_token'), 'abc');
    assert.deepEqual(cfg.get('control_center.cors_origins'), ['https://a', 'https://b']);
    assert.deepEqual(cfg.get('ssh.public_keys'), ['k1', 'k2']);
    assert.equal(cfg.get('execution.wait'), true);
    assert.deepEqual(cfg.origin('logging.level'), { layer: 'envvar', variable: 'PROVISIONING_LOG_LEVEL' });
  });

  it('reports unknown keys, bad values and whole tables; warns on names without __', () => {
    const f = fixture();
    const st = buildState(f.opts({}, {
      PROVISIONING_ORCHESTRATOR__QUEUE__MAX_CONCURENT_TASKS: '3', PROVISIONING_EXECUTION__PARALLEL_LIMIT: 'eight',
      PROVISIONING_ORCHESTRATOR__QUEUE: '1', PROVISIONING_EXECUTION_PARALLEL_LIMIT: '3',
    }));
    const by = (code: string) => st.problems.filter((p) => p.code === code);
    assert.match(by('CONFIG_UNKNOWN_KEY')[0]!.hint!, /PROVISIONING_ORCHESTRATOR__QUEUE__MAX_CONCURRENT_TASKS/);
    assert.equal(by('CONFIG_TYPE').length, 2);
    const w = by('CONFIG_UNKNOWN_VARIABLE')[0]!;
    assert.equal(w.severity, 'warning');
    assert.match(w.hint!, /PROVISIONING_EXECUTION__PARALLEL_LIMIT/);
  });
});

describe('interpolation', () => {
  const ctx = { env: { REGION: 'nl-ams1', EMPTY: '' }, now: new Date('2025-06-03T17:40:02.123Z'), isSecret: (k: string) => k.endsWith('password'), needsWorkspace: () => false };
  const run = (entries: Record<string, unknown>) => interpolate(new Map(Object.entries(entries)), ctx);

  it('keeps the type of a lone placeholder and writes text elsewhere', () => {
    const r = run({ 'a.port': 9090, 'a.copy': '{{a.port}}', 'a.url': 'http://h:{{ a.port }}/x' });
    assert.equal(r.values.get('a.copy'), 9090);
    assert.equal(r.values.get('a.url'), 'http://h:9090/x');
  });

  it('uses fallbacks for unset or empty operands, and fails without one', () => {
    const r = run({ 'a.x': '{{ env.MISSING || env.EMPTY || "de-fra1" }}', 'a.y': '{{env.REGION}}', 'a.z': '{{env.MISSING}}' });
    assert.equal(r.values.get('a.x'), 'de-fra1');
    assert.equal(r.values.get('a.y'), 'nl-ams1');
    assert.match(r.errors[0]!.message, /environment variable MISSING is not set/);
    assert.equal(r.errors[0]!.placeholder, '{{env.MISSING}}');
  });

  it('escapes with a quoted literal, leaves a lone }} alone, does not rescan results', () => {
    const r = run({ 'a.t': '{{ "{{" }}x}} }}', 'a.n': '{{now.date}} {{now.time}} {{now.timestamp}}', 'a.r': '{{a.s}}', 'a.s': '{{ "{{env.REGION}}" }}' });
    assert.equal(r.values.get('a.t'), '{{x}} }}');
    assert.equal(r.values.get('a.n'), '2025-06-03 17:40:02 1748972402');
    assert.equal(r.values.get('a.r'), '{{env.REGION}}');
  });

  it('lists cycles, unknown references, tables in strings and kms.decrypt outside secrets', () => {
    const r = run({ 'a.a': '{{a.b}}', 'a.b': 'x{{a.a}}', 'b.k': '{{nope.key}}', 'e.n': 1, 'c.t': 'x{{e}}', 'd.user': '{{kms.decrypt("n")}}', 'd.password': '{{kms.decrypt("n")}}' });
    const msg = (k: string) => r.errors.find((e) => e.key === k)?.message ?? '';
    assert.match(msg('a.a'), /reference cycle: a\.a → a\.b → a\.a/);
    assert.match(msg('b.k'), /unknown reference `nope.key`.*|unknown reference/);
    assert.match(msg('c.t'), /names a table/);
    assert.match(msg('d.user'), /only allowed in secret keys/);
    assert.equal(r.values.get('d.password'), '{{kms.decrypt("n")}}');
  });

  it('resolves paths and workspace data in the loaded config, and reports errors with file and line', () => {
    const f = fixture({ 'provisioning.toml': '[workspace]\nname = "shop"\n\n[logging]\nfile = "{{paths.state}}/x-{{workspace.name}}.log"\nmax_files = "{{env.NFILES}}"\n' });
    const cfgP = loadConfig(f.opts({}, { NFILES: '9' }));
    return cfgP.then((cfg) => {
      assert.equal(cfg.get('logging.file'), join(f.ws, '.provisioning', 'x-shop.log'));
      assert.equal(cfg.get('logging.max_files'), 9);
      const p = problems(f.opts());
      assert.equal(p[0]!.code, 'CONFIG_INTERPOLATION');
      assert.equal(p[0]!.line, 6);
      assert.equal(p[0]!.path, 'logging.max_files');
    });
  });
});

describe('validation', () => {
  it('collects every problem of every layer in one error', async () => {
    const f = fixture({
      'provisioning.toml': '[workspace]\nname = "shop"\n[orchestrator.queue]\nmax_concurent_tasks = 3\nretries = 99\n[paths]\nstate = "/x"\n',
      'infra/web/config.toml': '[orchestrator]\nport = 1\n',
    });
    const err = await loadConfig(f.opts({ select: { infra: 'web' } })).catch((e: ProvError) => e);
    assert.equal((err as ProvError).code, 'CONFIG_INVALID');
    const codes = ((err as ProvError).details.errors as { code: string }[]).map((e) => e.code);
    assert.deepEqual(codes.sort(), ['CONFIG_RANGE', 'CONFIG_READONLY', 'CONFIG_SCOPE', 'CONFIG_UNKNOWN_KEY']);
  });

  it('requires workspace.name and checks cross-field rules', () => {
    const f = fixture({ 'provisioning.toml': '[orchestrator.storage]\ntype = "postgres"\n[orchestrator]\nheartbeat_interval = "20s"\n' });
    const codes = problems(f.opts()).map((p) => p.code);
    assert.ok(codes.includes('CONFIG_REQUIRED'));
    assert.equal(codes.filter((c) => c === 'CONFIG_CONSTRAINT').length, 2);
  });
});

describe('TOML edits keep the rest of the file', () => {
  const text = '# head\nmode = "solo" # inline\n\n[orchestrator.queue]\n# keep me\nretries = 3\n\n[ssh]\nport = 22\nx = { a = 1, b = 2 }\n';

  it('replaces a value in place', () => {
    assert.equal(setKeyText(text, ['orchestrator', 'queue', 'retries'], '5'), text.replace('retries = 3', 'retries = 5'));
    assert.equal(setKeyText(text, ['mode'], '"cicd"'), text.replace('"solo" # inline', '"cicd" # inline'));
  });

  it('adds a key under the deepest existing table, or a new table at the end', () => {
    assert.equal(setKeyText(text, ['orchestrator', 'queue', 'task_timeout'], '"2h"'), text.replace('retries = 3\n', 'retries = 3\ntask_timeout = "2h"\n'));
    assert.equal(setKeyText(text, ['execution', 'parallel_limit'], '8'), `${text}\n[execution]\nparallel_limit = 8\n`);
    assert.equal(setKeyText('[a]\nb = 1\n', ['mode'], '"solo"'), 'mode = "solo"\n\n[a]\nb = 1\n');
  });

  it('removes lines and inline-table entries', () => {
    assert.equal(unsetKeyText(text, ['ssh', 'port']), text.replace('port = 22\n', ''));
    assert.equal(unsetKeyText(text, ['ssh', 'x', 'a']), text.replace('{ a = 1, b = 2 }', '{ b = 2 }'));
    assert.equal(unsetKeyText(text, ['ssh', 'user']), undefined);
  });

  it('diffs one hunk', () => {
    assert.match(unifiedDiff('f', 'a\nb\nc\n', 'a\nB\nc\n'), /@@ -1,3 \+1,3 @@\n a\n-b\n\+B\n c\n/);
  });
});

describe('value grammar', () => {
  it('parses durations and sizes', () => {
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration(30), 30_000);
    assert.equal(parseDuration('5 min'), undefined);
    assert.equal(parseSize('512MiB'), 512 * 1024 ** 2);
    assert.equal(parseSize('10MB'), 10_000_000);
    assert.equal(parseSize('lots'), undefined);
  });
});
