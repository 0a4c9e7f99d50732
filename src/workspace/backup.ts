import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import * as tar from 'tar';
import { cliVersion } from '../cli/main.js';
import { ProvError } from '../errors/index.js';
import { snapshotStateDbFile } from '../store/sqlite/open.js';
import { readWorkspaceFile } from './format.js';
import { backupsDir, committedFiles, createStateDirs, fileSha256, fileStamp, stateDir } from './layout.js';

/**
 * Workspace backups (spec/config.md §12): a tar.gz of the committed files plus a snapshot of
 * the state database, with a manifest (size and sha256 of every member) as the first member.
 * Restores verify every member before anything in the target changes.
 */

export const MANIFEST_PATH = '.provisioning/backup-manifest.json';
export const STATE_DB_MEMBER = '.provisioning/state.db';
const MANIFEST_KIND = 'provisioning-workspace-backup';

export interface ManifestFile { path: string; size: number; sha256: string }

export interface BackupManifest {
  kind: typeof MANIFEST_KIND;
  version: 1;
  workspace: string;
  format_version: number;
  created_at: string;
  reason: string;
  cli_version: string;
  /** where the workspace was when it was backed up: the default restore target */
  source_path: string;
  files: ManifestFile[];
}

const archiveInvalid = (file: string, message: string, hint: string, details: Record<string, unknown> = {}) =>
  new ProvError('ARCHIVE_INVALID', message, { location: { file }, hint, details });

/** `<ws>/.provisioning/backups/<name>_backup_<YYYYMMDD_HHMMSS>.tar.gz`, suffixed when that second is taken. */
export function defaultBackupPath(wsPath: string, name: string, now = new Date()): string {
  const base = join(backupsDir(wsPath), `${name}_backup_${fileStamp(now)}`);
  let p = `${base}.tar.gz`;
  for (let i = 2; existsSync(p); i++) p = `${base}_${i}.tar.gz`;
  return p;
}

export interface BackupResult { archive: string; size: number; manifest: BackupManifest }

export async function createBackup(ws: { name: string; path: string }, opts: { reason: string; output: string }): Promise<BackupResult> {
  const wf = readWorkspaceFile(ws.path);
  const out = resolve(opts.output);
  if (existsSync(out)) {
    throw new ProvError('ALREADY_EXISTS', `${out} already exists`, { hint: 'choose another --output file; backups never overwrite one another' });
  }
  const outRel = relative(ws.path, out).split(sep).join('/');
  const { files } = committedFiles(ws.path);
  const members = files.filter((f) => f !== outRel && !f.startsWith(`${outRel}.`));

  const tmpRoot = join(stateDir(ws.path), 'tmp');
  mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  const tmp = mkdtempSync(join(tmpRoot, 'backup-'));
  const tmpRel = relative(ws.path, tmp).split(sep).join('/');
  const partial = `${out}.partial`;
  try {
    const entries: ManifestFile[] = [];
    for (const f of members) entries.push({ path: f, size: statSync(join(ws.path, f)).size, sha256: await fileSha256(join(ws.path, f)) });
    const hasDb = snapshotStateDbFile(ws.path, join(tmp, 'state.db'));
    if (hasDb) entries.push({ path: STATE_DB_MEMBER, size: statSync(join(tmp, 'state.db')).size, sha256: await fileSha256(join(tmp, 'state.db')) });
    const manifest: BackupManifest = {
      kind: MANIFEST_KIND, version: 1, workspace: wf.name ?? ws.name, format_version: wf.formatVersion,
      created_at: new Date().toISOString(), reason: opts.reason, cli_version: cliVersion(), source_path: ws.path, files: entries,
    };
    writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

    // Members come from the workspace; the manifest and the database snapshot from the temp
    // directory, renamed to their place in the archive. The manifest goes first.
    const rename: Record<string, string> = { [`${tmpRel}/manifest.json`]: MANIFEST_PATH, [`${tmpRel}/state.db`]: STATE_DB_MEMBER };
    mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
    await tar.create({
      gzip: true, cwd: ws.path, file: partial, portable: true, noDirRecurse: true,
      onWriteEntry(entry) { const to = rename[entry.path]; if (to) entry.path = to; },
    }, [`${tmpRel}/manifest.json`, ...members, ...(hasDb ? [`${tmpRel}/state.db`] : [])]);

    // A file edited while the archive was written would make a backup that never restores.
    const check = compareWithManifest(await readArchive(partial));
    if (check.problems.length > 0) {
      throw new ProvError('OPERATION_FAILED', `files changed while the backup was written (${check.problems.slice(0, 3).join('; ')})`, {
        hint: 'run the backup again when nothing is editing the workspace',
      });
    }
    renameSync(partial, out);
    return { archive: out, size: statSync(out).size, manifest };
  } finally {
    rmSync(partial, { force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface ArchiveContents {
  file: string;
  manifest: BackupManifest;
  /** every regular-file member except the manifest: path → size and sha256 of its data */
  members: Map<string, { size: number; sha256: string }>;
}

function unsafePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:/.test(p) || p.split('/').includes('..');
}

/** Read the whole archive once, hashing every member; a truncated or corrupt archive is ARCHIVE_INVALID. */
export async function readArchive(file: string): Promise<ArchiveContents> {
  if (!existsSync(file)) throw new ProvError('NOT_FOUND', `backup archive ${file} does not exist`, { hint: '`provisioning workspace list-backups` lists the archives of a workspace' });
  const members = new Map<string, { size: number; sha256: string }>();
  const bad: string[] = [];
  let manifestText: string | undefined;
  let first = true;
  const pending: Promise<void>[] = [];
  try {
    await tar.list({
      file, strict: true,
      onReadEntry(entry) {
        const path = entry.path.replace(/^\.\//, '').replace(/\/$/, '');
        const isFirst = first;
        first = false;
        if (entry.type === 'Directory') { entry.resume(); return; }
        if (entry.type !== 'File' && entry.type !== 'OldFile' || unsafePath(path)) { bad.push(`${path} (${entry.type})`); entry.resume(); return; }
        const h = createHash('sha256');
        const chunks: Buffer[] = [];
        let size = 0;
        const wantText = path === MANIFEST_PATH && isFirst;
        pending.push(new Promise((done) => {
          entry.on('data', (d: Buffer) => { h.update(d); size += d.length; if (wantText) chunks.push(d); });
          entry.on('end', () => {
            if (wantText) manifestText = Buffer.concat(chunks).toString('utf8');
            else members.set(path, { size, sha256: h.digest('hex') });
            done();
          });
        }));
      },
    });
    await Promise.all(pending);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw archiveInvalid(file, `cannot read backup archive ${basename(file)}: it is truncated or corrupt (${err.message})`,
      'nothing was changed; use another archive (`provisioning workspace list-backups`)', { cause_code: err.code });
  }
  if (bad.length > 0) throw archiveInvalid(file, `backup archive ${basename(file)} holds members a backup never has: ${bad.slice(0, 5).join(', ')}`, 'nothing was changed; only archives written by `workspace backup` can be restored');
  if (manifestText === undefined) {
    throw archiveInvalid(file, `${basename(file)} is not a workspace backup: its first member is not ${MANIFEST_PATH}`, 'nothing was changed; only archives written by `workspace backup` can be restored');
  }
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(manifestText) as BackupManifest;
  } catch (e) {
    throw archiveInvalid(file, `the manifest of ${basename(file)} is not valid JSON: ${(e as Error).message}`, 'nothing was changed; the archive is damaged');
  }
  if (manifest.kind !== MANIFEST_KIND || manifest.version !== 1 || !Array.isArray(manifest.files)) {
    throw archiveInvalid(file, `the manifest of ${basename(file)} is not a version-1 workspace backup manifest`, 'nothing was changed; this provisioning cannot read it');
  }
  return { file, manifest, members };
}

/** Missing, extra and different members relative to the manifest, as readable lines. */
export function compareWithManifest(c: Pick<ArchiveContents, 'manifest' | 'members'>): { problems: string[]; missing: string[]; extra: string[]; different: string[] } {
  const listed = new Map(c.manifest.files.map((f) => [f.path, f]));
  const missing = [...listed.keys()].filter((p) => !c.members.has(p));
  const extra = [...c.members.keys()].filter((p) => !listed.has(p));
  const different = [...listed.values()].filter((f) => {
    const m = c.members.get(f.path);
    return m && (m.size !== f.size || m.sha256 !== f.sha256);
  }).map((f) => f.path);
  const problems = [
    ...missing.map((p) => `${p}: listed in the manifest, missing from the archive`),
    ...extra.map((p) => `${p}: in the archive, not in the manifest`),
    ...different.map((p) => `${p}: content differs from its manifest checksum`),
  ];
  return { problems, missing, extra, different };
}

export interface RestorePlan {
  archive: string;
  manifest: BackupManifest;
  target: string;
  create: string[];
  overwrite: string[];
  /** committed files not in the archive; deleted only by an exact restore (migration rollback) */
  remove: string[];
}

/** Read and verify an archive, and work out what restoring it into `target` changes. Writes nothing. */
export async function planRestore(archive: string, opts: { target?: string; exact?: boolean } = {}): Promise<RestorePlan> {
  const contents = await readArchive(archive);
  const cmp = compareWithManifest(contents);
  if (cmp.problems.length > 0) {
    throw archiveInvalid(archive, `backup archive ${basename(archive)} does not match its manifest: ${cmp.problems.slice(0, 3).join('; ')}${cmp.problems.length > 3 ? ` (+${cmp.problems.length - 3} more)` : ''}`,
      'nothing was changed; the archive was altered or damaged after it was written', { missing: cmp.missing, extra: cmp.extra, different: cmp.different });
  }
  const target = resolve(opts.target ?? contents.manifest.source_path);
  const paths = contents.manifest.files.map((f) => f.path);
  const exists = (p: string) => existsSync(join(target, p));
  const inArchive = new Set(paths);
  const remove = opts.exact && existsSync(target) ? committedFiles(target).files.filter((p) => !inArchive.has(p)) : [];
  return { archive, manifest: contents.manifest, target, create: paths.filter((p) => !exists(p)), overwrite: paths.filter(exists), remove };
}

/**
 * Extract into a staging directory next to the target, verify every staged file against the
 * manifest again, then move the files into place. Until the moves start nothing in the target
 * has changed; a failure before that leaves it as it was.
 */
export async function applyRestore(plan: RestorePlan): Promise<void> {
  const { target } = plan;
  mkdirSync(dirname(target), { recursive: true });
  const staging = mkdtempSync(join(dirname(target), `.${basename(target)}.restore-`));
  try {
    try {
      await tar.extract({ file: plan.archive, cwd: staging, strict: true });
    } catch (e) {
      throw archiveInvalid(plan.archive, `cannot extract ${basename(plan.archive)}: ${(e as Error).message}`, 'nothing was changed');
    }
    const staged = new Map<string, { size: number; sha256: string }>();
    for (const f of plan.manifest.files) {
      const p = join(staging, f.path);
      if (existsSync(p)) staged.set(f.path, { size: statSync(p).size, sha256: await fileSha256(p) });
    }
    const cmp = compareWithManifest({ manifest: plan.manifest, members: staged });
    if (cmp.problems.length > 0) {
      throw archiveInvalid(plan.archive, `the archive changed while it was restored: ${cmp.problems.slice(0, 3).join('; ')}`, 'nothing was changed; run the restore again');
    }
    mkdirSync(target, { recursive: true });
    for (const f of plan.manifest.files) {
      const dest = join(target, f.path);
      mkdirSync(dirname(dest), { recursive: true });
      // A restored database must not meet the write-ahead log of the one it replaces.
      if (f.path === STATE_DB_MEMBER) for (const x of ['-wal', '-shm']) rmSync(dest + x, { force: true });
      renameSync(join(staging, f.path), dest);
    }
    for (const p of plan.remove) rmSync(join(target, p), { force: true });
    createStateDirs(target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

export interface BackupInfo { name: string; path: string; workspace?: string; created_at?: string; reason: string; size: number; files?: number }

/** The archives in `<ws>/.provisioning/backups/`, oldest first; unreadable ones are listed as such. */
export async function listBackups(wsPath: string): Promise<BackupInfo[]> {
  let names: string[];
  try {
    names = readdirSync(backupsDir(wsPath)).filter((n) => n.endsWith('.tar.gz'));
  } catch {
    return [];
  }
  const out: BackupInfo[] = [];
  for (const name of names) {
    const path = join(backupsDir(wsPath), name);
    const size = statSync(path).size;
    try {
      const { manifest } = await readArchive(path);
      out.push({ name, path, workspace: manifest.workspace, created_at: manifest.created_at, reason: manifest.reason, size, files: manifest.files.length });
    } catch (e) {
      out.push({ name, path, created_at: statSync(path).mtime.toISOString(), reason: `unreadable: ${(e as Error).message}`, size });
    }
  }
  return out.sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? '') || a.name.localeCompare(b.name));
}
