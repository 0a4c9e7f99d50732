import * as z from 'zod';
import { NAME_RE } from './names.js';

/**
 * Scalar types of spec/models.md §1.1–1.2. Each one is a zod schema (the runtime check and the
 * JSON Schema come from it) plus, for durations and sizes, the parser that normalises them.
 * Friendly messages are attached in problems.ts, keyed by the regex source, so that every
 * schema built from these scalars reports `DEF_NAME`/`DEF_PATTERN` with the same wording.
 */

export const ENV_NAME_RE = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;
export const ID_RE = /^[a-z][a-z0-9_-]{0,62}$/;
export const LABEL_KEY_RE = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\/)?[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
export const LABEL_VALUE_RE = /^[A-Za-z0-9._-]{0,63}$/;
export const SECRET_NAME_RE = /^([a-z][a-z0-9-]*\/)?[a-z0-9][a-z0-9_.-]*$/;
export const CIDR_RE = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\/(3[0-2]|[12]?\d)$/;
export const DURATION_RE = /^(\d+(\.\d+)?(ms|s|m|h|d))+$/;
export const SIZE_RE = /^(\d+(\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/;
/** Setting keys and other snake_case identifiers of manifests. */
export const FIELD_KEY_RE = /^[a-z][a-z0-9_]*$/;

export const Name = z.string().regex(NAME_RE);
export const EnvName = z.string().regex(ENV_NAME_RE);
export const Id = z.string().regex(ID_RE);
export const Labels = z.record(z.string().regex(LABEL_KEY_RE), z.string().regex(LABEL_VALUE_RE));
export const SemverRange = z.string().min(1);
export const Secret = z.string();
export const Cidr = z.string().regex(CIDR_RE);

export type Name = z.infer<typeof Name>;
export type Labels = z.infer<typeof Labels>;
export type Secret = z.infer<typeof Secret>;

const DURATION_UNIT_S: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds of a Duration ("1h30m" → 5400; a number is seconds), or undefined when malformed. */
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (!DURATION_RE.test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * DURATION_UNIT_S[m[2]!]!;
  return Math.round(total * 1000) / 1000;
}

const SIZE_UNIT_MIB: Record<string, number> = {
  B: 1 / 1048576, KB: 1000 / 1048576, MB: 1e6 / 1048576, GB: 1e9 / 1048576, TB: 1e12 / 1048576,
  KiB: 1 / 1024, MiB: 1, GiB: 1024, TiB: 1048576,
};

export type SizeUnit = 'MiB' | 'GiB';

/** MiB of a Size; a bare number is in `bareUnit`. Undefined when malformed. */
export function parseSize(v: string | number, bareUnit: SizeUnit = 'MiB'): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * SIZE_UNIT_MIB[bareUnit]! : undefined;
  const m = SIZE_RE.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * SIZE_UNIT_MIB[m[3]!]!;
}

/** Human form of a MiB amount for messages ("4GiB", "256MiB"). */
export function formatMiB(mib: number): string {
  if (mib >= 1048576 && mib % 1048576 === 0) return `${mib / 1048576}TiB`;
  if (mib >= 1024 && mib % 1024 === 0) return `${mib / 1024}GiB`;
  return `${mib}MiB`;
}

/** Params carried by our own issues (refinements), read back by problems.ts. */
export interface IssueParams { def: string; expected: string; hint?: string }

/**
 * A Size field: a string with a unit or a bare number in `bareUnit`, optionally bounded (in MiB).
 * The description is also the `expected` of its error messages.
 */
export function size(bareUnit: SizeUnit, bounds: { min?: number; max?: number } = {}) {
  const range = bounds.min !== undefined || bounds.max !== undefined
    ? ` of ${bounds.min !== undefined ? formatMiB(bounds.min) : '0'}–${bounds.max !== undefined ? formatMiB(bounds.max) : '∞'}` : '';
  return z.union([z.number().nonnegative(), z.string().regex(SIZE_RE)])
    .superRefine((v, ctx) => {
      const mib = parseSize(v, bareUnit)!;
      if ((bounds.min !== undefined && mib < bounds.min) || (bounds.max !== undefined && mib > bounds.max)) {
        ctx.addIssue({ code: 'custom', message: '', params: { def: 'DEF_RANGE', expected: `a size${range}` } satisfies IssueParams });
      }
    })
    .meta({ description: `a size such as "4GiB" or a number of ${bareUnit}${range}` });
}

/** A Duration field: "500ms", "30s", "1h30m", "7d", or a number of seconds. */
export const Duration = z.union([z.number().nonnegative(), z.string().regex(DURATION_RE)])
  .meta({ description: 'a duration such as "30s", "5m", "1h30m" or a number of seconds' });
