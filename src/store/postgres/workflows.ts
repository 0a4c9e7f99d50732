import pg from 'pg';
import { newId } from '../../workflow/ids.js';
import { ProvError } from '../../errors/index.js';
import type {
  Checkpoint, Event, IdempotencyRecord, LogEntry, LogFilter, NewLog, OperationRow, Page, Rollback,
  TaskFilter, WorkerRow, WorkflowFilter, WorkflowRow,
} from '../../workflow/types.js';
import { ACTIVE, LEVELS } from '../../workflow/types.js';
import type { WorkflowStore, WorkflowTx } from '../workflows.js';
import { LOCK_APPEND, LOCK_SPACE, migratePg } from './migrations.js';

const CHANNEL = 'provisioning_events';
const RECONNECT_MS = 1000;
const CONNECT_TIMEOUT_MS = 10_000;
/** application_name of the LISTEN connection, so it can be told apart in pg_stat_activity */
export const LISTENER_NAME = 'provisioning-events';
const LEASED = `('running', 'rolling_back')`;
const ACTIVE_SQL = `(${ACTIVE.map((s) => `'${s}'`).join(', ')})`;

/**
 * How each table's columns come from its row document `d` (a jsonb value): one place, used by
 * inserts and updates alike, so a column never drifts from its document.
 */
const COLS = {
  workflows: {
    id: `d->>'id'`, status: `d->>'status'`, kind: `d->>'kind'`, workspace: `d->>'workspace'`, infra: `d->>'infra'`,
    priority: `(d->>'priority')::integer`, created_at: `(d->>'created_at')::timestamptz`, wake_at: `(d->>'wake_at')::bigint`,
    execution: `d->>'execution'`, submitted_by: `d->>'submitted_by'`, check_mode: `(d->>'check_mode')::boolean`, doc: 'd',
  },
  operations: {
    workflow_id: `d->>'workflow_id'`, id: `d->>'id'`, idx: `(d->>'idx')::integer`, status: `d->>'status'`, task_id: `d->>'task_id'`,
    lease_owner: `d->>'lease_owner'`, lease_expires_at: `(d->>'lease_expires_at')::bigint`, doc: 'd',
  },
  checkpoints: {
    id: `d->>'id'`, workflow_id: `d->>'workflow_id'`, seq: `(d->>'seq')::integer`, trigger: `d->>'trigger'`, created_at: `(d->>'created_at')::timestamptz`, doc: 'd',
  },
  workers: { instance_id: `d->>'instance_id'`, doc: 'd' },
  idempotency: { key: `d->>'key'`, created_at: `(d->>'created_at')::timestamptz`, doc: 'd' },
} as const;

/** INSERT rows from a jsonb array ($1); `upsert` names the conflict key and the columns an existing row takes over. */
function insertSql(table: keyof typeof COLS, upsert?: { key: string[]; set: string[] }): string {
  const cols: Record<string, string> = COLS[table];
  const names = Object.keys(cols);
  const conflict = upsert ? ` ON CONFLICT (${upsert.key.join(', ')}) DO UPDATE SET ${upsert.set.map((c) => `${c} = excluded.${c}`).join(', ')}` : '';
  return `INSERT INTO ${table} (${names.join(', ')}) SELECT ${names.map((n) => cols[n]).join(', ')} FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(d, n) ORDER BY n${conflict}`;
}

const SQL = {
  insWf: insertSql('workflows'),
  updWf: `UPDATE workflows w SET (${Object.keys(COLS.workflows).join(', ')}) = (${Object.values(COLS.workflows).join(', ')})
          FROM jsonb_array_elements($1::jsonb) AS x(d) WHERE w.id = d->>'id'`,
  putOps: insertSql('operations', { key: ['workflow_id', 'id'], set: ['idx', 'status', 'task_id', 'lease_owner', 'lease_expires_at', 'doc'] }),
  insCkpt: insertSql('checkpoints'),
  putWorker: insertSql('workers', { key: ['instance_id'], set: ['doc'] }),
  putIdem: insertSql('idempotency', { key: ['key'], set: ['created_at', 'doc'] }),
};

/**
 * PostgreSQL text and jsonb cannot hold U+0000, and command output sometimes does: such
 * characters become U+FFFD rather than failing the whole transaction.
 */
const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'string' && x.includes('\0') ? x.replaceAll('\0', '\uFFFD') : x));

/**
 * Rows that share a key keep the last one (one statement may not touch a row twice), sorted by key
 * (bytewise, as `COLLATE "C"` sorts ASCII ids) so concurrent writers lock rows in the same order.
 */
function lastByKey<T>(rows: T[], key: (r: T) => string): T[] {
  return [...new Map(rows.map((r) => [key(r), r])).values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** A WHERE clause with numbered parameters. */
class Where {
  readonly parts: string[] = [];
  readonly args: unknown[] = [];
  param(v: unknown): string {
    this.args.push(v);
    return `$${this.args.length}`;
  }
  add(sql: (p: (v: unknown) => string) => string): this {
    this.parts.push(sql((v) => this.param(v)));
    return this;
  }
  anyOf(col: string, vals: readonly unknown[] | undefined): this {
    return vals?.length ? this.add((p) => `${col} = ANY(${p(vals)})`) : this;
  }
  eq(col: string, v: unknown): this {
    return v === undefined ? this : this.add((p) => `${col} = ${p(v)}`);
  }
  range(col: string, from?: string, to?: string): this {
    if (from) this.add((p) => `${col} >= ${p(from)}::timestamptz`);
    if (to) this.add((p) => `${col} <= ${p(to)}::timestamptz`);
    return this;
  }
  get sql(): string {
    return this.parts.length ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
}

type DocRow<T> = { doc: T };
const docs = <T>(r: pg.QueryResult<DocRow<T>>): T[] => r.rows.map((x) => x.doc);

/** The URL without its password, for messages and `location`. */
function redact(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ProvError('CONFIG_INVALID', 'orchestrator.storage.url is not a valid PostgreSQL URL', { hint: 'e.g. postgres://prov@db:5432/prov?sslmode=require' });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new ProvError('CONFIG_INVALID', `orchestrator.storage.url must be a postgres:// URL, not ${u.protocol}//`, { hint: 'e.g. postgres://prov@db:5432/prov?sslmode=require' });
  }
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * The PostgreSQL workflow store: several orchestrator instances share one database.
 *
 * - Claiming: `lockWorkflows({claimable})` is `FOR UPDATE SKIP LOCKED`, so instances claim
 *   disjoint workflows without waiting on each other; `{ids}` waits (`FOR UPDATE`).
 * - Event order: seq comes from a sequence, and sequence values are handed out at insert, not at
 *   commit. A reader polling `seq > last` would skip an event whose transaction commits after a
 *   later seq was already read. So appending events (and logs, read the same way) takes one
 *   transaction-scoped advisory lock first: appenders take turns until commit, and seq order is
 *   commit order.
 *   The lock is held until commit, so a transaction should lock its workflows before it appends:
 *   appending first and then waiting for a row lock whose holder wants to append is a deadlock
 *   (PostgreSQL aborts one of the two).
 * - Text sorts bytewise (`COLLATE "C"`), as in SQLite, whatever the database's collation.
 * - Fan-out: a transaction that appended events sends `NOTIFY provisioning_events, '<latest seq>'`
 *   (delivered at commit only); every instance LISTENs on one dedicated connection.
 */
export class PostgresWorkflowStore implements WorkflowStore {
  readonly kind = 'postgres' as const;
  private readonly listeners = new Set<(seq: number) => void>();
  private readonly inflight = new Set<Promise<unknown>>();
  private seenSeq = 0;
  private listener: pg.Client | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly url: string, readonly location: string, private readonly pool: pg.Pool) {}

  static async open(url: string, opts: { poolSize?: number } = {}): Promise<PostgresWorkflowStore> {
    const location = redact(url);
    // Migrations run on a connection of their own: ending it releases the session advisory lock whatever happened.
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    c.on('error', () => undefined); // a broken connection also fails the pending query, which is what we report
    try {
      await c.connect();
    } catch (e) {
      throw new ProvError('UNAVAILABLE', `cannot connect to PostgreSQL at ${location}: ${(e as Error).message}`, {
        cause: e, details: { reason: 'store unreachable' },
        hint: 'check orchestrator.storage.url, that the server is up, and the password (PGPASSWORD or ~/.pgpass)',
      });
    }
    try {
      await migratePg(c, location);
    } finally {
      await c.end().catch(() => undefined);
    }
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    // An idle client whose connection breaks emits here; the pool drops it and the next query opens a new one.
    pool.on('error', () => undefined);
    return new PostgresWorkflowStore(url, location, pool);
  }

  /** BEGIN … COMMIT on one pooled connection; ROLLBACK and rethrow when `fn` throws. */
  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let out: T;
    try {
      await c.query('BEGIN');
      out = await fn(c);
      await c.query('COMMIT');
    } catch (e) {
      // A broken connection cannot roll back; destroying it ends the transaction on the server.
      const broken = await c.query('ROLLBACK').then(() => false, () => true);
      c.release(broken);
      throw e;
    }
    c.release();
    return out;
  }

  /**
   * Transactions of one process run concurrently, each on its own pooled connection: row locks
   * (workflows locked in id order, before the event-order advisory lock) keep them apart, as they
   * keep several instances apart. Serialising them in-process capped a busy service at one
   * transaction's round trips at a time.
   */
  async tx<T>(fn: (t: WorkflowTx) => Promise<T>): Promise<T> {
    const run = (async () => {
      const appended = { latest: 0, locked: false };
      const out = await this.transaction(async (c) => {
        const r = await fn(this.txApi(c, appended));
        // Delivered to every listening instance at COMMIT, and not at all on rollback.
        if (appended.latest) await c.query('SELECT pg_notify($1, $2)', [CHANNEL, String(appended.latest)]);
        return r;
      });
      if (appended.latest) this.emit(appended.latest);
      return out;
    })();
    this.inflight.add(run);
    void run.catch(() => undefined).finally(() => this.inflight.delete(run));
    return run;
  }

  private txApi(c: pg.PoolClient, appended: { latest: number; locked: boolean }): WorkflowTx {
    const appendLock = async () => {
      if (appended.locked) return;
      appended.locked = true;
      await c.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_SPACE, LOCK_APPEND]);
    };
    const saveOps = async (ops: OperationRow[]) => {
      if (ops.length) await c.query(SQL.putOps, [json(lastByKey(ops, (o) => `${o.workflow_id}\0${o.id}`))]);
    };
    return {
      lockWorkflows: async (q) => {
        if ('ids' in q) {
          // Sorted, so two instances locking overlapping sets cannot deadlock; returned in the order asked.
          const r = await c.query<DocRow<WorkflowRow>>(`SELECT doc FROM workflows WHERE id = ANY($1) ORDER BY id COLLATE "C" FOR UPDATE`, [q.ids]);
          const byId = new Map(docs(r).map((w) => [w.id, w]));
          return q.ids.flatMap((id) => byId.get(id) ?? []);
        }
        if (q.only?.length === 0) return [];
        const w = new Where().add((p) => `status IN ${ACTIVE_SQL} AND wake_at IS NOT NULL AND wake_at <= ${p(q.now)}`).anyOf('id', q.only);
        return docs(await c.query<DocRow<WorkflowRow>>(
          `SELECT doc FROM workflows ${w.sql} ORDER BY priority DESC, created_at ASC, id COLLATE "C" ASC LIMIT ${w.param(q.limit)} FOR UPDATE SKIP LOCKED`, w.args));
      },
      operations: async (ids) => docs(await c.query<DocRow<OperationRow>>(
        'SELECT o.doc FROM unnest($1::text[]) WITH ORDINALITY AS w(id, n) JOIN operations o ON o.workflow_id = w.id ORDER BY w.n, o.idx', [ids])),
      insertWorkflow: async (w, ops) => {
        await c.query(SQL.insWf, [json([w])]);
        await saveOps(ops);
      },
      saveWorkflows: async (ws) => {
        if (ws.length) await c.query(SQL.updWf, [json(lastByKey(ws, (w) => w.id))]);
      },
      saveOperations: saveOps,
      expiredLeases: async (now, dead) => (await c.query<{ workflow_id: string }>(
        `SELECT DISTINCT workflow_id FROM operations WHERE status IN ${LEASED} AND (lease_expires_at < $1 OR lease_owner = ANY($2)) ORDER BY workflow_id`,
        [now, dead])).rows.map((r) => r.workflow_id),
      renewLeases: async (owner, until) => {
        // Rows are locked in key order (as saveOperations writes them) so a heartbeat and a round cannot deadlock.
        const r = await c.query<{ id: string }>(`
          WITH mine AS (
            SELECT workflow_id, id FROM operations WHERE lease_owner = $1 AND status IN ${LEASED} ORDER BY workflow_id COLLATE "C", id COLLATE "C" FOR UPDATE
          ), renewed AS (
            UPDATE operations o SET lease_expires_at = $2, doc = jsonb_set(o.doc, '{lease_expires_at}', to_jsonb($2::bigint))
            FROM mine WHERE o.workflow_id = mine.workflow_id AND o.id = mine.id RETURNING o.workflow_id
          )
          SELECT DISTINCT w.id FROM workflows w JOIN renewed r ON r.workflow_id = w.id WHERE w.status = 'cancelling' ORDER BY w.id`, [owner, until]);
        return { cancelling: r.rows.map((x) => x.id) };
      },
      appendEvents: async (es) => {
        if (es.length === 0) return [];
        await appendLock();
        const seqs = (await c.query<{ seq: string }>(`SELECT nextval(pg_get_serial_sequence('events', 'seq')) AS seq FROM generate_series(1, $1)`, [es.length]))
          .rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
        const timestamp = new Date().toISOString();
        const events = es.map((e, i): Event => ({
          type: 'event', id: newId('evt'), seq: seqs[i]!, event_type: e.event_type, category: e.category, timestamp, source: 'orchestrator',
          ...(e.workflow_id ? { workflow_id: e.workflow_id } : {}), ...(e.task_id ? { task_id: e.task_id } : {}), data: e.data, metadata: e.metadata ?? {},
        }));
        await c.query(`INSERT INTO events (seq, workflow_id, timestamp, doc)
                       SELECT (d->>'seq')::bigint, d->>'workflow_id', (d->>'timestamp')::timestamptz, d FROM jsonb_array_elements($1::jsonb) AS x(d)`, [json(events)]);
        appended.latest = Math.max(appended.latest, seqs[seqs.length - 1]!);
        return events;
      },
      appendLogs: async (ls) => {
        if (ls.length === 0) return;
        await appendLock();
        await c.query(`INSERT INTO logs (workflow_id, operation_id, task_id, server, level, timestamp, doc)
                       SELECT d->>'workflow_id', d->>'operation_id', d->>'task_id', d->>'server', (($2::jsonb)->>(d->>'level'))::smallint, $3::timestamptz, d
                       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(d, n) ORDER BY n`, [json(ls), JSON.stringify(LEVELS), new Date().toISOString()]);
      },
      insertCheckpoints: async (cs) => {
        if (cs.length) await c.query(SQL.insCkpt, [json(cs)]);
      },
      saveRollback: async (r) => {
        // created_at orders the list: the first save's time (or its start), kept by later saves.
        await c.query(`INSERT INTO rollbacks (id, workflow_id, status, mode, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6)
                       ON CONFLICT (id) DO UPDATE SET status = excluded.status, doc = excluded.doc`,
        [r.id, r.workflow_id, r.status, r.mode, r.started_at ?? new Date().toISOString(), json(r)]);
      },
      getIdempotency: async (key) => docs(await c.query<DocRow<IdempotencyRecord>>('SELECT doc FROM idempotency WHERE key = $1', [key]))[0],
      putIdempotency: async (r) => {
        await c.query(SQL.putIdem, [json([r])]);
      },
    };
  }

  async anyDue(now: number, only?: string[]): Promise<boolean> {
    if (only?.length === 0) return false;
    const w = new Where().add((p) => `status IN ${ACTIVE_SQL} AND wake_at IS NOT NULL AND wake_at <= ${p(now)}`).anyOf('id', only);
    return (await this.pool.query(`SELECT 1 FROM workflows ${w.sql} LIMIT 1`, w.args)).rowCount! > 0;
  }

  async getWorkflow(id: string): Promise<WorkflowRow | undefined> {
    return docs(await this.pool.query<DocRow<WorkflowRow>>('SELECT doc FROM workflows WHERE id = $1', [id]))[0];
  }

  /** Rows of one page and the count of all matching rows. */
  private async page<T>(from: string, w: Where, order: string, page: Page, select = 'doc'): Promise<{ rows: T[]; total: number }> {
    const n = w.args.length;
    const [count, rows] = await Promise.all([
      this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${from} ${w.sql}`, w.args),
      this.pool.query<DocRow<T>>(`SELECT ${select} AS doc FROM ${from} ${w.sql} ORDER BY ${order} LIMIT $${n + 1} OFFSET $${n + 2}`, [...w.args, page.limit, page.offset]),
    ]);
    return { rows: docs(rows), total: Number(count.rows[0]!.n) };
  }

  async listWorkflows(f: WorkflowFilter, page: Page): Promise<{ rows: WorkflowRow[]; total: number }> {
    const w = new Where()
      .anyOf('status', f.status).anyOf('kind', f.kind).anyOf('infra', f.infra).anyOf('workspace', f.workspace)
      .anyOf('submitted_by', f.submitted_by).anyOf('execution', f.execution).eq('check_mode', f.check_mode)
      .range('created_at', f.from, f.to);
    if (f.labels && Object.keys(f.labels).length) w.add((p) => `doc->'labels' @> ${p(JSON.stringify(f.labels))}::jsonb`);
    const col = { created_at: 'created_at', status: 'status COLLATE "C"', name: `(doc->>'name') COLLATE "C"`, priority: 'priority' }[f.sort ?? 'created_at'];
    const dir = f.order === 'asc' ? 'ASC' : 'DESC';
    return this.page<WorkflowRow>('workflows', w, `${col} ${dir}, id COLLATE "C" ${dir}`, page);
  }

  async getOperations(workflowId: string): Promise<OperationRow[]> {
    return docs(await this.pool.query<DocRow<OperationRow>>('SELECT doc FROM operations WHERE workflow_id = $1 ORDER BY idx', [workflowId]));
  }

  async listTasks(f: TaskFilter, page: Page): Promise<{ rows: OperationRow[]; total: number }> {
    const w = new Where()
      .anyOf('o.status', f.status).anyOf('o.workflow_id', f.workflow_id).anyOf('o.id', f.operation_id)
      // the API's task kinds are dotted ("server.create"); operation types use '_'
      .anyOf(`o.doc->>'type'`, f.kind?.map((k) => k.replace('.', '_')))
      .anyOf('w.infra', f.infra)
      .range('w.created_at', f.from, f.to);
    if (f.server?.length) w.add((p) => `o.doc->'servers' ?| ${p(f.server)}::text[]`);
    return this.page<OperationRow>('operations o JOIN workflows w ON w.id = o.workflow_id', w, 'w.created_at DESC, w.id COLLATE "C" DESC, o.idx', page, 'o.doc');
  }

  async getTask(taskId: string): Promise<OperationRow | undefined> {
    return docs(await this.pool.query<DocRow<OperationRow>>('SELECT doc FROM operations WHERE task_id = $1', [taskId]))[0];
  }

  async events(afterSeq: number, limit: number, workflowIds?: string[]): Promise<Event[]> {
    if (workflowIds?.length === 0) return [];
    const w = new Where().add((p) => `seq > ${p(afterSeq)}`).anyOf('workflow_id', workflowIds);
    return docs(await this.pool.query<DocRow<Event>>(`SELECT doc FROM events ${w.sql} ORDER BY seq LIMIT ${w.param(limit)}`, w.args));
  }

  async eventBounds(): Promise<{ oldest: number; latest: number }> {
    const r = (await this.pool.query<{ oldest: string; latest: string }>('SELECT COALESCE(MIN(seq), 0) AS oldest, COALESCE(MAX(seq), 0) AS latest FROM events')).rows[0]!;
    return { oldest: Number(r.oldest), latest: Number(r.latest) };
  }

  async logs(f: LogFilter): Promise<LogEntry[]> {
    const w = new Where().add((p) => `seq > ${p(f.after_seq ?? 0)}`)
      .eq('workflow_id', f.workflow_id).eq('operation_id', f.operation_id).eq('task_id', f.task_id).eq('server', f.server);
    if (f.level) w.add((p) => `level >= ${p(LEVELS[f.level!])}`);
    const r = await this.pool.query<{ seq: string; timestamp: Date; doc: NewLog }>(`SELECT seq, timestamp, doc FROM logs ${w.sql} ORDER BY seq LIMIT ${w.param(f.limit)}`, w.args);
    return r.rows.map((x) => ({ ...x.doc, seq: Number(x.seq), timestamp: x.timestamp.toISOString() }));
  }

  async checkpoints(f: { workflow_id?: string; trigger?: string[]; from?: string; to?: string }, page: Page): Promise<{ rows: Checkpoint[]; total: number }> {
    const w = new Where().eq('workflow_id', f.workflow_id).anyOf('trigger', f.trigger).range('created_at', f.from, f.to);
    return this.page<Checkpoint>('checkpoints', w, 'created_at, seq', page);
  }

  async getCheckpoint(id: string): Promise<Checkpoint | undefined> {
    return docs(await this.pool.query<DocRow<Checkpoint>>('SELECT doc FROM checkpoints WHERE id = $1', [id]))[0];
  }

  async rollbacks(f: { workflow_id?: string; status?: string[]; mode?: string[] }, page: Page): Promise<{ rows: Rollback[]; total: number }> {
    const w = new Where().eq('workflow_id', f.workflow_id).anyOf('status', f.status).anyOf('mode', f.mode);
    return this.page<Rollback>('rollbacks', w, 'created_at DESC, id COLLATE "C" DESC', page);
  }

  async getRollback(id: string): Promise<Rollback | undefined> {
    return docs(await this.pool.query<DocRow<Rollback>>('SELECT doc FROM rollbacks WHERE id = $1', [id]))[0];
  }

  async upsertWorker(w: WorkerRow): Promise<void> {
    await this.pool.query(SQL.putWorker, [json([w])]);
  }

  async removeWorker(instanceId: string): Promise<void> {
    await this.pool.query('DELETE FROM workers WHERE instance_id = $1', [instanceId]);
  }

  async workers(): Promise<WorkerRow[]> {
    return docs(await this.pool.query<DocRow<WorkerRow>>('SELECT doc FROM workers ORDER BY instance_id COLLATE "C"'));
  }

  async deleteWorkflows(ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.transaction(async (c) => {
      for (const t of ['operations', 'events', 'logs', 'checkpoints', 'rollbacks']) await c.query(`DELETE FROM ${t} WHERE workflow_id = ANY($1)`, [ids]);
      return (await c.query('DELETE FROM workflows WHERE id = ANY($1)', [ids])).rowCount ?? 0;
    });
  }

  async prune(before: string): Promise<void> {
    await this.pool.query(`WITH e AS (DELETE FROM events WHERE timestamp < $1::timestamptz), l AS (DELETE FROM logs WHERE timestamp < $1::timestamptz)
                           DELETE FROM idempotency WHERE created_at < $1::timestamptz`, [before]);
  }

  async sizeBytes(): Promise<number> {
    return Number((await this.pool.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n')).rows[0]!.n);
  }

  private emit(seq: number): void {
    if (seq <= this.seenSeq) return;
    this.seenSeq = seq;
    for (const l of this.listeners) l(seq);
  }

  /**
   * One dedicated connection LISTENs while anyone listens in this process. After each
   * (re)connect listeners hear the latest seq, so nothing committed while it was down is missed.
   */
  private listen(): void {
    if (this.listener || this.closed || this.listeners.size === 0) return;
    const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: LISTENER_NAME });
    this.listener = c;
    const retry = () => {
      if (this.listener !== c) return;
      this.listener = undefined;
      c.end().catch(() => undefined);
      this.reconnect = setTimeout(() => { this.reconnect = undefined; this.listen(); }, RECONNECT_MS);
      this.reconnect.unref();
    };
    c.on('error', retry);
    c.on('end', retry);
    c.on('notification', (n) => { if (n.channel === CHANNEL) this.emit(Number(n.payload)); });
    c.connect()
      .then(() => c.query(`LISTEN ${CHANNEL}`))
      .then(() => c.query<{ latest: string }>('SELECT COALESCE(MAX(seq), 0) AS latest FROM events'))
      .then((r) => { if (this.listener === c) this.emit(Number(r.rows[0]!.latest)); }, retry);
  }

  private unlisten(): void {
    clearTimeout(this.reconnect);
    this.reconnect = undefined;
    const c = this.listener;
    this.listener = undefined;
    c?.end().catch(() => undefined);
  }

  onEvents(listener: (latestSeq: number) => void): () => void {
    this.listeners.add(listener);
    this.listen();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.unlisten();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unlisten();
    await Promise.allSettled([...this.inflight]);
    await this.pool.end();
  }
}
