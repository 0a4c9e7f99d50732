import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { ProvError } from '../../src/errors/index.js';
import { LATEST_SCHEMA, migrateSchema, SCHEMA_MIGRATIONS, schemaVersion } from '../../src/store/sqlite/migrations.js';
import { openStateDb, snapshotStateDbFile, stateDbFile } from '../../src/store/sqlite/open.js';
import { listWorkspaceMigrations, recordWorkspaceMigration } from '../../src/store/sqlite/workspace-migrations.js';

const ws = () => mkdtempSync(join(tmpdir(), 'prov-db-'));

describe('state database', () => {
  it('creates .provisioning/state.db in WAL mode at the latest schema', () => {
    const dir = ws();
    const db = openStateDb(dir);
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(schemaVersion(db), LATEST_SCHEMA);
      const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      assert.deepEqual(rows, SCHEMA_MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    } finally {
      db.close();
    }
    assert.ok(existsSync(stateDbFile(dir)));
    // Opening again applies nothing twice.
    const again = openStateDb(dir);
    assert.equal((again.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get() as { n: number }).n, SCHEMA_MIGRATIONS.length);
    again.close();
  });

  it('records and lists workspace migration history', () => {
    const db = openStateDb(ws());
    const row = { from: 0, to: 1, step: 'local-overrides-and-format-version', started_at: '2025-01-01T00:00:00.000Z', finished_at: '2025-01-01T00:00:01.000Z', success: true, notes: 'ok' };
    recordWorkspaceMigration(db, row);
    recordWorkspaceMigration(db, { ...row, success: false, notes: 'failed' });
    assert.deepEqual(listWorkspaceMigrations(db), [row, { ...row, success: false, notes: 'failed' }]);
    db.close();
  });

  it('refuses a schema newer than this CLI knows, leaving the file alone', () => {
    const dir = ws();
    openStateDb(dir).close();
    const raw = new Database(stateDbFile(dir));
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(LATEST_SCHEMA + 5, 'future', 'x');
    raw.close();
    assert.throws(() => openStateDb(dir), (e: ProvError) => {
      assert.equal(e.code, 'WORKSPACE_TOO_NEW');
      assert.match(e.message, new RegExp(`schema version ${LATEST_SCHEMA + 5} is newer than this provisioning knows \\(${LATEST_SCHEMA}\\)`));
      return true;
    });
  });

  it('snapshots a database with uncheckpointed WAL content into a standalone file', () => {
    const dir = ws();
    const db = openStateDb(dir);
    recordWorkspaceMigration(db, { from: 0, to: 1, step: 's', started_at: 'a', finished_at: 'b', success: true, notes: '' });
    const dest = join(dir, 'snap.db');
    assert.equal(snapshotStateDbFile(dir, dest), true);
    db.close();
    const copy = new Database(dest, { readonly: true });
    assert.equal(listWorkspaceMigrations(copy).length, 1);
    copy.close();
    assert.equal(snapshotStateDbFile(ws(), join(dir, 'none.db')), false);
    assert.ok(!readdirSync(dir).includes('none.db'));
  });
});

describe('schema migrations', () => {
  it('applies pending migrations in order and lets the caller snapshot an existing schema first', () => {
    const dir = ws();
    openStateDb(dir).close();
    const db = new Database(stateDbFile(dir));
    const seen: number[] = [];
    const n = LATEST_SCHEMA;
    const extra = [...SCHEMA_MIGRATIONS, { version: n + 2, name: 'c', sql: 'CREATE TABLE c (x INTEGER)' }, { version: n + 1, name: 'b', sql: 'CREATE TABLE b (x INTEGER)' }];
    assert.deepEqual(migrateSchema(db, 'f', (from) => seen.push(from), extra), { from: n, to: n + 2 });
    assert.deepEqual(seen, [n]);
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all().map((r) => (r as { version: number }).version), [...SCHEMA_MIGRATIONS.map((m) => m.version), n + 1, n + 2]);
    db.close();
  });

  it('rolls a failing migration back and records nothing for it', () => {
    const db = new Database(':memory:');
    const n = LATEST_SCHEMA;
    const bad = [...SCHEMA_MIGRATIONS, { version: n + 1, name: 'bad', sql: 'CREATE TABLE t (x INTEGER); THIS IS NOT SQL' }];
    assert.throws(() => migrateSchema(db, ':memory:', undefined, bad));
    assert.equal(schemaVersion(db), n);
    assert.equal(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 't'`).get(), undefined);
    db.close();
  });
});
