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
