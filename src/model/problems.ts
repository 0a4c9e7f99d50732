import * as z from 'zod';
import { ProvError } from '../errors/index.js';
import { closest } from '../cli/suggest.js';
import { nameProblem, suggestName, NAME_RE } from './names.js';
import { DURATION_RE, ENV_NAME_RE, ID_RE, SIZE_RE, type IssueParams } from './scalars.js';

/**
 * Definition problems in the format of spec/config.md §10 / models.md §1.4: every problem of a
 * run is collected, each with a code, the path inside the file, what was expected and what was
 * found; positions are added by the loader's locator. zod issues are translated here, once.
 */

export interface Problem {
  code: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  /** `servers[2].storage[0].size` */
  path: string;
  expected: string;
  actual: string;
  hint?: string;
}

export type PathSegment = string | number;
/** Where a path is in the source: the value's position, or the key's for `DEF_UNKNOWN_KEY`. */
export type Locator = (path: PathSegment[], want: 'key' | 'value') => { line: number; column: number } | undefined;

/** A problem still carrying its path segments, before it is located. */
export interface PendingProblem extends Problem { at: PathSegment[] }

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENT.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || '(top level)';
}

/** A value as shown after "got": strings quoted, tables and arrays by kind. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'a table';
  if (typeof v === 'function') return 'a function';
  return String(v);
}

export function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

export function pending(code: string, at: PathSegment[], expected: string, actual: unknown, extra: { hint?: string; message?: string } = {}): PendingProblem {
  const path = formatPath(at);
  const shown = describeValue(actual);
  return {
    code, at, path, expected, actual: shown,
    message: extra.message ?? `${path}: expected ${expected}, got ${shown}`,
    ...(extra.hint ? { hint: extra.hint } : {}),
  };
}

export function unknownKeyProblem(key: string, known: string[], parent: PathSegment[]): PendingProblem {
  const best = closest(key, known, 1)[0];
  return pending('DEF_UNKNOWN_KEY', [...parent, key], known.length ? `one of: ${known.join(', ')}` : 'no keys', undefined, {
    message: `unknown key \`${key}\`${parent.length ? ` in ${formatPath(parent)}` : ''}`,
    ...(best ? { hint: `did you mean \`${best}\`?` } : {}),
  });
}

// ── zod issues → problems ────────────────────────────────────────────────────────

type AnySchema = z.core.$ZodType;
type Def = { type: string; [k: string]: unknown };
const defOf = (s: AnySchema) => s._zod.def as unknown as Def;

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'nonoptional', 'catch']);

function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (let d = defOf(cur); WRAPPERS.has(d.type) || d.type === 'lazy'; d = defOf(cur)) {
    if (z.globalRegistry.get(cur)?.description) return cur;
    cur = d.type === 'lazy' ? (d.getter as () => AnySchema)() : (d.innerType as AnySchema);
  }
  return cur;
}

/** Every schema that can sit at `path` below `root` (unions fan out). */
export function schemasAt(root: AnySchema, path: readonly PathSegment[]): AnySchema[] {
  let cur = [root];
  for (const seg of path) {
    const next: AnySchema[] = [];
    const visit = (s: AnySchema): void => {
      const u = unwrap(s);
      const d = defOf(u);
      if (WRAPPERS.has(d.type) || d.type === 'lazy') return visit(d.type === 'lazy' ? (d.getter as () => AnySchema)() : (d.innerType as AnySchema));
      if (d.type === 'union') for (const o of d.options as AnySchema[]) visit(o);
      else if (d.type === 'pipe') visit(d.in as AnySchema);
      else if (d.type === 'object' && typeof seg === 'string') {
        const child = (d.shape as Record<string, AnySchema>)[seg];
        if (child) next.push(child);
      } else if (d.type === 'array' && typeof seg === 'number') next.push(d.element as AnySchema);
      else if (d.type === 'record') next.push(d.valueType as AnySchema);
    };
    for (const s of cur) visit(s);
    cur = next;
  }
  return cur;
}

function objectKeys(schemas: AnySchema[]): string[] {
  const keys = new Set<string>();
  const visit = (s: AnySchema): void => {
    const d = defOf(s);
    if (WRAPPERS.has(d.type)) visit(d.innerType as AnySchema);
    else if (d.type === 'lazy') visit((d.getter as () => AnySchema)());
    else if (d.type === 'union') for (const o of d.options as AnySchema[]) visit(o);
    else if (d.type === 'object') for (const k of Object.keys(d.shape as object)) keys.add(k);
  };
  schemas.forEach(visit);
  return [...keys];
}

/** What a schema accepts, in words: its description, else derived from its type. */
export function expectedOf(s: AnySchema | undefined): string {
  if (!s) return 'nothing here';
  const desc = z.globalRegistry.get(s)?.description;
  if (desc) return desc;
  const d = defOf(s);
  switch (d.type) {
    case 'optional': case 'nullable': case 'default': case 'prefault': case 'readonly': case 'nonoptional': case 'catch':
      return expectedOf(d.innerType as AnySchema);
    case 'lazy': return expectedOf((d.getter as () => AnySchema)());
    case 'string': return 'a string';
    case 'number': return (s as z.ZodNumber).format?.includes('int') ? 'an integer' : 'a number';
    case 'boolean': return 'true or false';
    case 'object': case 'record': return 'a table';
    case 'array': return 'an array';
    case 'enum': return `one of ${Object.values(d.entries as object).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'literal': return (d.values as unknown[]).map((v) => JSON.stringify(v)).join(' or ');
    case 'union': return [...new Set((d.options as AnySchema[]).map(expectedOf))].join(' or ');
    case 'unknown': case 'any': return 'any value';
    default: return d.type;
  }
}

interface PatternRule { code: string; expected?: string; hint?: (v: string) => string | undefined; detail?: (v: string) => string | undefined }
const nameRule = (max: number): PatternRule => ({
  code: 'DEF_NAME', expected: `a name (lowercase letters, digits and hyphens, starting with a letter, at most ${max} characters)`,
  detail: (v) => nameProblem(v, max),
  hint: (v) => { const s = suggestName(v).slice(0, max).replace(/-+$/, ''); return s && s !== v ? `use "${s}"` : undefined; },
});
const PATTERN_RULES = new Map<string, PatternRule>([
  [String(NAME_RE), nameRule(63)],
  [String(ENV_NAME_RE), nameRule(32)],
  [String(ID_RE), {
    code: 'DEF_NAME', expected: 'an id (lowercase letters, digits, "_" and "-", starting with a letter, at most 63 characters)',
    hint: (v) => { const s = v.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z]+/, '').slice(0, 63); return s && s !== v ? `use "${s}"` : undefined; },
  }],
  [String(SIZE_RE), { code: 'DEF_TYPE' }],
  [String(DURATION_RE), { code: 'DEF_TYPE' }],
]);

type Issue = z.core.$ZodIssue;

/**
 * Translate zod issues for `input` validated by `root`. Union failures pick the option that got
 * furthest (fewest issues, not rejected at its own root), so `{ name = "x", versoin = 1 }` as a
 * taskserv ref reports the unknown key, not "expected a string".
 */
export function problemsFromIssues(issues: readonly Issue[], root: AnySchema, input: unknown, prefix: PathSegment[] = []): PendingProblem[] {
  const out: PendingProblem[] = [];
  for (const iss of issues) translate(iss, [...prefix, ...(iss.path as PathSegment[])], root, input, out);
  return out;
}

function translate(iss: Issue, at: PathSegment[], root: AnySchema, input: unknown, out: PendingProblem[]): void {
  const actual = valueAt(input, at);
  const here = () => schemasAt(root, at);
  const expected = () => { const s = here(); return s.length ? [...new Set(s.map(expectedOf))].join(' or ') : 'nothing here'; };
  switch (iss.code) {
    case 'invalid_type':
      if (actual === undefined) {
        const e = expected();
        out.push(pending('DEF_REQUIRED', at, e, undefined, { message: `${formatPath(at)}: missing required field (expected ${e})` }));
      } else out.push(pending('DEF_TYPE', at, expected(), actual));
      return;
    case 'too_big': case 'too_small': case 'not_multiple_of': {
      out.push(pending('DEF_RANGE', at, rangeExpected(iss, here()), Array.isArray(actual) ? `${actual.length} items` : actual));
      return;
    }
    case 'invalid_format': {
      const rule = 'pattern' in iss && typeof iss.pattern === 'string' ? PATTERN_RULES.get(iss.pattern) : undefined;
      const v = typeof actual === 'string' ? actual : '';
      if (rule) {
        const exp = rule.expected ?? expected();
        const detail = rule.detail?.(v);
        const hint = rule.hint?.(v);
        out.push(pending(rule.code, at, exp, actual, {
          ...(hint ? { hint } : {}),
          ...(rule.code === 'DEF_NAME' ? { message: `${formatPath(at)}: ${describeValue(actual)} is not a valid name: ${detail ?? exp}` } : {}),
        }));
      } else out.push(pending('DEF_PATTERN', at, expected(), actual));
      return;
    }
    case 'invalid_value':
      out.push(pending('DEF_ENUM', at, `one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}`, actual));
      return;
    case 'unrecognized_keys': {
      const known = objectKeys(here());
      for (const k of iss.keys) out.push(unknownKeyProblem(k, known, at));
      return;
    }
    case 'invalid_key': {
      // A record key: problems point at the key and show it as the actual value.
      const key = at[at.length - 1];
      const sub: PendingProblem[] = [];
      for (const inner of iss.issues) translate(inner as Issue, [], z.string(), key, sub);
      for (const p of sub) {
        const expectedKey = p.code === 'DEF_PATTERN' ? 'a key such as "role" or "example.com/tier"' : p.expected;
        out.push(pending(p.code, at, expectedKey, key, {
          message: `${formatPath(at)}: the key ${describeValue(key)} is not valid: expected ${expectedKey}`,
          ...(p.hint ? { hint: p.hint } : {}),
        }));
      }
      return;
    }
    case 'invalid_union': {
      if ('discriminator' in iss && iss.discriminator) {
        const opts = (iss as { options?: unknown[] }).options ?? [];
        out.push(pending(actual === undefined ? 'DEF_REQUIRED' : 'DEF_ENUM', at, `one of ${opts.map((o) => JSON.stringify(o)).join(', ')}`, actual));
        return;
      }
      const options = iss.errors.filter((errs) => !errs.some((e) => (e.code === 'invalid_type' || e.code === 'invalid_value') && e.path.length === 0));
      if (options.length === 0) { out.push(pending('DEF_TYPE', at, expected(), actual)); return; }
      const best = options.reduce((a, b) => (b.length < a.length ? b : a));
      for (const inner of best) translate(inner as Issue, [...at, ...(inner.path as PathSegment[])], root, input, out);
      return;
    }
    case 'custom': {
      const params = (iss.params ?? {}) as Partial<IssueParams>;
      out.push(pending(params.def ?? 'DEF_TYPE', at, params.expected ?? expected(), actual, params.hint ? { hint: params.hint } : {}));
      return;
    }
    default:
      out.push(pending('DEF_TYPE', at, expected(), actual));
  }
}

function rangeExpected(iss: Issue, schemas: AnySchema[]): string {
  const desc = schemas.map((s) => z.globalRegistry.get(unwrap(s))?.description).find(Boolean);
  if (desc) return desc;
  const i = iss as { code: string; origin?: string; minimum?: number | bigint; maximum?: number | bigint; inclusive?: boolean; divisor?: number };
  if (i.code === 'not_multiple_of') return `a multiple of ${i.divisor}`;
  const bound = Number(i.code === 'too_big' ? i.maximum : i.minimum);
  const word = i.code === 'too_big' ? 'at most' : 'at least';
  if (i.origin === 'array') return `${word} ${bound} items`;
  if (i.origin === 'string') return `${word} ${bound} characters`;
  if (i.inclusive === false) return `a number ${i.code === 'too_big' ? '<' : '>'} ${bound}`;
  return `a number ${i.code === 'too_big' ? '≤' : '≥'} ${bound}`;
}

// ── locating and reporting ───────────────────────────────────────────────────────

/** Add file and position; a path with no node of its own takes its nearest located ancestor. */
export function locateProblems(problems: PendingProblem[], file: string | undefined, locate?: Locator): Problem[] {
  return problems.map(({ at, ...p }) => {
    const out: Problem = { ...p };
    if (file) out.file = file;
    if (locate) {
      const want = p.code === 'DEF_UNKNOWN_KEY' ? 'key' : 'value';
      for (let n = at.length; n >= 0; n--) {
        const pos = locate(at.slice(0, n), n === at.length ? want : 'value');
        if (pos) { out.line = pos.line; out.column = pos.column; break; }
      }
    }
    return reorder(out);
  });
}

/** Stable key order for JSON output: code, message, file, line, column, path, expected, actual, hint. */
function reorder(p: Problem): Problem {
  const o: Problem = { code: p.code, message: p.message } as Problem;
  if (p.file !== undefined) o.file = p.file;
  if (p.line !== undefined) { o.line = p.line; o.column = p.column; }
  o.path = p.path; o.expected = p.expected; o.actual = p.actual;
  if (p.hint !== undefined) o.hint = p.hint;
  return o;
}

export function sortProblems(problems: Problem[]): Problem[] {
  return problems.slice().sort((a, b) => (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0));
}

/** The one error thrown for invalid definitions (exit 3). */
export function definitionInvalid(errors: Problem[], warnings: Problem[] = []): ProvError {
  const n = errors.length;
  return new ProvError('DEFINITION_INVALID', `${n} error${n === 1 ? '' : 's'} in definitions`, { details: { errors, warnings } });
}

/** The text form of config.md §10 for a list of problems. */
export function formatProblems(errors: Problem[], warnings: Problem[] = []): string {
  const lines: string[] = [];
  const one = (kind: 'error' | 'warning', p: Problem) => {
    lines.push(`${kind}[${p.code}]: ${p.message}`);
    if (p.file) lines.push(`  --> ${[p.file, p.line, p.column].filter((x) => x !== undefined).join(':')}`);
    if (p.code === 'DEF_UNKNOWN_KEY') lines.push(`   = expected ${p.expected}`);
    if (p.hint) lines.push(`   = help: ${p.hint}`);
  };
  errors.forEach((p) => one('error', p));
  warnings.forEach((p) => one('warning', p));
  lines.push(`${errors.length} error${errors.length === 1 ? '' : 's'}, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}`);
  return lines.join('\n');
}
