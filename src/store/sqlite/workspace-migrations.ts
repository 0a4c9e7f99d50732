import type Database from 'better-sqlite3';

/** The history of workspace format migrations (spec/config.md §12, step 7). */
export interface WorkspaceMigrationRecord {
  from: number;
  to: number;
  step: string;
  started_at: string;
  finished_at: string;
  success: boolean;
  notes: string;
}

export function recordWorkspaceMigration(db: Database.Database, r: WorkspaceMigrationRecord): void {
  db.prepare(`INSERT INTO workspace_migrations (from_version, to_version, step, started_at, finished_at, success, notes)
              VALUES (?, ?, ?, ?, ?, ?, ?)`).run(r.from, r.to, r.step, r.started_at, r.finished_at, r.success ? 1 : 0, r.notes);
}

export function listWorkspaceMigrations(db: Database.Database): WorkspaceMigrationRecord[] {
  const rows = db.prepare(`SELECT from_version, to_version, step, started_at, finished_at, success, notes
                           FROM workspace_migrations ORDER BY id`).all() as {
    from_version: number; to_version: number; step: string; started_at: string; finished_at: string; success: number; notes: string;
  }[];
  return rows.map((r) => ({
    from: r.from_version, to: r.to_version, step: r.step, started_at: r.started_at, finished_at: r.finished_at, success: r.success === 1, notes: r.notes,
  }));
}
