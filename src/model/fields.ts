import * as z from 'zod';
import { DURATION_RE, FIELD_KEY_RE, SIZE_RE, formatMiB, parseDuration, parseSize, type IssueParams } from './scalars.js';
import { isTable } from './schema.js';
import { formatPath, pending, unknownKeyProblem, type PathSegment, type PendingProblem } from './problems.js';

/**
 * The field schema language of spec/models.md §5.2 (`[settings]`, `[config]`,
 * `[server_settings]`): its own schema, and `validateFields`, which checks a settings object
 * against a table of field schemas.
 */

export const FIELD_TYPES = ['string', 'integer', 'number', 'boolean', 'secret', 'duration', 'size', 'array', 'table', 'any'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export interface FieldSchema {
  type: FieldType;
  required?: boolean;
  default?: unknown;
  description?: string;
  enum?: unknown[];
  min?: number | string;
  max?: number | string;
  min_length?: number;
  max_length?: number;
  pattern?: string;
  items?: FieldSchema;
  min_items?: number;
  max_items?: number;
  fields?: Record<string, FieldSchema>;
  deprecated?: string;
}
export type FieldTable = Record<string, FieldSchema>;

const Bound = z.union([z.number(), z.string()]).meta({ description: 'a number, or a duration/size for those types' });

export const FieldSchema: z.ZodType<FieldSchema> = z.lazy(() => z.strictObject({
  type: z.enum(FIELD_TYPES),
  required: z.boolean().optional(),
  default: z.unknown().optional(),
  description: z.string().optional(),
  enum: z.array(z.unknown()).min(1).optional(),
  min: Bound.optional(),
  max: Bound.optional(),
  min_length: z.int().min(0).optional(),
  max_length: z.int().min(0).optional(),
  pattern: z.string().optional(),
  items: FieldSchema.optional(),
  min_items: z.int().min(0).optional(),
  max_items: z.int().min(0).optional(),
  fields: z.record(z.string().regex(FIELD_KEY_RE), FieldSchema).optional(),
  deprecated: z.string().optional(),
}).superRefine((f, ctx) => {
  const bad = (path: string[], def: string, expected: string) =>
    ctx.addIssue({ code: 'custom', message: '', path, params: { def, expected } satisfies IssueParams });
  if (f.required && f.default !== undefined) bad(['default'], 'DEF_CONFLICT', 'no default on a required field');
  if (f.pattern !== undefined) {
    try { new RegExp(f.pattern); } catch { bad(['pattern'], 'DEF_PATTERN', 'a valid regular expression'); }
  }
  if (f.items && f.type !== 'array') bad(['items'], 'DEF_CONFLICT', '`items` only on type "array"');
  if (f.fields && f.type !== 'table') bad(['fields'], 'DEF_CONFLICT', '`fields` only on type "table"');
  for (const k of ['min', 'max'] as const) {
    const b = f[k];
    if (b === undefined) continue;
    if (typeof b === 'string' && !(f.type === 'duration' && DURATION_RE.test(b)) && !(f.type === 'size' && SIZE_RE.test(b))) {
      bad([k], 'DEF_TYPE', `a number${f.type === 'duration' ? ' or a duration' : f.type === 'size' ? ' or a size' : ''}`);
    }
  }
  if (f.default !== undefined) {
    const problems: PendingProblem[] = [];
    checkValue(f, f.default, [], problems, [], { plaintextSecrets: true });
    if (problems.length > 0) bad(['default'], 'DEF_TYPE', `a default that validates: ${problems[0]!.expected}`);
  }
})).meta({ id: 'FieldSchema', description: 'a field schema { type, required?, default?, … }' });

export const FieldTable = z.record(z.string().regex(FIELD_KEY_RE), FieldSchema);

export interface ValidateFieldsOptions {
  /** Path of the settings object inside its file, e.g. ['servers', 1, 'taskservs', 0, 'settings']. */
  path?: PathSegment[];
  /** Accept plaintext in `secret` fields (defaults); definitions must use secret references. */
  plaintextSecrets?: boolean;
}

export const SECRET_REF_RE = /^(ENC\[[^\]]+\]|\{\{\s*kms\.decrypt\(\s*"[^"]+"\s*\)\s*\}\})$/;
const KMS_RE = /\{\{\s*kms\.decrypt\(/;

/**
 * Check `value` against `table`. Unknown keys are `DEF_UNKNOWN_KEY` (with did-you-mean), and
 * using a deprecated field is a warning (`DEF_DEPRECATED`). Problems carry paths only; the
 * caller adds file and position with `locateProblems`.
 */
export function validateFields(table: FieldTable, value: unknown, opts: ValidateFieldsOptions = {}): { errors: PendingProblem[]; warnings: PendingProblem[] } {
  const errors: PendingProblem[] = [];
  const warnings: PendingProblem[] = [];
  checkTable(table, value, opts.path ?? [], errors, warnings, { plaintextSecrets: opts.plaintextSecrets ?? false });
  return { errors, warnings };
}

/** The defaults of a field table as a settings object (nested tables included). */
export function fieldDefaults(table: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(table)) {
    if (f.default !== undefined) out[k] = structuredClone(f.default);
    else if (f.type === 'table' && f.fields) {
      const inner = fieldDefaults(f.fields);
      if (Object.keys(inner).length > 0) out[k] = inner;
    }
  }
  return out;
}

/** Paths (dotted) of the `secret` fields present in `value`. */
export function secretFieldPaths(table: FieldTable, value: unknown, prefix = ''): string[] {
  if (!isTable(value)) return [];
  const out: string[] = [];
  for (const [k, f] of Object.entries(table)) {
    if (!(k in value)) continue;
    const p = prefix ? `${prefix}.${k}` : k;
    if (f.type === 'secret') out.push(p);
    else if (f.type === 'table' && f.fields) out.push(...secretFieldPaths(f.fields, value[k], p));
  }
  return out;
}

interface Ctx { plaintextSecrets: boolean }

const problem = (code: string, path: PathSegment[], expected: string, actual: unknown, hint?: string): PendingProblem =>
  pending(code, path, expected, actual, hint ? { hint } : {});

function checkTable(table: FieldTable, value: unknown, path: PathSegment[], errors: PendingProblem[], warnings: PendingProblem[], ctx: Ctx): void {
  if (!isTable(value)) { errors.push(problem('DEF_TYPE', path, 'a table', value)); return; }
  const known = Object.keys(table);
  for (const [k, v] of Object.entries(value)) {
    const f = table[k];
    if (!f) { errors.push(unknownKeyProblem(k, known, path)); continue; }
    if (v === undefined) continue;
    if (f.deprecated) {
      warnings.push(pending('DEF_DEPRECATED', [...path, k], 'no deprecated fields', v, { message: `${formatPath([...path, k])} is deprecated: ${f.deprecated}` }));
    }
    checkValue(f, v, [...path, k], errors, warnings, ctx);
  }
  for (const [k, f] of Object.entries(table)) {
    if (f.required && value[k] === undefined) {
      errors.push(pending('DEF_REQUIRED', [...path, k], typeWord(f), undefined, { message: `${formatPath([...path, k])}: missing required field (expected ${typeWord(f)})` }));
    }
  }
}

function typeWord(f: FieldSchema): string {
  switch (f.type) {
    case 'string': return 'a string';
    case 'integer': return 'an integer';
    case 'number': return 'a number';
    case 'boolean': return 'true or false';
    case 'secret': return 'a secret (secret("name") in TypeScript, {{kms.decrypt("name")}} or ENC[...])';
    case 'duration': return 'a duration such as "30s" or a number of seconds';
    case 'size': return 'a size such as "512MiB" or a number of MiB';
    case 'array': return 'an array';
    case 'table': return 'a table';
    case 'any': return 'any value';
  }
}

function boundOf(f: FieldSchema, b: number | string): number | undefined {
  if (typeof b === 'number') return b;
  return f.type === 'duration' ? parseDuration(b) : f.type === 'size' ? parseSize(b) : undefined;
}

function checkValue(f: FieldSchema, v: unknown, path: PathSegment[], errors: PendingProblem[], warnings: PendingProblem[], ctx: Ctx): void {
  const start = errors.length;
  let num: number | undefined;
  switch (f.type) {
    case 'string':
      if (typeof v !== 'string') { errors.push(problem('DEF_TYPE', path, typeWord(f), v)); return; }
      if (KMS_RE.test(v)) { errors.push(problem('DEF_TYPE', path, 'a plain string (this field is not a secret)', v)); return; }
      break;
    case 'secret':
      if (typeof v !== 'string') { errors.push(problem('DEF_TYPE', path, typeWord(f), v)); return; }
      if (!ctx.plaintextSecrets && !SECRET_REF_RE.test(v)) {
        errors.push(problem('DEF_TYPE', path, typeWord(f), '<plaintext>', 'keep secrets out of definitions: `provisioning secret set <name>` and reference it'));
        return;
      }
      return;
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v)) { errors.push(problem('DEF_TYPE', path, typeWord(f), v)); return; }
      num = v; break;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) { errors.push(problem('DEF_TYPE', path, typeWord(f), v)); return; }
      num = v; break;
    case 'boolean':
      if (typeof v !== 'boolean') { errors.push(problem('DEF_TYPE', path, typeWord(f), v)); return; }
      break;
    case 'duration':
      num = typeof v === 'string' || typeof v === 'number' ? parseDuration(v) : undefined;
      if (num === undefined) { errors.push(problem('DEF_TYPE', path, typeWord(f), v)); return; }
      break;
    case 'size':
      num = typeof v === 'string' || typeof v === 'number' ? parseSize(v) : undefined;
      if (num === undefined) { errors.push(problem('DEF_TYPE', path, typeWord(f), v)); return; }
      break;
    case 'array':
      if (!Array.isArray(v)) { errors.push(problem('DEF_TYPE', path, typeWord(f), v)); return; }
      if (f.min_items !== undefined && v.length < f.min_items) errors.push(problem('DEF_RANGE', path, `at least ${f.min_items} items`, `${v.length} items`));
      if (f.max_items !== undefined && v.length > f.max_items) errors.push(problem('DEF_RANGE', path, `at most ${f.max_items} items`, `${v.length} items`));
      if (f.items) v.forEach((item, i) => checkValue(f.items!, item, [...path, i], errors, warnings, ctx));
      break;
    case 'table':
      if (!isTable(v)) { errors.push(problem('DEF_TYPE', path, typeWord(f), v)); return; }
      if (f.fields) checkTable(f.fields, v, path, errors, warnings, ctx);
      break;
    case 'any':
      break;
  }
  if (errors.length > start) return;
  if (f.enum && !f.enum.some((e) => e === v)) {
    errors.push(problem('DEF_ENUM', path, `one of ${f.enum.map((e) => JSON.stringify(e)).join(', ')}`, v));
  }
  if (num !== undefined) {
    const min = f.min === undefined ? undefined : boundOf(f, f.min);
    const max = f.max === undefined ? undefined : boundOf(f, f.max);
    if ((min !== undefined && num < min) || (max !== undefined && num > max)) {
      const fmt = (b: number | string | undefined) => (b === undefined ? undefined : typeof b === 'string' ? b : f.type === 'size' ? formatMiB(b) : String(b));
      const range = min !== undefined && max !== undefined ? `between ${fmt(f.min)} and ${fmt(f.max)}` : min !== undefined ? `at least ${fmt(f.min)}` : `at most ${fmt(f.max)}`;
      errors.push(problem('DEF_RANGE', path, `a value ${range}`, v));
    }
  }
  if (typeof v === 'string' && f.type === 'string') {
    if (f.min_length !== undefined && v.length < f.min_length) errors.push(problem('DEF_RANGE', path, `at least ${f.min_length} characters`, v));
    if (f.max_length !== undefined && v.length > f.max_length) errors.push(problem('DEF_RANGE', path, `at most ${f.max_length} characters`, v));
    if (f.pattern !== undefined && !anchored(f.pattern).test(v)) errors.push(problem('DEF_PATTERN', path, `a string matching ${f.pattern}`, v));
  }
}

const patternCache = new Map<string, RegExp>();
/** Patterns are anchored (§5.2): "[a-z]+" must match the whole string. */
function anchored(p: string): RegExp {
  let re = patternCache.get(p);
  if (!re) { re = new RegExp(`^(?:${p})$`); patternCache.set(p, re); }
  return re;
}

/**
 * Settings in canonical form (§7): sizes as MiB and durations as seconds, per the field types;
 * everything else unchanged. Call on validated values only.
 */
export function normalizeFieldValues(table: FieldTable, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = table[k] ? normalizeOne(table[k], v) : v;
  return out;
}

function normalizeOne(f: FieldSchema, v: unknown): unknown {
  if (f.type === 'size' && (typeof v === 'string' || typeof v === 'number')) return parseSize(v) ?? v;
  if (f.type === 'duration' && (typeof v === 'string' || typeof v === 'number')) return parseDuration(v) ?? v;
  if (f.type === 'table' && f.fields && isTable(v)) return normalizeFieldValues(f.fields, v);
  if (f.type === 'array' && f.items && Array.isArray(v)) return v.map((x) => normalizeOne(f.items!, x));
  return v;
}
