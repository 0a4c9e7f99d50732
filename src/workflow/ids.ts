/**
 * Ids of the API (api.md §1.3): a type prefix and a ULID, so they sort by creation time. The
 * random part comes from a pooled CSPRNG buffer: ulidx's default asks the OS for one byte per
 * character, which was a third of the engine's CPU (several ids per operation).
 */
import { randomFillSync } from 'node:crypto';
import { ulid } from 'ulidx';

const pool = new Uint32Array(2048);
let at = pool.length;
const prng = (): number => {
  if (at === pool.length) { randomFillSync(pool); at = 0; }
  return pool[at++]! / 2 ** 32;
};

export const newId = (prefix: string, time?: number): string => `${prefix}_${ulid(time, prng)}`;
