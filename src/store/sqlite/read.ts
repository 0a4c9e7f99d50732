import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { stateDir } from '../../workspace/layout.js';
import type { ResourceState } from '../types.js';

/**
 * Recorded resources of one infra without writing anything (check mode): no database, or one
 * from before resources were recorded, means nothing is recorded yet. The SQLite binding is
 * loaded only when there is a database to read, so plans of new workspaces skip it.
 */
export function readResources(wsPath: string, workspace: string, infra: string): ResourceState[] {
  const file = join(stateDir(wsPath), 'state.db');
  if (!existsSync(file)) return [];
  const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'resources'`).get();
    if (!has) return [];
    return (db.prepare(`SELECT doc FROM resources WHERE workspace = ? AND infra = ? ORDER BY kind, name`).all(workspace, infra) as { doc: string }[])
      .map((r) => JSON.parse(r.doc) as ResourceState);
  } finally {
    db.close();
  }
}
