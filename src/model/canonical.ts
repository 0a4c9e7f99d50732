import { createHash } from 'node:crypto';
import { SECRET_REF_RE } from './fields.js';
import { formatPath, type PathSegment } from './problems.js';

/**
 * The canonical spec of spec/models.md §7: the resolved object with keys sorted, absent
 * (undefined) fields omitted and secrets replaced by "<secret>", so that its checksum changes
 * only when the desired state does. Sizes and durations are already normalised numbers in
 * resolved objects (memory_mb, disk_gb, running_timeout_s); settings values are normalised by
 * the caller with `normalizeFieldValues` before they get here.
 */

export const SECRET_MASK = '<secret>';

export interface CanonicalOptions {
  /** Dotted/indexed paths (as `formatPath` prints them) of values that are secrets whatever they hold. */
  secretPaths?: Iterable<string>;
}

/** A string that names a secret rather than holding data: ENC[...] or {{kms.decrypt("…")}}. */
export function isSecretRef(v: unknown): v is string {
  return typeof v === 'string' && SECRET_REF_RE.test(v.trim());
}

export function canonicalSpec<T>(obj: T, opts: CanonicalOptions = {}): T {
  const secretPaths = new Set(opts.secretPaths ?? []);
  // One mutable path stack: formatted only for secret paths and errors, so large specs stay cheap.
  const at: PathSegment[] = [];
  const walk = (v: unknown): unknown => {
    if (secretPaths.size > 0 && secretPaths.has(formatPath(at))) return SECRET_MASK;
    if (typeof v === 'string') return isSecretRef(v) ? SECRET_MASK : v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new Error(`${formatPath(at)}: ${v} has no canonical form`);
      return v;
    }
    if (v === null || typeof v === 'boolean') return v;
    if (Array.isArray(v)) {
      const out = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) { at.push(i); out[i] = walk(v[i]); at.pop(); }
      return out;
    }
    if (typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        at.push(k); out[k] = walk(x); at.pop();
      }
      return out;
    }
    throw new Error(`${formatPath(at)}: ${typeof v} has no canonical form`);
  };
  return walk(obj) as T;
}

/** `sha256:<hex>` of the canonical JSON of `obj`. */
export function checksum(obj: unknown, opts: CanonicalOptions = {}): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(canonicalSpec(obj, opts))).digest('hex')}`;
}

/** The secret values of `obj` by path (for the store's `secret_digests`). */
export function secretValues(obj: unknown, opts: CanonicalOptions = {}): { path: string; value: string }[] {
  const secretPaths = new Set(opts.secretPaths ?? []);
  const out: { path: string; value: string }[] = [];
  const walk = (v: unknown, at: PathSegment[]): void => {
    if (typeof v === 'string') {
      if (isSecretRef(v) || secretPaths.has(formatPath(at))) out.push({ path: formatPath(at), value: v });
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, i]));
    else if (v && typeof v === 'object') for (const k of Object.keys(v).sort()) walk((v as Record<string, unknown>)[k], [...at, k]);
  };
  walk(obj, []);
  return out;
}
