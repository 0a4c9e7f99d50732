import type Database from 'better-sqlite3';
import { ProvError } from '../../errors/index.js';

/**
 * Numbered schema migrations of the workspace state database. Append only: a released
 * entry is never edited or renumbered (databases in the field record which ones ran).
 * Later issues add their tables here (resources and locks, workflows and checkpoints).
 */
export interface SchemaMigration {
  version: number;
  name: string;
  sql: string;
}

export const SCHEMA_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    name: 'workspace_migrations',
    sql: `
      CREATE TABLE workspace_migrations (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        from_version INTEGER NOT NULL,
        to_version   INTEGER NOT NULL,
        step         TEXT    NOT NULL,
        started_at   TEXT    NOT NULL,
        finished_at  TEXT    NOT NULL,
        success      INTEGER NOT NULL CHECK (success IN (0, 1)),
        notes        TEXT    NOT NULL DEFAULT ''
      );`,
  },
  {
    version: 2,
    name: 'resources_changes_locks',
    sql: `
      CREATE TABLE resources (
        id               TEXT PRIMARY KEY,
        kind             TEXT NOT NULL,
        workspace        TEXT NOT NULL,
        infra            TEXT NOT NULL,
        name             TEXT NOT NULL,
        parent           TEXT,
        status           TEXT NOT NULL,
        checksum         TEXT NOT NULL,
        generation       INTEGER NOT NULL,
        doc              TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
      );
      CREATE INDEX resources_by_infra ON resources (workspace, infra, kind);
      CREATE TABLE resource_changes (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        resource_id  TEXT NOT NULL,
        action       TEXT NOT NULL,
        generation   INTEGER NOT NULL,
        checksum     TEXT NOT NULL,
        workflow_id  TEXT,
        command      TEXT NOT NULL DEFAULT '',
        diff         TEXT NOT NULL DEFAULT '{}',
        at           TEXT NOT NULL
      );
      CREATE INDEX resource_changes_by_resource ON resource_changes (resource_id, seq);
      CREATE TABLE locks (
        scope        TEXT PRIMARY KEY,
        holder       TEXT NOT NULL,
        pid          INTEGER,
        host         TEXT NOT NULL,
        command      TEXT NOT NULL,
        reason       TEXT NOT NULL DEFAULT '',
        acquired_at  TEXT NOT NULL,
        expires_at   TEXT
      );`,
  },
  {
    version: 3,
    name: 'workflows',
    sql: `
      CREATE TABLE workflows (
        id           TEXT PRIMARY KEY,
        status       TEXT NOT NULL,
        kind         TEXT NOT NULL,
        workspace    TEXT NOT NULL,
        infra        TEXT,
        priority     INTEGER NOT NULL,
        created_at   TEXT NOT NULL,
        wake_at      INTEGER,
        doc          TEXT NOT NULL
      );
      CREATE INDEX workflows_claim ON workflows (status, wake_at);
      CREATE INDEX workflows_created ON workflows (created_at);
      CREATE TABLE operations (
        workflow_id      TEXT NOT NULL,
        id               TEXT NOT NULL,
        idx              INTEGER NOT NULL,
        status           TEXT NOT NULL,
        task_id          TEXT NOT NULL UNIQUE,
        lease_owner      TEXT,
        lease_expires_at INTEGER,
        doc              TEXT NOT NULL,
        PRIMARY KEY (workflow_id, id)
      );
      CREATE INDEX operations_lease ON operations (status, lease_expires_at);
      CREATE INDEX operations_owner ON operations (lease_owner);
      CREATE TABLE events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        workflow_id  TEXT,
        timestamp    TEXT NOT NULL,
        doc          TEXT NOT NULL
      );
      CREATE INDEX events_workflow ON events (workflow_id, seq);
      CREATE TABLE logs (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        workflow_id  TEXT,
        operation_id TEXT,
        task_id      TEXT,
        server       TEXT,
        level        INTEGER NOT NULL,
        timestamp    TEXT NOT NULL,
        doc          TEXT NOT NULL
      );
      CREATE INDEX logs_workflow ON logs (workflow_id, seq);
      CREATE TABLE checkpoints (
        id           TEXT PRIMARY KEY,
        workflow_id  TEXT NOT NULL,
        seq          INTEGER NOT NULL,
        trigger      TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        doc          TEXT NOT NULL
      );
      CREATE INDEX checkpoints_workflow ON checkpoints (workflow_id, seq);
      CREATE TABLE rollbacks (
        id           TEXT PRIMARY KEY,
        workflow_id  TEXT NOT NULL,
        status       TEXT NOT NULL,
        mode         TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        doc          TEXT NOT NULL
      );
      CREATE TABLE workers (
        instance_id  TEXT PRIMARY KEY,
        doc          TEXT NOT NULL
      );
      CREATE TABLE idempotency (
        key          TEXT PRIMARY KEY,
        created_at   TEXT NOT NULL,
        doc          TEXT NOT NULL
      );`,
  },
];

export const LATEST_SCHEMA = SCHEMA_MIGRATIONS.reduce((m, s) => Math.max(m, s.version), 0);

export function schemaVersion(db: Database.Database): number {
  const hasTable = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get();
  if (!hasTable) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Bring the schema up to LATEST_SCHEMA, one transaction per migration. `beforeUpgrade`
 * runs once before the first pending migration of a database that already has a schema
 * (the caller snapshots the file then). A schema newer than this CLI knows is refused.
 */
export function migrateSchema(
  db: Database.Database, file: string, beforeUpgrade?: (from: number) => void, migrations: readonly SchemaMigration[] = SCHEMA_MIGRATIONS,
): { from: number; to: number } {
  const latest = migrations.reduce((m, s) => Math.max(m, s.version), 0);
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const from = schemaVersion(db);
  if (from > latest) {
    throw new ProvError('WORKSPACE_TOO_NEW', `state database schema version ${from} is newer than this provisioning knows (${latest})`, {
      location: { file }, hint: 'upgrade provisioning; the database was not changed',
    });
  }
  const pending = migrations.filter((m) => m.version > from).sort((a, b) => a.version - b.version);
  if (pending.length > 0 && from > 0) beforeUpgrade?.(from);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of pending) {
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    })();
  }
  return { from, to: Math.max(from, latest) };
}
