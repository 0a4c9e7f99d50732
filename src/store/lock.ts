import { hostname, userInfo } from 'node:os';
import { ProvError } from '../errors/index.js';
import type { LockRecord, StateStore } from './types.js';

/**
 * Locks that keep two mutating runs on one infra from interleaving. A run holds
 * `infra:<workspace>/<infra>` while it changes anything; a second run fails at once with
 * LOCKED (exit 6), or waits up to `waitMs` with a message. A manual maintenance lock
 * (`workspace lock`) has the same scope and blocks runs until it is released or expires.
 */

export const infraScope = (workspace: string, infra: string) => `infra:${workspace}/${infra}`;
export const runHolder = () => `pid:${process.pid}@${hostname()}`;
export const userHolder = () => `user:${userInfo().username}`;

export function describeLock(l: LockRecord): string {
  const who = l.holder.startsWith('user:') ? `${l.holder.slice(5)} (manual lock)` : `${l.command || 'a run'} (pid ${l.pid ?? '?'} on ${l.host})`;
  return `${who} since ${l.acquired_at}${l.reason ? `: ${l.reason}` : ''}${l.expires_at ? `, expires ${l.expires_at}` : ''}`;
}

export function lockedError(scope: string, held: LockRecord): ProvError {
  return new ProvError('LOCKED', `${scope.replace(/^infra:/, 'infra ')} is locked by ${describeLock(held)}`, {
    details: { scope, holder: held.holder, since: held.acquired_at },
    hint: held.holder.startsWith('user:')
      ? '`provisioning workspace unlock` releases it (`--force` for someone else\'s)'
      : 'wait for that run, or pass --lock-timeout <duration> to wait; a lock left by a crashed run is taken over automatically',
  });
}

/** Take the lock of a run, waiting up to `waitMs`; returns the release function. */
export async function acquireRunLock(
  store: StateStore, scope: string, opts: { command: string; waitMs?: number; onWait?: (held: LockRecord) => void; onTakeover?: (stale: LockRecord) => void },
): Promise<() => Promise<void>> {
  const lock: LockRecord = { scope, holder: runHolder(), pid: process.pid, host: hostname(), command: opts.command, reason: '', acquired_at: new Date().toISOString() };
  const deadline = Date.now() + (opts.waitMs ?? 0);
  let told = false;
  for (;;) {
    const r = await store.tryLock({ ...lock, acquired_at: new Date().toISOString() });
    if (r.acquired) {
      if (r.replaced) opts.onTakeover?.(r.replaced);
      return async () => { await store.releaseLock(scope, lock.holder); };
    }
    if (Date.now() >= deadline) throw lockedError(scope, r.held);
    if (!told) { opts.onWait?.(r.held); told = true; }
    await new Promise((res) => setTimeout(res, Math.min(500, Math.max(10, deadline - Date.now()))));
  }
}
