import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type Database from 'better-sqlite3';
import { newId } from '../../workflow/ids.js';
import type {
  Checkpoint, Event, IdempotencyRecord, LogEntry, LogFilter, NewEvent, NewLog, OperationRow, Page, Rollback,
  TaskFilter, WorkerRow, WorkflowFilter, WorkflowRow,
} from '../../workflow/types.js';
import { ACTIVE, LEVELS } from '../../workflow/types.js';
import type { WorkflowStore, WorkflowTx } from '../workflows.js';
import { openStateDbFile } from './open.js';

const POLL_MS = 100;

type Row = { doc: string };

/** WHERE clauses and their arguments, built up filter by filter; `inList` skips empty filters. */
function conditions() {
  const where: string[] = [];
  const args: unknown[] = [];
  const inList = (col: string, vals?: readonly unknown[]) => {
    if (!vals?.length) return;
    where.push(`${col} IN (${vals.map(() => '?').join(',')})`);
    args.push(...vals);
  };
  return { where, args, inList };
}
const parse = <T>(rows: Row[]): T[] => rows.map((r) => JSON.parse(r.doc) as T);

/**
 * The SQLite workflow store: tables in the workspace's state.db (or any file named by
 * `orchestrator.storage.url`). WAL with `synchronous = NORMAL`: a commit survives `kill -9` of the
 * process (the WAL is in the OS's page cache), not a power cut — the trade SQLite documents for WAL.
 * Each row is a JSON document plus the columns queries filter on. Another process's writes are
 * noticed by polling the latest event seq while someone listens.
 */
export class SqliteWorkflowStore implements WorkflowStore {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  private readonly db: Database.Database;
  private readonly listeners = new Set<(seq: number) => void>();
  private chain: Promise<unknown> = Promise.resolve();
  private poll: NodeJS.Timeout | undefined;
  private seenSeq = 0;
  /** the largest seq the current transaction appended (0: none) */
  private appended = 0;
  private readonly q;

  constructor(file: string, opts: { busyTimeoutMs?: number } = {}) {
    this.location = file;
    this.db = openStateDbFile(file, join(dirname(file), 'backups'), opts);
    this.db.pragma('synchronous = NORMAL');
    const db = this.db;
    this.q = {
      claim: db.prepare(`SELECT doc FROM workflows WHERE status IN (${ACTIVE.map((s) => `'${s}'`).join(',')}) AND wake_at IS NOT NULL AND wake_at <= ?
                         ORDER BY priority DESC, created_at ASC LIMIT ?`),
      wf: db.prepare('SELECT doc FROM workflows WHERE id = ?'),
      due: db.prepare(`SELECT 1 FROM workflows WHERE status IN (${ACTIVE.map((s) => `'${s}'`).join(',')}) AND wake_at IS NOT NULL AND wake_at <= ? LIMIT 1`),
      dueOne: db.prepare(`SELECT 1 FROM workflows WHERE id = ? AND status IN (${ACTIVE.map((s) => `'${s}'`).join(',')}) AND wake_at IS NOT NULL AND wake_at <= ?`),
      ops: db.prepare('SELECT doc FROM operations WHERE workflow_id = ? ORDER BY idx'),
      insWf: db.prepare(`INSERT INTO workflows (id, status, kind, workspace, infra, priority, created_at, wake_at, doc)
                         VALUES (@id, @status, @kind, @workspace, @infra, @priority, @created_at, @wake_at, @doc)`),
      updWf: db.prepare('UPDATE workflows SET status = @status, priority = @priority, wake_at = @wake_at, doc = @doc WHERE id = @id'),
      putOp: db.prepare(`INSERT INTO operations (workflow_id, id, idx, status, task_id, lease_owner, lease_expires_at, doc)
                         VALUES (@workflow_id, @id, @idx, @status, @task_id, @lease_owner, @lease_expires_at, @doc)
                         ON CONFLICT(workflow_id, id) DO UPDATE SET status = excluded.status, task_id = excluded.task_id,
                         lease_owner = excluded.lease_owner, lease_expires_at = excluded.lease_expires_at, doc = excluded.doc`),
      expired: db.prepare(`SELECT DISTINCT workflow_id FROM operations WHERE status IN ('running', 'rolling_back')
                           AND (lease_expires_at < ? OR lease_owner IN (SELECT value FROM json_each(?)))`),
      renew: db.prepare(`UPDATE operations SET lease_expires_at = @until, doc = json_set(doc, '$.lease_expires_at', @until) WHERE lease_owner = @owner AND status IN ('running', 'rolling_back')`),
      owned: db.prepare(`SELECT DISTINCT o.workflow_id AS id FROM operations o JOIN workflows w ON w.id = o.workflow_id
                         WHERE o.lease_owner = ? AND o.status IN ('running', 'rolling_back') AND w.status = 'cancelling'`),
      insEvent: db.prepare('INSERT INTO events (workflow_id, timestamp, doc) VALUES (?, ?, ?)'),
      setEventDoc: db.prepare('UPDATE events SET doc = ? WHERE seq = ?'),
      insLog: db.prepare('INSERT INTO logs (workflow_id, operation_id, task_id, server, level, timestamp, doc) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insCkpt: db.prepare('INSERT INTO checkpoints (id, workflow_id, seq, trigger, created_at, doc) VALUES (@id, @workflow_id, @seq, @trigger, @created_at, @doc)'),
      putRb: db.prepare(`INSERT INTO rollbacks (id, workflow_id, status, mode, created_at, doc) VALUES (@id, @workflow_id, @status, @mode, @created_at, @doc)
                         ON CONFLICT(id) DO UPDATE SET status = excluded.status, doc = excluded.doc`),
      idemGet: db.prepare('SELECT doc FROM idempotency WHERE key = ?'),
      idemPut: db.prepare('INSERT OR REPLACE INTO idempotency (key, created_at, doc) VALUES (?, ?, ?)'),
      task: db.prepare('SELECT doc FROM operations WHERE task_id = ?'),
      events: db.prepare('SELECT seq, doc FROM events WHERE seq > ? ORDER BY seq LIMIT ?'),
      eventsOf: db.prepare('SELECT seq, doc FROM events WHERE seq > ? AND workflow_id IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?'),
      bounds: db.prepare('SELECT COALESCE(MIN(seq), 0) AS oldest, COALESCE(MAX(seq), 0) AS latest FROM events'),
      latest: db.prepare('SELECT COALESCE(MAX(seq), 0) AS latest FROM events'),
      ckpt: db.prepare('SELECT doc FROM checkpoints WHERE id = ?'),
      rb: db.prepare('SELECT doc FROM rollbacks WHERE id = ?'),
      putWorker: db.prepare('INSERT OR REPLACE INTO workers (instance_id, doc) VALUES (?, ?)'),
      delWorker: db.prepare('DELETE FROM workers WHERE instance_id = ?'),
      workers: db.prepare('SELECT doc FROM workers ORDER BY instance_id'),
    };
  }

  async tx<T>(fn: (t: WorkflowTx) => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      this.appended = 0;
      this.db.exec('BEGIN IMMEDIATE');
      let out: T;
      try {
        out = await fn(this.txApi());
        this.db.exec('COMMIT');
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
      if (this.appended) this.notify(this.appended);
      return out;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private latestSeq(): number {
    return (this.q.latest.get() as { latest: number }).latest;
  }

  private notify(seq: number): void {
    if (seq <= this.seenSeq) return;
    this.seenSeq = seq;
    for (const l of this.listeners) l(seq);
  }

  private txApi(): WorkflowTx {
    const { q } = this;
    const saveWf = (w: WorkflowRow) => ({ id: w.id, status: w.status, kind: w.kind, workspace: w.workspace, infra: w.infra, priority: w.priority, created_at: w.created_at, wake_at: w.wake_at, doc: JSON.stringify(w) });
    const saveOp = (o: OperationRow) => ({ workflow_id: o.workflow_id, id: o.id, idx: o.idx, status: o.status, task_id: o.task_id, lease_owner: o.lease_owner, lease_expires_at: o.lease_expires_at, doc: JSON.stringify(o) });
    return {
      lockWorkflows: async (x) => {
        if ('ids' in x) return x.ids.flatMap((id) => parse<WorkflowRow>(q.wf.all(id) as Row[]));
        const rows = parse<WorkflowRow>(q.claim.all(x.now, x.only ? 1_000_000 : x.limit) as Row[]);
        return x.only ? rows.filter((w) => x.only!.includes(w.id)).slice(0, x.limit) : rows;
      },
      operations: async (ids) => ids.flatMap((id) => parse<OperationRow>(q.ops.all(id) as Row[])),
      insertWorkflow: async (w, ops) => {
        q.insWf.run(saveWf(w));
        for (const o of ops) q.putOp.run(saveOp(o));
      },
      saveWorkflows: async (ws) => { for (const w of ws) q.updWf.run(saveWf(w)); },
      saveOperations: async (ops) => { for (const o of ops) q.putOp.run(saveOp(o)); },
      expiredLeases: async (now, dead) => (q.expired.all(now, JSON.stringify(dead)) as { workflow_id: string }[]).map((r) => r.workflow_id),
      renewLeases: async (owner, until) => {
        q.renew.run({ until, owner });
        return { cancelling: (q.owned.all(owner) as { id: string }[]).map((r) => r.id) };
      },
      appendEvents: async (es) => es.map((e) => this.insertEvent(e)),
      appendLogs: async (ls) => {
        const ts = new Date().toISOString();
        for (const l of ls) q.insLog.run(l.workflow_id ?? null, l.operation_id ?? null, l.task_id ?? null, l.server ?? null, LEVELS[l.level], ts, JSON.stringify(l));
      },
      insertCheckpoints: async (cs) => { for (const c of cs) q.insCkpt.run({ id: c.id, workflow_id: c.workflow_id, seq: c.seq, trigger: c.trigger, created_at: c.created_at, doc: JSON.stringify(c) }); },
      saveRollback: async (r) => { q.putRb.run({ id: r.id, workflow_id: r.workflow_id, status: r.status, mode: r.mode, created_at: r.started_at ?? new Date().toISOString(), doc: JSON.stringify(r) }); },
      getIdempotency: async (key) => parse<IdempotencyRecord>(q.idemGet.all(key) as Row[])[0],
      putIdempotency: async (r) => { q.idemPut.run(r.key, r.created_at, JSON.stringify(r)); },
    };
  }

  private insertEvent(e: NewEvent): Event {
    const timestamp = new Date().toISOString();
    const info = this.q.insEvent.run(e.workflow_id ?? null, timestamp, '{}');
    const seq = Number(info.lastInsertRowid);
    this.appended = Math.max(this.appended, seq);
    const ev: Event = { type: 'event', id: newId('evt'), seq, event_type: e.event_type, category: e.category, timestamp, source: 'orchestrator',
      ...(e.workflow_id ? { workflow_id: e.workflow_id } : {}), ...(e.task_id ? { task_id: e.task_id } : {}), data: e.data, metadata: e.metadata ?? {} };
    this.q.setEventDoc.run(JSON.stringify(ev), seq);
    return ev;
  }

  async anyDue(now: number, only?: string[]): Promise<boolean> {
    if (only?.length === 0) return false;
    return only ? only.some((id) => this.q.dueOne.get(id, now) !== undefined) : this.q.due.get(now) !== undefined;
  }

  async getWorkflow(id: string): Promise<WorkflowRow | undefined> {
    return parse<WorkflowRow>(this.q.wf.all(id) as Row[])[0];
  }

  async listWorkflows(f: WorkflowFilter, page: Page): Promise<{ rows: WorkflowRow[]; total: number }> {
    const { where, args, inList } = conditions();
    inList('status', f.status);
    inList('kind', f.kind);
    inList('infra', f.infra);
    inList('workspace', f.workspace);
    inList(`json_extract(doc, '$.submitted_by')`, f.submitted_by);
    inList(`json_extract(doc, '$.execution')`, f.execution);
    if (f.check_mode !== undefined) { where.push(`json_extract(doc, '$.check_mode') = ?`); args.push(f.check_mode ? 1 : 0); }
    for (const [k, v] of Object.entries(f.labels ?? {})) { where.push(`json_extract(doc, '$.labels.' || json_quote(?)) = ?`); args.push(k, v); }
    if (f.from) { where.push('created_at >= ?'); args.push(f.from); }
    if (f.to) { where.push('created_at <= ?'); args.push(f.to); }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const sortCol = f.sort === 'name' ? `json_extract(doc, '$.name')` : f.sort ?? 'created_at';
    const order = f.order === 'asc' ? 'ASC' : 'DESC';
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM workflows ${cond}`).get(...args) as { n: number }).n;
    const rows = parse<WorkflowRow>(this.db.prepare(`SELECT doc FROM workflows ${cond} ORDER BY ${sortCol} ${order}, id ${order} LIMIT ? OFFSET ?`).all(...args, page.limit, page.offset) as Row[]);
    return { rows, total };
  }

  async getOperations(workflowId: string): Promise<OperationRow[]> {
    return parse<OperationRow>(this.q.ops.all(workflowId) as Row[]);
  }

  async listTasks(f: TaskFilter, page: Page): Promise<{ rows: OperationRow[]; total: number }> {
    const { where, args, inList } = conditions();
    inList('o.status', f.status);
    inList('o.workflow_id', f.workflow_id);
    inList('o.id', f.operation_id);
    inList(`json_extract(o.doc, '$.type')`, f.kind?.map((k) => k.replace('.', '_')));
    inList('w.infra', f.infra);
    if (f.server?.length) {
      where.push(`EXISTS (SELECT 1 FROM json_each(o.doc, '$.servers') s WHERE s.value IN (${f.server.map(() => '?').join(',')}))`);
      args.push(...f.server);
    }
    if (f.from) { where.push('w.created_at >= ?'); args.push(f.from); }
    if (f.to) { where.push('w.created_at <= ?'); args.push(f.to); }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const from = 'FROM operations o JOIN workflows w ON w.id = o.workflow_id';
    const total = (this.db.prepare(`SELECT COUNT(*) AS n ${from} ${cond}`).get(...args) as { n: number }).n;
    const rows = parse<OperationRow>(this.db.prepare(`SELECT o.doc AS doc ${from} ${cond} ORDER BY w.created_at DESC, o.idx LIMIT ? OFFSET ?`).all(...args, page.limit, page.offset) as Row[]);
    return { rows, total };
  }

  async getTask(taskId: string): Promise<OperationRow | undefined> {
    return parse<OperationRow>(this.q.task.all(taskId) as Row[])[0];
  }

  async events(afterSeq: number, limit: number, workflowIds?: string[]): Promise<Event[]> {
    const rows = (workflowIds ? this.q.eventsOf.all(afterSeq, JSON.stringify(workflowIds), limit) : this.q.events.all(afterSeq, limit)) as Row[];
    return parse<Event>(rows);
  }

  async eventBounds(): Promise<{ oldest: number; latest: number }> {
    return this.q.bounds.get() as { oldest: number; latest: number };
  }

  async logs(f: LogFilter): Promise<LogEntry[]> {
    const where = ['seq > ?'];
    const args: unknown[] = [f.after_seq ?? 0];
    for (const k of ['workflow_id', 'operation_id', 'task_id', 'server'] as const) {
      if (f[k] !== undefined) { where.push(`${k} = ?`); args.push(f[k]); }
    }
    if (f.level) { where.push('level >= ?'); args.push(LEVELS[f.level]); }
    const rows = this.db.prepare(`SELECT seq, timestamp, doc FROM logs WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`).all(...args, f.limit) as { seq: number; timestamp: string; doc: string }[];
    return rows.map((r) => ({ ...(JSON.parse(r.doc) as NewLog), seq: r.seq, timestamp: r.timestamp }));
  }

  async checkpoints(f: { workflow_id?: string; trigger?: string[]; from?: string; to?: string }, page: Page): Promise<{ rows: Checkpoint[]; total: number }> {
    const { where, args, inList } = conditions();
    if (f.workflow_id) { where.push('workflow_id = ?'); args.push(f.workflow_id); }
    inList('trigger', f.trigger);
    if (f.from) { where.push('created_at >= ?'); args.push(f.from); }
    if (f.to) { where.push('created_at <= ?'); args.push(f.to); }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM checkpoints ${cond}`).get(...args) as { n: number }).n;
    const rows = parse<Checkpoint>(this.db.prepare(`SELECT doc FROM checkpoints ${cond} ORDER BY created_at, seq LIMIT ? OFFSET ?`).all(...args, page.limit, page.offset) as Row[]);
    return { rows, total };
  }

  async getCheckpoint(id: string): Promise<Checkpoint | undefined> {
    return parse<Checkpoint>(this.q.ckpt.all(id) as Row[])[0];
  }

  async rollbacks(f: { workflow_id?: string; status?: string[]; mode?: string[] }, page: Page): Promise<{ rows: Rollback[]; total: number }> {
    const { where, args, inList } = conditions();
    if (f.workflow_id) { where.push('workflow_id = ?'); args.push(f.workflow_id); }
    inList('status', f.status);
    inList('mode', f.mode);
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM rollbacks ${cond}`).get(...args) as { n: number }).n;
    const rows = parse<Rollback>(this.db.prepare(`SELECT doc FROM rollbacks ${cond} ORDER BY created_at DESC LIMIT ? OFFSET ?`).all(...args, page.limit, page.offset) as Row[]);
    return { rows, total };
  }

  async getRollback(id: string): Promise<Rollback | undefined> {
    return parse<Rollback>(this.q.rb.all(id) as Row[])[0];
  }

  async upsertWorker(w: WorkerRow): Promise<void> {
    this.q.putWorker.run(w.instance_id, JSON.stringify(w));
  }

  async removeWorker(instanceId: string): Promise<void> {
    this.q.delWorker.run(instanceId);
  }

  async workers(): Promise<WorkerRow[]> {
    return parse<WorkerRow>(this.q.workers.all() as Row[]);
  }

  async deleteWorkflows(ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const list = JSON.stringify(ids);
    let n = 0;
    this.db.transaction(() => {
      for (const t of ['operations', 'events', 'logs', 'checkpoints', 'rollbacks']) this.db.prepare(`DELETE FROM ${t} WHERE workflow_id IN (SELECT value FROM json_each(?))`).run(list);
      n = this.db.prepare('DELETE FROM workflows WHERE id IN (SELECT value FROM json_each(?))').run(list).changes;
    })();
    return n;
  }

  async prune(before: string): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM events WHERE timestamp < ?').run(before);
      this.db.prepare('DELETE FROM logs WHERE timestamp < ?').run(before);
      this.db.prepare('DELETE FROM idempotency WHERE created_at < ?').run(before);
    })();
  }

  async sizeBytes(): Promise<number> {
    let n = 0;
    for (const f of [this.location, `${this.location}-wal`]) {
      try { n += statSync(f).size; } catch { /* no WAL yet */ }
    }
    return n;
  }

  onEvents(listener: (latestSeq: number) => void): () => void {
    this.listeners.add(listener);
    if (!this.poll) {
      this.seenSeq = Math.max(this.seenSeq, this.latestSeq());
      this.poll = setInterval(() => this.notify(this.latestSeq()), POLL_MS);
      this.poll.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.poll) { clearInterval(this.poll); this.poll = undefined; }
    };
  }

  async close(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    await this.chain;
    this.db.close();
  }
}
