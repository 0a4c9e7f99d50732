import validRange from 'semver/ranges/valid.js';
import { parse as parseToml } from 'smol-toml';
import { nameProblem } from '../model/names.js';
import { closest } from '../cli/suggest.js';
import { BUILTIN_PROVIDERS, FREE_FORM, KEYS, parseDuration, parseSize, type FreeForm, type KeySpec } from './schema.js';

/**
 * Looking keys up in the schema and checking values against it. Shared by the file layers,
 * environment variables, `--set`, `config set` and interpolation results.
 */

/** Every table path of the schema (`orchestrator`, `orchestrator.queue`, …) → its child names. */
const CHILDREN: Map<string, Set<string>> = (() => {
  const m = new Map<string, Set<string>>();
  const add = (parent: string, child: string) => { if (!m.has(parent)) m.set(parent, new Set()); m.get(parent)!.add(child); };
  for (const key of [...Object.keys(KEYS), ...Object.keys(FREE_FORM).filter((k) => !k.endsWith('*'))]) {
    const parts = key.split('.');
    for (let i = 0; i < parts.length; i++) add(parts.slice(0, i).join('.'), parts[i]!);
  }
  return m;
})();

export function childrenOf(table: string): string[] {
  return [...(CHILDREN.get(table) ?? [])];
}

export function isTable(key: string): boolean {
  return CHILDREN.has(key) && !(key in KEYS);
}

export type Classified =
  | { kind: 'key'; key: string; spec: KeySpec }
  | { kind: 'free'; key: string; table: string; form: FreeForm; rest: string[] }
  | { kind: 'table'; key: string }
  /** the path goes below a key that is not a table */
  | { kind: 'below'; key: string; spec: KeySpec }
  | { kind: 'unknown'; key: string; parent: string; name: string; siblings: string[]; suggestion?: string };

export function classify(path: string[]): Classified {
  for (let i = 1; i <= path.length; i++) {
    const prefix = path.slice(0, i).join('.');
    const spec = KEYS[prefix];
    if (spec) return i === path.length ? { kind: 'key', key: prefix, spec } : { kind: 'below', key: prefix, spec };
    const form = FREE_FORM[prefix];
    if (form) return { kind: 'free', key: path.join('.'), table: prefix, form, rest: path.slice(i) };
    // Providers that are not built in belong to extensions; their schema arrives with them.
    if (i === 2 && path[0] === 'providers' && path[1] !== 'default' && !BUILTIN_PROVIDERS.includes(path[1]!)) {
      return { kind: 'free', key: path.join('.'), table: prefix, form: 'any', rest: path.slice(2) };
    }
    if (!CHILDREN.has(prefix)) {
      const parent = path.slice(0, i - 1).join('.');
      const name = path[i - 1]!;
      const siblings = childrenOf(parent);
      return { kind: 'unknown', key: path.join('.'), parent, name, siblings, suggestion: suggestKey(parent, name, siblings) };
    }
  }
  return { kind: 'table', key: path.join('.') };
}

/** Did-you-mean: a close sibling first, then the same name in another section (§10). */
function suggestKey(parent: string, name: string, siblings: string[]): string | undefined {
  const near = closest(name, siblings, 1)[0];
  if (near !== undefined) return parent ? `${parent}.${near}` : near;
  const elsewhere = Object.keys(KEYS).filter((k) => k.endsWith(`.${name}`) && !KEYS[k]!.readonly);
  return elsewhere.length > 0 ? elsewhere.sort((a, b) => a.length - b.length)[0] : undefined;
}

/** Key names that hold credentials (§8); used for free-form tables, which have no types. */
export function isSensitiveName(key: string): boolean {
  const last = key.split('.').pop() ?? '';
  return /password|secret|token|private_key|credentials/.test(last) || (last.endsWith('_key') && !last.endsWith('_key_id'));
}

/** A key whose value may be `ENC[...]` or `{{kms.decrypt(...)}}`. */
export function isSecretKey(key: string): boolean {
  const c = classify(key.split('.'));
  if (c.kind === 'key') return c.spec.type === 'secret' || c.spec.secret === true;
  return c.kind === 'free' && isSensitiveName(key);
}

export function isEncrypted(v: unknown): boolean {
  return typeof v === 'string' && (/^ENC\[.*\]$/s.test(v) || /\{\{\s*kms\.decrypt\s*\(/.test(v));
}

export const hasPlaceholder = (v: unknown): boolean => typeof v === 'string' && v.includes('{{');

/** What a key expects, in words (used by messages and `config init`). */
export function describe(spec: KeySpec): string {
  const range = (lo?: number, hi?: number, f: (n: number) => string = String) =>
    lo !== undefined && hi !== undefined ? ` ${f(lo)}–${f(hi)}` : lo !== undefined ? ` ≥ ${f(lo)}` : hi !== undefined ? ` ≤ ${f(hi)}` : '';
  switch (spec.type) {
    case 'int': return `an integer${range(spec.min, spec.max)}`;
    case 'bool': return 'true or false';
    case 'duration': return `a duration such as "30s", "5m", "1h30m"${range(spec.min, spec.max, fmtMs)}`;
    case 'size': return 'a size such as "512MiB" or "10MB"';
    case 'enum': return `one of: ${spec.values!.join(', ')}`;
    case 'name': return 'a name (lowercase letters, digits and hyphens, starting with a letter)';
    case 'name[]': return 'a list of names';
    case 'string[]': return 'a list of strings';
    case 'url': return 'a URL';
    case 'semver-range': return 'a semver range such as ">=1.2 <2"';
    case 'path': return 'a path';
    case 'secret': return 'a string, ENC[...] or {{kms.decrypt("...")}}';
    default: return 'a string';
  }
}

function fmtMs(ms: number): string {
  for (const [unit, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % n === 0) return `${ms / n}${unit}`;
  return `${ms}ms`;
}

export interface ValueProblem { code: 'CONFIG_TYPE' | 'CONFIG_ENUM' | 'CONFIG_PATTERN' | 'CONFIG_RANGE'; message: string; expected: string; hint?: string }

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : v instanceof Date ? 'a date' : v !== null && typeof v === 'object' ? 'a table' : String(v));

/**
 * Check a value's type (and enum / pattern, which are part of the type) and return its
 * canonical form. Strings with placeholders pass here; their result is checked after
 * interpolation.
 */
export function checkType(key: string, spec: KeySpec, value: unknown): { value: unknown } | { problem: ValueProblem } {
  const bad = (code: ValueProblem['code'] = 'CONFIG_TYPE', hint?: string) =>
    ({ problem: { code, message: `\`${key}\` expects ${describe(spec)}, got ${show(value)}`, expected: describe(spec), hint } });
  if (hasPlaceholder(value) && spec.type !== 'string[]' && spec.type !== 'name[]') return { value };
  switch (spec.type) {
    case 'int': return typeof value === 'number' && Number.isInteger(value) ? { value } : bad();
    case 'bool': return typeof value === 'boolean' ? { value } : bad();
    case 'duration': return parseDuration(value) !== undefined ? { value } : bad();
    case 'size': return parseSize(value) !== undefined ? { value } : bad();
    case 'enum': {
      if (typeof value !== 'string') return bad();
      const v = spec.aliases?.[value] ?? value;
      if (spec.values!.includes(v)) return { value: v };
      const near = closest(value, spec.values!, 1)[0];
      return bad('CONFIG_ENUM', near ? `did you mean "${near}"?` : undefined);
    }
    case 'name': {
      if (typeof value !== 'string') return bad();
      if (value === '' && spec.default === '') return { value };
      const why = nameProblem(value);
      return why ? { problem: { code: 'CONFIG_PATTERN', message: `\`${key}\` must be a name, got ${show(value)}: ${why}`, expected: describe(spec) } } : { value };
    }
    case 'string[]':
    case 'name[]': {
      if (!Array.isArray(value) || !value.every((x) => typeof x === 'string')) return bad();
      if (spec.type === 'name[]') {
        const wrong = value.find((x) => nameProblem(x as string));
        if (wrong !== undefined) return { problem: { code: 'CONFIG_PATTERN', message: `\`${key}\` lists ${show(wrong)}, which is not a name`, expected: describe(spec) } };
      }
      return { value };
    }
    case 'semver-range': {
      if (typeof value !== 'string') return bad();
      return value === '' || validRange(value) !== null ? { value } : { problem: { code: 'CONFIG_PATTERN', message: `\`${key}\` is not a semver range: ${show(value)}`, expected: describe(spec) } };
    }
    default: return typeof value === 'string' ? { value } : bad();
  }
}

/** Range checks on the merged value (§2.2: once, after merging). */
export function checkRange(key: string, spec: KeySpec, value: unknown): ValueProblem | undefined {
  const n = spec.type === 'int' ? (value as number) : spec.type === 'duration' ? parseDuration(value) : undefined;
  if (n === undefined || (spec.min === undefined && spec.max === undefined)) return undefined;
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
    return { code: 'CONFIG_RANGE', message: `\`${key}\` is ${show(value)}, outside the allowed range; it expects ${describe(spec)}`, expected: describe(spec) };
  }
  return undefined;
}

/** Free-form tables: what their leaves may hold. */
export function checkFree(c: Extract<Classified, { kind: 'free' }>, value: unknown): { value: unknown } | { problem: ValueProblem } {
  if (c.form === 'any') return { value };
  if (c.form === 'strings') {
    return c.rest.length === 1 && typeof value === 'string' ? { value }
      : { problem: { code: 'CONFIG_TYPE', message: `\`${c.table}\` is a table of strings; \`${c.key}\` is ${show(value)}`, expected: 'a string' } };
  }
  // extensions.dependencies.<name> = "range" | { version, source, kind }
  const [name, field, ...more] = c.rest;
  const why = nameProblem(name!);
  if (why) return { problem: { code: 'CONFIG_PATTERN', message: `dependency name ${show(name)} is not a name: ${why}`, expected: 'a name' } };
  const expected = 'a version range, or { version, source, kind }';
  if (field === undefined || field === 'version') {
    if (typeof value !== 'string') return { problem: { code: 'CONFIG_TYPE', message: `\`${c.key}\` expects ${expected}, got ${show(value)}`, expected } };
    return validRange(value) !== null ? { value } : { problem: { code: 'CONFIG_PATTERN', message: `\`${c.key}\` is not a semver range: ${show(value)}`, expected: 'a semver range such as "^1.1"' } };
  }
  if (more.length > 0 || !['source', 'kind'].includes(field) || typeof value !== 'string') {
    return { problem: { code: 'CONFIG_TYPE', message: `\`${c.key}\` is not part of a dependency; a dependency is ${expected}`, expected } };
  }
  if (field === 'kind' && !['provider', 'taskserv', 'cluster'].includes(value)) {
    return { problem: { code: 'CONFIG_ENUM', message: `\`${c.key}\` expects one of: provider, taskserv, cluster, got ${show(value)}`, expected: 'one of: provider, taskserv, cluster' } };
  }
  return { value };
}

/**
 * A value given as text (environment variable, `--set`, `config set`): parsed by the key's
 * type (§5): integers, `true|false|1|0`, arrays in TOML syntax or comma-separated.
 */
export function parseText(spec: KeySpec | undefined, text: string): unknown {
  if (!spec) return text;
  switch (spec.type) {
    case 'int': return /^[+-]?\d+$/.test(text.trim()) ? Number(text.trim()) : text;
    case 'bool': {
      const t = text.trim().toLowerCase();
      return t === 'true' || t === '1' ? true : t === 'false' || t === '0' ? false : text;
    }
    case 'duration':
    case 'size': return /^\d+$/.test(text.trim()) ? Number(text.trim()) : text.trim();
    case 'string[]':
    case 'name[]': {
      const t = text.trim();
      if (t.startsWith('[')) {
        try {
          return parseToml(`v = ${t}`).v;
        } catch {
          return text;
        }
      }
      return t === '' ? [] : t.split(',').map((x) => x.trim());
    }
    default: return text;
  }
}
