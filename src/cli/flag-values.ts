import { ProvError } from '../errors/index.js';
import { parseDuration } from '../config/schema.js';
import type { Invocation } from './context.js';

/** A duration flag (`--lock-timeout 30s`, `--ttl 2h`; a bare number is seconds) in milliseconds. */
export function durationFlag(inv: Invocation, flag: string): number | undefined {
  const raw = inv.flags[flag] as string | undefined;
  if (raw === undefined) return undefined;
  const s = parseDuration(/^\d+$/.test(raw) ? Number(raw) : raw);
  if (s === undefined) throw new ProvError('INVALID_ARGUMENT', `--${flag} expects a duration such as 30s, 15m, 1h30m; got '${raw}'`);
  return s;
}
