import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { WORKSPACE_FILE } from '../config/target.js';

/**
 * The on-disk shape of a workspace (spec/config.md §1.3): what `init` creates, what is
 * state, and which files count as the workspace's committed content (what backups hold).
 */

export { WORKSPACE_FILE };

/** Directories every new workspace gets. */
export const LAYOUT_DIRS = ['config', 'infra', 'extensions', 'workflows'];

/** `.provisioning/` subdirectories created by `init` (mode 0700: state can hold host keys and logs). */
export const STATE_SUBDIRS = ['locks', 'logs', 'cache', 'tmp', 'backups'];

export const GITIGNORE_ENTRIES = ['.provisioning/', 'config/local-overrides.toml', 'node_modules/', '*.plain'];

export function gitignoreText(): string {
  return `# provisioning: workspace state, personal overrides and decrypted files stay out of git\n${GITIGNORE_ENTRIES.join('\n')}\n`;
}

export const stateDir = (wsPath: string) => join(wsPath, '.provisioning');

export function createStateDirs(wsPath: string): void {
  mkdirSync(stateDir(wsPath), { recursive: true, mode: 0o700 });
  for (const d of STATE_SUBDIRS) mkdirSync(join(stateDir(wsPath), d), { recursive: true, mode: 0o700 });
}

export interface WalkResult {
  /** workspace-relative, `/`-separated, sorted */
  files: string[];
  /** symlinks and special files, which backups do not follow */
  skipped: string[];
}

/**
 * The committed content of a workspace: everything except state (`.provisioning/`),
 * `node_modules/`, the enclosing repository's `.git/` and decrypted `*.plain` files
 * (plaintext secrets must never end up in an archive).
 */
export function committedFiles(wsPath: string): WalkResult {
  const files: string[] = [];
  const skipped: string[] = [];
  const walk = (rel: string) => {
    const entries = readdirSync(join(wsPath, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name === 'node_modules' || e.name === '.git' || p === '.provisioning') continue;
        walk(p);
      } else if (e.isFile()) {
        if (!e.name.endsWith('.plain')) files.push(p);
      } else {
        skipped.push(p);
      }
    }
  };
  walk('');
  return { files, skipped };
}

export function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('error', reject).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex')));
  });
}

/** Total bytes of regular files under a directory (0 when it does not exist). */
export function treeSize(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += treeSize(p);
    else if (e.isFile()) total += lstatSync(p).size;
  }
  return total;
}

export const backupsDir = (wsPath: string) => join(stateDir(wsPath), 'backups');

/** UTC `YYYYMMDD_HHMMSS`, the timestamp of backup file names (spec/config.md §12). */
export function fileStamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
}
