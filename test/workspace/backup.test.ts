import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import * as tar from 'tar';
import type { ProvError } from '../../src/errors/index.js';
import { openStateDb } from '../../src/store/sqlite/open.js';
import { listWorkspaceMigrations, recordWorkspaceMigration } from '../../src/store/sqlite/workspace-migrations.js';
import { applyRestore, createBackup, defaultBackupPath, listBackups, MANIFEST_PATH, planRestore, readArchive } from '../../src/workspace/backup.js';
import { committedFiles } from '../../src/workspace/layout.js';

/** A workspace `shop` with a few committed files, state that backups leave out, and a plaintext secret. */
function workspace(): string {
  const root = mkdtempSync(join(tmpdir(), 'prov-bak-'));
  const ws = join(root, 'shop');
  const files: Record<string, string> = {
    'provisioning.toml': '[workspace]\nname = "shop"\nformat_version = 1\n',
    'config/dev.toml': '[execution]\nparallel_limit = 2\n',
    'infra/web/settings.ts': 'export default {};\n',
    'config/local-overrides.toml': '[output]\nformat = "json"\n',
    '.provisioning/logs/provisioning.log': 'log line\n',
    '.provisioning/cache/x': 'cache',
    'node_modules/pkg/index.js': 'module.exports = 1;\n',
    'secrets/db.plain': 'hunter2\n',
  };
  for (const [p, t] of Object.entries(files)) { mkdirSync(dirname(join(ws, p)), { recursive: true }); writeFileSync(join(ws, p), t); }
  return ws;
}

const snapshot = (dir: string) => Object.fromEntries(committedFiles(dir).files.map((f) => [f, readFileSync(join(dir, f), 'utf8')]));

/** Extract, edit, and pack again in the original member order (plus `added` at the end). */
async function repack(archive: string, edit: (dir: string) => void, added: string[] = []): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'prov-repack-'));
  await tar.extract({ file: archive, cwd: dir });
  edit(dir);
  const names: string[] = [];
  await tar.list({ file: archive, onReadEntry: (e) => { names.push(e.path); } });
  const out = join(dirname(dir), `${dir.split('/').pop()}.tar.gz`);
  await tar.create({ gzip: true, cwd: dir, file: out }, [...names.filter((n) => existsSync(join(dir, n))), ...added]);
  return out;
}

describe('workspace backups', () => {
  it('archive the committed files and a state snapshot, manifest first, without state, node_modules or *.plain', async () => {
    const ws = workspace();
    const db = openStateDb(ws);
    recordWorkspaceMigration(db, { from: 0, to: 1, step: 's', started_at: 'a', finished_at: 'b', success: true, notes: '' });
    const out = defaultBackupPath(ws, 'shop');
    assert.match(out, /\/\.provisioning\/backups\/shop_backup_\d{8}_\d{6}\.tar\.gz$/);
    const res = await createBackup({ name: 'shop', path: ws }, { reason: 'manual', output: out });
    db.close();
    const names: string[] = [];
    await tar.list({ file: res.archive, onReadEntry: (e) => { names.push(e.path); } });
    assert.equal(names[0], MANIFEST_PATH);
    assert.deepEqual(names.slice(1), ['config/dev.toml', 'config/local-overrides.toml', 'infra/web/settings.ts', 'provisioning.toml', '.provisioning/state.db']);
    const { manifest } = await readArchive(res.archive);
    assert.equal(manifest.workspace, 'shop');
    assert.equal(manifest.format_version, 1);
    assert.equal(manifest.reason, 'manual');
    assert.equal(manifest.source_path, ws);
    assert.equal(manifest.files.find((f) => f.path === 'config/dev.toml')?.sha256.length, 64);
    // A second backup in the same second gets its own name.
    assert.notEqual(defaultBackupPath(ws, 'shop'), out);
    const listed = await listBackups(ws);
    assert.deepEqual(listed.map((b) => [b.name, b.reason, b.files]), [[out.split('/').pop(), 'manual', 5]]);
  });

  it('restore round trip: same contents, the state database included', async () => {
    const ws = workspace();
    const db = openStateDb(ws);
    recordWorkspaceMigration(db, { from: 0, to: 1, step: 's', started_at: 'a', finished_at: 'b', success: true, notes: 'kept' });
    db.close();
    const { archive } = await createBackup({ name: 'shop', path: ws }, { reason: 'manual', output: join(dirname(ws), 'b.tar.gz') });
    const target = join(dirname(ws), 'copy');
    const plan = await planRestore(archive, { target });
    assert.equal(plan.overwrite.length, 0);
    await applyRestore(plan);
    assert.deepEqual(snapshot(target), snapshot(ws));
    const copy = openStateDb(target);
    assert.equal(listWorkspaceMigrations(copy)[0]?.notes, 'kept');
    copy.close();
    assert.ok(existsSync(join(target, '.provisioning', 'tmp')), 'state directories are recreated');
    assert.deepEqual(readdirSync(dirname(ws)).filter((n) => n.includes('.restore-')), [], 'no staging directory is left');
  });

  it('an exact restore also removes committed files the archive does not have', async () => {
    const ws = workspace();
    const { archive } = await createBackup({ name: 'shop', path: ws }, { reason: 'x', output: join(dirname(ws), 'b.tar.gz') });
    writeFileSync(join(ws, 'config', 'new.toml'), 'x = 1\n');
    writeFileSync(join(ws, 'config', 'dev.toml'), 'changed\n');
    const plan = await planRestore(archive, { target: ws, exact: true });
    assert.deepEqual(plan.remove, ['config/new.toml']);
    await applyRestore(plan);
    assert.ok(!existsSync(join(ws, 'config', 'new.toml')));
    assert.equal(readFileSync(join(ws, 'config', 'dev.toml'), 'utf8'), '[execution]\nparallel_limit = 2\n');
  });

  it('a truncated archive is ARCHIVE_INVALID and nothing is written', async () => {
    const ws = workspace();
    const { archive } = await createBackup({ name: 'shop', path: ws }, { reason: 'x', output: join(dirname(ws), 'b.tar.gz') });
    const bytes = readFileSync(archive);
    const cut = join(dirname(ws), 'cut.tar.gz');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const target = join(dirname(ws), 'never');
    await assert.rejects(planRestore(cut, { target }), (e: ProvError) => {
      assert.equal(e.code, 'ARCHIVE_INVALID');
      assert.match(e.message, /truncated or corrupt/);
      return true;
    });
    assert.ok(!existsSync(target));
  });

  it('a member changed after the backup is reported against the manifest', async () => {
    const ws = workspace();
    const { archive } = await createBackup({ name: 'shop', path: ws }, { reason: 'x', output: join(dirname(ws), 'b.tar.gz') });
    const tampered = await repack(archive, (d) => writeFileSync(join(d, 'config/dev.toml'), '[execution]\nparallel_limit = 99\n'));
    await assert.rejects(planRestore(tampered, { target: join(dirname(ws), 'never') }), (e: ProvError) => {
      assert.equal(e.code, 'ARCHIVE_INVALID');
      assert.match(e.message, /config\/dev\.toml: content differs from its manifest checksum/);
      assert.deepEqual(e.details.different, ['config/dev.toml']);
      return true;
    });
    const extra = await repack(archive, (d) => writeFileSync(join(d, 'extra.txt'), 'x'), ['extra.txt']);
    await assert.rejects(planRestore(extra, {}), /extra\.txt: in the archive, not in the manifest/);
    const missing = await repack(archive, (d) => rmSync(join(d, 'infra/web/settings.ts')));
    await assert.rejects(planRestore(missing, {}), /infra\/web\/settings\.ts: listed in the manifest, missing from the archive/);
  });

  it('an archive that is not a workspace backup is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-bak-'));
    writeFileSync(join(dir, 'a.txt'), 'a');
    const file = join(dir, 'plain.tar.gz');
    await tar.create({ gzip: true, cwd: dir, file }, ['a.txt']);
    await assert.rejects(readArchive(file), /is not a workspace backup: its first member is not \.provisioning\/backup-manifest\.json/);
    await assert.rejects(readArchive(join(dir, 'nope.tar.gz')), (e: ProvError) => e.code === 'NOT_FOUND');
  });
});
