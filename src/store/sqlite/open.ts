import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { ProvError } from '../../errors/index.js';
import { backupsDir, fileStamp, stateDir } from '../../workspace/layout.js';
import { migrateSchema } from './migrations.js';

/**
 * The workspace state database `<ws>/.provisioning/state.db` (spec/config.md §1.3):
 * SQLite in WAL mode, schema brought up to date on open.
 */

export const stateDbFile = (wsPath: string) => join(stateDir(wsPath), 'state.db');

export function openStateDb(wsPath: string, opts: { busyTimeoutMs?: number } = {}): Database.Database {
  return openStateDbFile(stateDbFile(wsPath), backupsDir(wsPath), opts);
}

/** A state database at any path (`orchestrator.storage.url = "sqlite://…"`); snapshots before upgrades go to `backups`. */
export function openStateDbFile(file: string, backups: string, opts: { busyTimeoutMs?: number } = {}): Database.Database {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
  } catch (e) {
    const noBinding = /bindings file|NODE_MODULE_VERSION/.test((e as Error).message);
    throw new ProvError('OPERATION_FAILED', `cannot open the state database: ${(e as Error).message.split('\n')[0]}`, {
      location: { file }, cause: e,
      hint: noBinding
        ? 'the SQLite binding is not built for this Node.js: run `npm rebuild better-sqlite3` in the provisioning package (needs g++, make and python3)'
        : 'check that the file is a SQLite database and not locked by a crashed process',
    });
  }
  try {
    // A file-based database is copied before its schema changes (spec/config.md §12).
    migrateSchema(db, file, (from) => snapshotStateDb(db, join(backups, `state_v${from}_${fileStamp()}.db`)));
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** A consistent copy of an open database (WAL content included) into a new file. */
export function snapshotStateDb(db: Database.Database, dest: string): void {
  mkdirSync(join(dest, '..'), { recursive: true, mode: 0o700 });
  if (existsSync(dest)) throw new ProvError('ALREADY_EXISTS', `snapshot target exists: ${dest}`);
  db.prepare('VACUUM INTO ?').run(dest);
}

/** Snapshot the state database of a workspace without migrating it; false when it has none. */
export function snapshotStateDbFile(wsPath: string, dest: string): boolean {
  const file = stateDbFile(wsPath);
  if (!existsSync(file)) return false;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    snapshotStateDb(db, dest);
  } finally {
    db.close();
  }
  return true;
}

/**
 * Run a write, waiting for SQLite's write lock without blocking the event loop. better-sqlite3
 * waits for a busy database synchronously; in a process where another connection holds the
 * write lock across `await`s (the workflow store's transactions), a synchronous wait would never
 * end, because the holder cannot run until it returns. Connections that use this have
 * busy_timeout 0 and retry here instead.
 */
export async function whenWritable<T>(write: () => T, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
    try {
      return write();
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw e;
      await new Promise((res) => setTimeout(res, pause));
    }
  }
}
