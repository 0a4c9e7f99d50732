import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProvError } from '../errors/index.js';
import { CURRENT_FORMAT, writeFormatVersion } from './format.js';
import { GITIGNORE_ENTRIES, gitignoreText, WORKSPACE_FILE } from './layout.js';

/**
 * Workspace format migrations (spec/config.md §12): ordered steps N → N+1, each with a name,
 * a description, the file changes it would make (for --check) and the change itself.
 * After each step the runner writes `workspace.format_version` and validates the workspace.
 */

export interface FileChange {
  action: 'create' | 'update' | 'rename' | 'delete';
  path: string;
  to?: string;
  details: string;
}

export interface MigrationStep {
  from: number;
  to: number;
  name: string;
  description: string;
  /** what `apply` would change in this workspace; may refuse (ProvError) when it cannot migrate */
  changes(wsPath: string): FileChange[];
  apply(wsPath: string): void;
}

const OLD_LOCAL = 'config/local.toml';
const NEW_LOCAL = 'config/local-overrides.toml';

function missingGitignoreEntries(wsPath: string): { exists: boolean; missing: string[] } {
  const file = join(wsPath, '.gitignore');
  if (!existsSync(file)) return { exists: false, missing: GITIGNORE_ENTRIES };
  const lines = new Set(readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()));
  // `.provisioning` and `/.provisioning/` ignore the same thing as `.provisioning/`.
  const present = (e: string) => [e, e.replace(/\/$/, ''), `/${e}`, `/${e.replace(/\/$/, '')}`].some((v) => lines.has(v));
  return { exists: true, missing: GITIGNORE_ENTRIES.filter((e) => !present(e)) };
}

const step0to1: MigrationStep = {
  from: 0,
  to: 1,
  name: 'local-overrides-and-format-version',
  description: `set workspace.format_version, rename ${OLD_LOCAL} to ${NEW_LOCAL}, add missing .gitignore entries`,
  changes(wsPath) {
    const out: FileChange[] = [];
    if (existsSync(join(wsPath, OLD_LOCAL))) {
      if (existsSync(join(wsPath, NEW_LOCAL))) {
        throw new ProvError('WORKSPACE_INVALID', `both ${OLD_LOCAL} and ${NEW_LOCAL} exist in ${wsPath}; the migration cannot tell which one holds your overrides`, {
          location: { file: join(wsPath, OLD_LOCAL) },
          hint: `merge ${OLD_LOCAL} into ${NEW_LOCAL}, delete ${OLD_LOCAL}, then run the migration again`,
        });
      }
      out.push({ action: 'rename', path: OLD_LOCAL, to: NEW_LOCAL, details: 'personal overrides now live in config/local-overrides.toml' });
    }
    const gi = missingGitignoreEntries(wsPath);
    if (!gi.exists) out.push({ action: 'create', path: '.gitignore', details: `ignore ${GITIGNORE_ENTRIES.join(', ')}` });
    else if (gi.missing.length > 0) out.push({ action: 'update', path: '.gitignore', details: `add ${gi.missing.join(', ')}` });
    return out;
  },
  apply(wsPath) {
    if (existsSync(join(wsPath, OLD_LOCAL))) renameSync(join(wsPath, OLD_LOCAL), join(wsPath, NEW_LOCAL));
    const gi = missingGitignoreEntries(wsPath);
    const file = join(wsPath, '.gitignore');
    if (!gi.exists) writeFileSync(file, gitignoreText());
    else if (gi.missing.length > 0) {
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}# added by provisioning workspace migrate\n${gi.missing.join('\n')}\n`);
    }
  },
};

/** Every step this CLI knows, in order; step N → N+1 is at most once. */
export const MIGRATION_STEPS: readonly MigrationStep[] = [step0to1];

export interface PlannedStep {
  step: MigrationStep;
  changes: FileChange[];
}

/** The steps from `from` to `to`, with the file changes of each (the format_version write included). */
export function planMigration(wsPath: string, from: number, to: number): PlannedStep[] {
  if (to > CURRENT_FORMAT) {
    throw new ProvError('INVALID_ARGUMENT', `--target-version ${to}: this provisioning knows workspace formats up to ${CURRENT_FORMAT}`, { hint: `omit --target-version to migrate to ${CURRENT_FORMAT}` });
  }
  if (to < from) {
    throw new ProvError('INVALID_ARGUMENT', `--target-version ${to} is below the workspace's format ${from}: workspaces are never downgraded`, {
      hint: 'restore a backup taken before the migration instead (`provisioning workspace list-backups`)',
    });
  }
  const out: PlannedStep[] = [];
  for (let v = from; v < to; v++) {
    const step = MIGRATION_STEPS.find((s) => s.from === v);
    if (!step) throw new ProvError('OPERATION_FAILED', `no migration step from format ${v} to ${v + 1}`, { hint: 'upgrade provisioning' });
    out.push({ step, changes: [...step.changes(wsPath), { action: 'update', path: WORKSPACE_FILE, details: `workspace.format_version = ${step.to}` }] });
  }
  return out;
}

export interface StepOutcome {
  step: MigrationStep;
  started_at: string;
  finished_at: string;
  error?: unknown;
}

/**
 * Apply planned steps in order; after each, write format_version and run `validate`.
 * Stops at the first failure and returns every outcome so far (the failed one last).
 */
export async function applyMigration(wsPath: string, plan: PlannedStep[], validate: (wsPath: string) => Promise<void>): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const { step } of plan) {
    const started_at = new Date().toISOString();
    try {
      step.apply(wsPath);
      writeFormatVersion(wsPath, step.to);
      await validate(wsPath);
      outcomes.push({ step, started_at, finished_at: new Date().toISOString() });
    } catch (error) {
      outcomes.push({ step, started_at, finished_at: new Date().toISOString(), error });
      break;
    }
  }
  return outcomes;
}
