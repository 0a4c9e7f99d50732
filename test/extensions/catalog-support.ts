// Support for the core catalog tests: loading the shipped extension manifests, a small checker for
// the field schema language (models.md §5.2) used to validate defaults, and the sample render context
// of models.md §5.3. Deliberately independent of src/: these tests pin the catalog's own contract.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import { parse } from 'smol-toml';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const EXT_ROOT = join(ROOT, 'extensions');

export type Kind = 'taskserv' | 'provider' | 'cluster';
export type Table = Record<string, unknown>;
export interface Extension { kind: Kind; name: string; dir: string; manifest: Table }

export const KIND_DIRS: Record<Kind, string> = { taskserv: 'taskservs', provider: 'providers', cluster: 'clusters' };

export function loadCatalog(): Extension[] {
  const out: Extension[] = [];
  for (const kind of Object.keys(KIND_DIRS) as Kind[]) {
    const base = join(EXT_ROOT, KIND_DIRS[kind]);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base).sort()) {
      const dir = join(base, name);
      if (!statSync(dir).isDirectory()) continue;
      const file = join(dir, 'extension.toml');
      out.push({ kind, name, dir, manifest: parse(readFileSync(file, 'utf8')) as Table });
    }
  }
  return out;
}

export const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A path from a manifest, resolved inside the extension; undefined when it escapes it. */
export function insideExtension(dir: string, path: string): string | undefined {
  const full = resolve(dir, path);
  return full.startsWith(dir + sep) ? full : undefined;
}

// ---- field schema language (models.md §5.2) ----

export const FIELD_KEYS = new Set(['type', 'required', 'default', 'description', 'enum', 'min', 'max', 'min_length', 'max_length', 'pattern', 'items', 'min_items', 'max_items', 'fields', 'deprecated']);
export const FIELD_TYPES = new Set(['string', 'integer', 'number', 'boolean', 'secret', 'duration', 'size', 'array', 'table', 'any']);

const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Bytes of a size; a bare number counts in MiB (the catalog's documented unit for bare sizes). */
export function sizeBytes(v: unknown): number | undefined {
  if (typeof v === 'number') return v >= 0 ? v * SIZE_UNITS.MiB! : undefined;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/.exec(v) : null;
  return m ? Number(m[1]) * SIZE_UNITS[m[2]!]! : undefined;
}

export function durationSeconds(v: unknown): number | undefined {
  if (typeof v === 'number') return v >= 0 ? v : undefined;
  if (typeof v !== 'string' || !/^(\d+(ms|s|m|h|d))+$/.test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return total;
}

/** Problems of a field schema itself (unknown keys, bad types, a required field with a default). */
export function schemaProblems(field: unknown, path: string): string[] {
  if (!isTable(field)) return [`${path}: a field schema must be a table`];
  const out: string[] = [];
  for (const k of Object.keys(field)) if (!FIELD_KEYS.has(k)) out.push(`${path}.${k}: unknown field schema key`);
  if (!FIELD_TYPES.has(field.type as string)) out.push(`${path}.type: expected one of ${[...FIELD_TYPES].join(', ')}, got ${JSON.stringify(field.type)}`);
  if (field.required === true && 'default' in field) out.push(`${path}: a required field has no default`);
  if (field.items !== undefined) out.push(...schemaProblems(field.items, `${path}.items`));
  if (field.fields !== undefined) {
    if (!isTable(field.fields)) out.push(`${path}.fields: expected a table`);
    else for (const [k, f] of Object.entries(field.fields)) out.push(...schemaProblems(f, `${path}.fields.${k}`));
  }
  if ('default' in field) out.push(...valueProblems(field, field.default, `${path}.default`));
  return out;
}

/** Problems of a value against a field schema. */
export function valueProblems(field: Table, v: unknown, path: string): string[] {
  const t = field.type as string;
  const bad = (what: string) => [`${path}: expected ${what}, got ${JSON.stringify(v)}`];
  let magnitude: number | undefined;
  switch (t) {
    case 'string': case 'secret':
      if (typeof v !== 'string') return bad(t);
      if (typeof field.min_length === 'number' && v.length < field.min_length) return bad(`at least ${field.min_length} characters`);
      if (typeof field.max_length === 'number' && v.length > field.max_length) return bad(`at most ${field.max_length} characters`);
      if (typeof field.pattern === 'string' && !new RegExp(`^(?:${field.pattern})$`).test(v)) return bad(`a match of ${field.pattern}`);
      break;
    case 'integer': if (!Number.isInteger(v)) return bad('an integer'); magnitude = v as number; break;
    case 'number': if (typeof v !== 'number') return bad('a number'); magnitude = v; break;
    case 'boolean': if (typeof v !== 'boolean') return bad('a boolean'); break;
    case 'size': magnitude = sizeBytes(v); if (magnitude === undefined) return bad('a size such as "512MiB"'); break;
    case 'duration': magnitude = durationSeconds(v); if (magnitude === undefined) return bad('a duration such as "30s"'); break;
    case 'array': {
      if (!Array.isArray(v)) return bad('an array');
      if (typeof field.min_items === 'number' && v.length < field.min_items) return bad(`at least ${field.min_items} items`);
      if (typeof field.max_items === 'number' && v.length > field.max_items) return bad(`at most ${field.max_items} items`);
      return isTable(field.items) ? v.flatMap((item, i) => valueProblems(field.items as Table, item, `${path}[${i}]`)) : [];
    }
    case 'table': {
      if (!isTable(v)) return bad('a table');
      if (!isTable(field.fields)) return [];
      const fields = field.fields as Record<string, Table>;
      const out: string[] = [];
      for (const k of Object.keys(v)) if (!(k in fields)) out.push(`${path}.${k}: unknown key`);
      for (const [k, f] of Object.entries(fields)) {
        if (k in v) out.push(...valueProblems(f, v[k], `${path}.${k}`));
        else if (f.required === true) out.push(`${path}.${k}: required`);
      }
      return out;
    }
  }
  if (Array.isArray(field.enum) && !field.enum.includes(v)) return bad(`one of ${JSON.stringify(field.enum)}`);
  if (magnitude !== undefined) {
    const bound = (b: unknown) => (t === 'size' ? sizeBytes(b) : t === 'duration' ? durationSeconds(b) : (b as number));
    if (field.min !== undefined && magnitude < bound(field.min)!) return bad(`at least ${field.min}`);
    if (field.max !== undefined && magnitude > bound(field.max)!) return bad(`at most ${field.max}`);
  }
  return [];
}

/** Defaults of a settings schema, plus a sample value for each secret and required field without one. */
export function sampleSettings(schema: Table, secrets = true): Table {
  const out: Table = {};
  for (const [k, f] of Object.entries(schema as Record<string, Table>)) {
    if ('default' in f) out[k] = structuredClone(f.default);
    else if (f.type === 'secret' && (secrets || f.required === true)) out[k] = `s3cr3t-${k}-"'\\$x`;
    else if (f.required === true) out[k] = f.type === 'string' ? 'example.com' : f.type === 'integer' ? 1 : 'x';
  }
  return out;
}

/** Tables deep-merge, everything else replaces (models.md §4). */
export function deepMerge(base: Table, over: Table): Table {
  const out: Table = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isTable(v) && isTable(out[k]) ? deepMerge(out[k] as Table, v) : v;
  return out;
}

// ---- render context (models.md §5.3) ----

export function sampleServer(hostname: string, privateIp: string, role: string): Table {
  return {
    hostname,
    fqdn: `${hostname}.shop.internal`,
    provider: 'upcloud',
    zone: 'de-fra1',
    plan: '2xCPU-4GB',
    cores: 2,
    memory_mb: 4096,
    disk_gb: 40,
    image: 'debian-12',
    labels: { role, team: 'storefront' },
    addresses: { public_ipv4: ['203.0.113.10'], public_ipv6: [], private: [{ network: 'backend', ip: privateIp }] },
    os: { family: 'debian', version: '12', arch: 'amd64' },
  };
}

export const SERVERS = [sampleServer('db-01', '10.20.0.21', 'db'), sampleServer('web-01', '10.20.0.11', 'web'), sampleServer('web-02', '10.20.0.12', 'web')];

export function sampleContext(ext: Extension, settings: Table, profile = 'default', cluster?: Table): Table {
  const ctx: Table = {
    server: SERVERS[1],
    settings,
    taskserv: { name: ext.name, version: (ext.manifest.extension as Table).version, profile },
    infra: { name: 'shop', environment: 'prod', domain: 'shop.internal', labels: { team: 'storefront' } },
    servers: SERVERS,
    workspace: { name: 'acme' },
  };
  if (cluster) ctx.cluster = cluster;
  return ctx;
}

export const nunjucksEnv = new nunjucks.Environment(null, { throwOnUndefined: true, autoescape: false });
export const render = (text: string, ctx: Table) => nunjucksEnv.renderString(text, ctx);

/** Renders with Python's Jinja2 (StrictUndefined) when available, to prove the templates are Jinja2 too. */
export function jinja2Available(): boolean {
  return spawnSync('python3', ['-c', 'import jinja2'], { stdio: 'ignore' }).status === 0;
}

const JINJA2_RENDER = `
import json, sys, jinja2
env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
jobs = json.load(sys.stdin)
print(json.dumps([env.from_string(j["text"]).render(**j["ctx"]) for j in jobs]))
`;

export function renderJinja2(jobs: { text: string; ctx: Table }[]): string[] {
  const r = spawnSync('python3', ['-c', JINJA2_RENDER], { input: JSON.stringify(jobs), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`jinja2 render failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

export const rel = (p: string) => relative(ROOT, p);
