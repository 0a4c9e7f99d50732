import { hostname } from 'node:os';
import type Database from 'better-sqlite3';
import type { AppliedChange, LockRecord, ResourceState, StateStore } from '../types.js';
import { openStateDb, whenWritable } from './open.js';

/** The SQLite state store of one workspace. Queries are prepared once; writes batch in one transaction. */
export class SqliteStateStore implements StateStore {
  private readonly db: Database.Database;
  private readonly q;

  constructor(wsPath: string) {
    // writes wait in whenWritable, never in SQLite's synchronous busy handler
    this.db = openStateDb(wsPath, { busyTimeoutMs: 0 });
    const db = this.db;
    this.q = {
      list: db.prepare(`SELECT doc FROM resources WHERE workspace = ? AND (? IS NULL OR infra = ?) AND (? IS NULL OR kind = ?)
                        AND (? = 1 OR status NOT IN ('deleted')) ORDER BY kind, name`),
      get: db.prepare('SELECT doc FROM resources WHERE id = ?'),
      upsert: db.prepare(`INSERT INTO resources (id, kind, workspace, infra, name, parent, status, checksum, generation, doc, created_at, updated_at)
                          VALUES (@id, @kind, @workspace, @infra, @name, @parent, @status, @checksum, @generation, @doc, @created_at, @updated_at)
                          ON CONFLICT(id) DO UPDATE SET status = excluded.status, checksum = excluded.checksum, generation = excluded.generation,
                          doc = excluded.doc, parent = excluded.parent, updated_at = excluded.updated_at`),
      change: db.prepare(`INSERT INTO resource_changes (resource_id, action, generation, checksum, workflow_id, command, diff, at)
                          VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      history: db.prepare(`SELECT * FROM resource_changes WHERE (? IS NULL OR resource_id = ?) ORDER BY seq DESC LIMIT ?`),
      lockGet: db.prepare('SELECT * FROM locks WHERE scope = ?'),
      lockPut: db.prepare(`INSERT OR REPLACE INTO locks (scope, holder, pid, host, command, reason, acquired_at, expires_at)
                           VALUES (@scope, @holder, @pid, @host, @command, @reason, @acquired_at, @expires_at)`),
      lockDel: db.prepare('DELETE FROM locks WHERE scope = ? AND (? IS NULL OR holder = ?)'),
      lockAll: db.prepare('SELECT * FROM locks ORDER BY scope'),
    };
  }

  async listResources(f: { workspace: string; infra?: string; kind?: ResourceState['kind']; includeDeleted?: boolean }): Promise<ResourceState[]> {
    const infra = f.infra ?? null;
    const kind = f.kind ?? null;
    return (this.q.list.all(f.workspace, infra, infra, kind, kind, f.includeDeleted ? 1 : 0) as { doc: string }[]).map((r) => JSON.parse(r.doc) as ResourceState);
  }

  async getResource(id: string): Promise<ResourceState | undefined> {
    const row = this.q.get.get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as ResourceState) : undefined;
  }

  async applyChanges(changes: Parameters<StateStore['applyChanges']>[0]): Promise<void> {
    const now = new Date().toISOString();
    await whenWritable(() => this.db.transaction(() => {
      for (const c of changes) {
        const r = c.record;
        this.q.upsert.run({ id: r.id, kind: r.kind, workspace: r.workspace, infra: r.infra, name: r.name, parent: r.parent ?? null, status: r.status,
          checksum: r.checksum, generation: r.generation, doc: JSON.stringify(r), created_at: r.created_at, updated_at: r.updated_at });
        this.q.change.run(r.id, c.action, r.generation, r.checksum, c.workflow_id ?? null, c.command, JSON.stringify(c.diff ?? {}), now);
      }
    })());
  }

  async history(f: { resource_id?: string; limit?: number }): Promise<AppliedChange[]> {
    const id = f.resource_id ?? null;
    return (this.q.history.all(id, id, f.limit ?? 100) as (Omit<AppliedChange, 'diff' | 'workflow_id'> & { diff: string; workflow_id: string | null })[])
      .map((r) => ({ ...r, workflow_id: r.workflow_id ?? undefined, diff: JSON.parse(r.diff) as AppliedChange['diff'] }));
  }

  async tryLock(lock: LockRecord): Promise<{ acquired: true; replaced?: LockRecord } | { acquired: false; held: LockRecord }> {
    // BEGIN IMMEDIATE: the read and the write happen under SQLite's write lock, so two processes cannot both win.
    return whenWritable(() => this.db.transaction(() => {
      const held = this.rowToLock(this.q.lockGet.get(lock.scope));
      if (held && held.holder !== lock.holder && !isStale(held)) return { acquired: false as const, held };
      this.q.lockPut.run({ ...lock, pid: lock.pid ?? null, expires_at: lock.expires_at ?? null });
      return held && held.holder !== lock.holder ? { acquired: true as const, replaced: held } : { acquired: true as const };
    }).immediate());
  }

  async releaseLock(scope: string, holder?: string): Promise<boolean> {
    const h = holder ?? null;
    return whenWritable(() => this.q.lockDel.run(scope, h, h).changes > 0);
  }

  async locks(): Promise<LockRecord[]> {
    return (this.q.lockAll.all() as unknown[]).map((r) => this.rowToLock(r)!);
  }

  async close(): Promise<void> {
    this.db.close();
  }

  private rowToLock(row: unknown): LockRecord | undefined {
    if (!row) return undefined;
    const r = row as Record<string, unknown>;
    const out: LockRecord = { scope: String(r.scope), holder: String(r.holder), host: String(r.host), command: String(r.command), reason: String(r.reason), acquired_at: String(r.acquired_at) };
    if (r.pid !== null && r.pid !== undefined) out.pid = Number(r.pid);
    if (r.expires_at) out.expires_at = String(r.expires_at);
    return out;
  }
}

/** Expired, or held by a process of this host that no longer exists (crash, kill -9). */
export function isStale(l: LockRecord, now = Date.now()): boolean {
  if (l.expires_at && Date.parse(l.expires_at) <= now) return true;
  if (l.pid !== undefined && l.host === hostname()) {
    try {
      process.kill(l.pid, 0);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  return false;
}
