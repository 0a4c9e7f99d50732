import type pg from 'pg';
import { ProvError } from '../../errors/index.js';
import type { SchemaMigration } from '../sqlite/migrations.js';

/**
 * Numbered schema migrations of the PostgreSQL workflow store. Append only: a released entry is
 * never edited or renumbered (databases in the field record which ones ran). Timestamps are
 * timestamptz, epoch-ms times bigint; each row's full document is `doc` (jsonb), the other
 * columns are what queries filter, sort and lock on.
 */
export const PG_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    name: 'workflows',
    sql: `
      CREATE TABLE workflows (
        id           text PRIMARY KEY,
        status       text NOT NULL,
        kind         text NOT NULL,
        workspace    text NOT NULL,
        infra        text,
        priority     integer NOT NULL,
        created_at   timestamptz NOT NULL,
        wake_at      bigint,
        execution    text NOT NULL,
        submitted_by text NOT NULL,
        check_mode   boolean NOT NULL,
        doc          jsonb NOT NULL
      );
      -- the claim query: active workflows that are due (few rows, sorted by priority after the scan)
      CREATE INDEX workflows_due ON workflows (wake_at) WHERE status IN ('queued', 'running', 'cancelling', 'rolling_back') AND wake_at IS NOT NULL;
      CREATE INDEX workflows_created ON workflows (created_at);
      CREATE INDEX workflows_status ON workflows (status, created_at);
      CREATE INDEX workflows_labels ON workflows USING gin ((doc -> 'labels') jsonb_path_ops);
      CREATE TABLE operations (
        workflow_id      text NOT NULL,
        id               text NOT NULL,
        idx              integer NOT NULL,
        status           text NOT NULL,
        task_id          text NOT NULL UNIQUE,
        lease_owner      text,
        lease_expires_at bigint,
        doc              jsonb NOT NULL,
        PRIMARY KEY (workflow_id, id)
      );
      CREATE INDEX operations_lease ON operations (lease_expires_at) WHERE status IN ('running', 'rolling_back');
      CREATE INDEX operations_owner ON operations (lease_owner) WHERE status IN ('running', 'rolling_back');
      CREATE TABLE events (
        seq          bigserial PRIMARY KEY,
        workflow_id  text,
        timestamp    timestamptz NOT NULL,
        doc          jsonb NOT NULL
      );
      CREATE INDEX events_workflow ON events (workflow_id, seq);
      CREATE INDEX events_time ON events (timestamp);
      CREATE TABLE logs (
        seq          bigserial PRIMARY KEY,
        workflow_id  text,
        operation_id text,
        task_id      text,
        server       text,
        level        smallint NOT NULL,
        timestamp    timestamptz NOT NULL,
        doc          jsonb NOT NULL
      );
      CREATE INDEX logs_workflow ON logs (workflow_id, seq);
      CREATE INDEX logs_task ON logs (task_id, seq);
      CREATE INDEX logs_time ON logs (timestamp);
      CREATE TABLE checkpoints (
        id           text PRIMARY KEY,
        workflow_id  text NOT NULL,
        seq          integer NOT NULL,
        trigger      text NOT NULL,
        created_at   timestamptz NOT NULL,
        doc          jsonb NOT NULL
      );
      CREATE INDEX checkpoints_workflow ON checkpoints (workflow_id, seq);
      CREATE TABLE rollbacks (
        id           text PRIMARY KEY,
        workflow_id  text NOT NULL,
        status       text NOT NULL,
        mode         text NOT NULL,
        created_at   timestamptz NOT NULL,
        doc          jsonb NOT NULL
      );
      CREATE INDEX rollbacks_workflow ON rollbacks (workflow_id);
      CREATE TABLE workers (
        instance_id  text PRIMARY KEY,
        doc          jsonb NOT NULL
      );
      CREATE TABLE idempotency (
        key          text PRIMARY KEY,
        created_at   timestamptz NOT NULL,
        doc          jsonb NOT NULL
      );`,
  },
];

/** Advisory lock keys (two-int form): this application's space, then one key per purpose. */
export const LOCK_SPACE = 0x70726f76; // 'prov'
export const LOCK_MIGRATE = 1;
export const LOCK_APPEND = 2;

/**
 * Bring the schema up to the latest migration, one transaction per migration, under a session
 * advisory lock: orchestrators starting together take turns, and the later ones find the work
 * done. A schema newer than this code knows is refused before anything is changed.
 */
export async function migratePg(c: pg.ClientBase, location: string, migrations: readonly SchemaMigration[] = PG_MIGRATIONS): Promise<{ from: number; to: number }> {
  const latest = migrations.reduce((m, s) => Math.max(m, s.version), 0);
  await c.query('SELECT pg_advisory_lock($1, $2)', [LOCK_SPACE, LOCK_MIGRATE]);
  try {
    await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const from = Number((await c.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0);
    if (from > latest) {
      throw new ProvError('UNAVAILABLE', `the PostgreSQL workflow store at ${location} has schema version ${from}, newer than this provisioning knows (${latest})`, {
        hint: 'upgrade provisioning on this instance; the database was not changed', details: { reason: 'schema_too_new', schema_version: from, supported: latest },
      });
    }
    for (const m of migrations.filter((x) => x.version > from).sort((a, b) => a.version - b.version)) {
      await c.query('BEGIN');
      try {
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    }
    return { from, to: Math.max(from, latest) };
  } finally {
    // (a broken connection has lost the lock already)
    await c.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_SPACE, LOCK_MIGRATE]).catch(() => undefined);
  }
}
