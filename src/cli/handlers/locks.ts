import { hostname } from 'node:os';
import { ProvError } from '../../errors/index.js';
import { durationFlag } from '../flag-values.js';
import { acquireRunLock, describeLock, infraScope, lockedError, userHolder } from '../../store/lock.js';
import { SqliteStateStore } from '../../store/sqlite/state.js';
import type { LockRecord } from '../../store/types.js';
import type { Invocation, Result } from '../context.js';

/** `workspace lock|unlock|lock-status`: the infra lock that mutating runs take (spec/cli.md §11). */

async function target(inv: Invocation) {
  const cfg = await inv.config({ requireWorkspace: true });
  const ws = cfg.target.workspace!;
  const scope = cfg.target.infra ? infraScope(ws.name, cfg.target.infra) : `workspace:${ws.name}`;
  return { ws, scope };
}

const lockView = (l: LockRecord) => ({ kind: 'kv' as const, entries: Object.entries(l) as [string, unknown][] });

export async function lock(inv: Invocation): Promise<Result> {
  const { ws, scope } = await target(inv);
  const ttl = durationFlag(inv, 'ttl');
  const now = new Date();
  const record: LockRecord = {
    scope, holder: userHolder(), host: hostname(), command: 'workspace lock', reason: (inv.flags.reason as string | undefined) ?? '',
    acquired_at: now.toISOString(), ...(ttl ? { expires_at: new Date(now.getTime() + ttl).toISOString() } : {}),
  };
  if (inv.globals.check) return { data: { would_lock: record }, view: { kind: 'text', text: `would lock ${scope}\n${describeLock(record)}` } };
  const store = new SqliteStateStore(ws.path);
  try {
    // Wait like a run would, then turn the short run lock into the long manual one.
    const release = await acquireRunLock(store, scope, {
      command: 'workspace lock', waitMs: durationFlag(inv, 'lock-timeout') ?? 0,
      onWait: (held) => inv.info(`waiting for ${scope}: held by ${describeLock(held)}`),
      onTakeover: (stale) => inv.warn(`took over a stale lock of ${describeLock(stale)}`),
    });
    await release();
    const r = await store.tryLock(record);
    if (!r.acquired) throw lockedError(scope, r.held);
    return { data: record, view: lockView(record) };
  } finally {
    await store.close();
  }
}

export async function unlock(inv: Invocation): Promise<Result> {
  const { ws, scope } = await target(inv);
  const store = new SqliteStateStore(ws.path);
  try {
    const held = (await store.locks()).find((l) => l.scope === scope);
    if (!held) throw new ProvError('NOT_FOUND', `${scope} is not locked`, { hint: '`provisioning workspace lock-status` lists the locks' });
    const force = inv.flags.force === true;
    if (held.holder !== userHolder() && !force) {
      throw new ProvError('LOCKED', `${scope} is held by ${describeLock(held)}, not by you`, { hint: 'pass --force to release somebody else\'s lock (admin)' });
    }
    if (inv.globals.check) return { data: { would_release: held }, view: { kind: 'text', text: `would release ${scope} (${describeLock(held)})` } };
    if (held.holder !== userHolder()) await inv.confirm(`Release the lock of ${describeLock(held)}?`);
    await store.releaseLock(scope, held.holder);
    return { data: { released: held }, view: { kind: 'text', text: `released ${scope}` } };
  } finally {
    await store.close();
  }
}

export async function status(inv: Invocation): Promise<Result> {
  const { ws } = await target(inv);
  const store = new SqliteStateStore(ws.path);
  try {
    const locks = await store.locks();
    return {
      data: locks,
      view: { kind: 'table', columns: ['scope', 'holder', 'command', 'since', 'expires', 'reason'], rows: locks.map((l) => [l.scope, l.holder, l.command, l.acquired_at, l.expires_at ?? '', l.reason]) },
    };
  } finally {
    await store.close();
  }
}
