import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { ProvError } from '../errors/index.js';
import { stateDir } from './layout.js';

/**
 * The whole-workspace lock of `workspace migrate` (spec/config.md §12 step 2): a lock
 * directory under `.provisioning/locks/`, refreshed while held and considered stale 30 s
 * after its holder stops refreshing it (a crashed process).
 */
export async function withWorkspaceLock<T>(wsPath: string, label: string, fn: () => Promise<T>): Promise<T> {
  const dir = join(stateDir(wsPath), 'locks');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lockPath = join(dir, 'workspace.lock');
  const release = await lockfile.lock(wsPath, { lockfilePath: lockPath, realpath: false, stale: 30_000, update: 10_000, retries: 0 }).catch((e: unknown) => {
    throw new ProvError('LOCKED', `workspace ${label} is locked by another provisioning command (${lockPath})`, {
      hint: 'wait for it to finish; a lock left by a crashed process expires after 30 s', cause: e,
    });
  });
  try {
    return await fn();
  } finally {
    await release();
  }
}
