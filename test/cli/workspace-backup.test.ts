import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tar from 'tar';
import { runCli, tempHome } from '../fixtures/cli.js';
import { tree, writeFiles } from '../workspace/fixtures.js';

/** A `full` workspace with a personal override file, backed up once. */
async function backedUp() {
  const home = tempHome();
  assert.equal((await runCli(['init', 'shop', '--template', 'full'], { home })).code, 0);
  const ws = join(home, 'shop');
  writeFiles(ws, { 'config/local-overrides.toml': '[output]\nformat = "table"\n', '.provisioning/logs/x.log': 'not backed up\n' });
  const r = await runCli(['workspace', 'backup', '--out', 'json'], { home, cwd: ws });
  assert.equal(r.code, 0, r.stderr);
  // The archive holds the committed files: everything outside .provisioning/ (the template decides how many).
  return { home, ws, archive: r.json().archive as string, data: r.json(), files: Object.keys(committed(ws)).filter((p) => !p.endsWith('/')).length };
}

const committed = (dir: string) => Object.fromEntries(Object.entries(tree(dir)).filter(([p]) => !p.startsWith('.provisioning')));

describe('workspace backup and restore', () => {
  it('backup → restore round trip gives the same files', async () => {
    const { home, ws, archive, data, files } = await backedUp();
    assert.match(archive, new RegExp(`^${ws}/\\.provisioning/backups/shop_backup_\\d{8}_\\d{6}\\.tar\\.gz$`));
    assert.equal(data.reason, 'manual');
    assert.ok(files > 5);
    assert.equal(data.files, files);

    const list = await runCli(['workspace', 'list-backups', 'shop', '--out', 'json'], { home });
    assert.deepEqual(list.json().map((b: Record<string, unknown>) => [b.name, b.reason, b.files]), [[archive.split('/').pop(), 'manual', files]]);
    assert.match((await runCli(['workspace', 'list-backups', 'shop'], { home })).stdout, /shop_backup_\d{8}_\d{6}\.tar\.gz\s+\S+\s+manual\s+\d+/);

    const copy = join(home, 'copy');
    const r = await runCli(['workspace', 'restore', archive, '--path', copy, '--out', 'json'], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([r.json().created, r.json().overwritten, r.json().workspace], [files, 0, 'shop']);
    assert.match(r.stderr, /is not registered; `provisioning workspace register shop .*copy` adds it/);
    assert.deepEqual(committed(copy), committed(ws));
    assert.ok(!existsSync(join(copy, '.provisioning/logs/x.log')));
    assert.deepEqual(readdirSync(home).filter((n) => n.includes('.restore-')), []);
  });

  it('refuses to overwrite existing files without --force, listing them; --force restores the archived content', async () => {
    const { home, ws, archive, files } = await backedUp();
    writeFileSync(join(ws, 'config/dev.toml'), '[execution]\nparallel_limit = 9\n');
    const before = tree(ws);
    const r = await runCli(['workspace', 'restore', archive], { home });
    assert.equal(r.code, 6);
    assert.match(r.stderr, new RegExp(`would overwrite ${files} existing files: \\.gitignore, \\.taplo\\.toml, \\.vscode/settings\\.json, config/dev\\.toml`));
    assert.match(r.stderr, /--force overwrites them/);
    assert.deepEqual(tree(ws), before);
    const j = await runCli(['workspace', 'restore', archive, '--out', 'json'], { home });
    assert.equal(j.json().error.code, 'ALREADY_EXISTS');
    assert.equal(j.json().error.details.files.length, files);

    const forced = await runCli(['workspace', 'restore', archive, '--force'], { home });
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(readFileSync(join(ws, 'config/dev.toml'), 'utf8'), '# Environment \'dev\' (the default).\n\n[execution]\nparallel_limit = 4\n\n[logging]\nlevel = "debug"\n');
  });

  it('--check lists what would be created or overwritten and writes nothing', async () => {
    const { home, ws, archive, files } = await backedUp();
    writeFileSync(join(home, 'partial-marker'), '');
    const target = join(home, 'half');
    writeFiles(target, { 'provisioning.toml': 'old' });
    const before = tree(home);
    const r = await runCli(['workspace', 'restore', archive, '--path', target, '--check', '--out', 'json'], { home });
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(r.json().summary, { create: files - 1, overwrite: 1 });
    assert.deepEqual(r.json().actions.find((a: { name: string }) => a.name === 'provisioning.toml'), { action: 'overwrite', kind: 'file', name: 'provisioning.toml' });
    const human = await runCli(['workspace', 'restore', archive, '--path', target, '--check'], { home });
    assert.match(human.stdout, /^Check mode — nothing will be changed/);
    assert.match(human.stdout, /overwrite\s+provisioning\.toml/);
    assert.match(human.stdout, /create\s+config\/prod\.toml/);
    assert.deepEqual(tree(home), before);
    assert.ok(existsSync(ws));
  });

  it('a truncated archive is a clear error and nothing changes', async () => {
    const { home, ws, archive } = await backedUp();
    const bytes = readFileSync(archive);
    const cut = join(home, 'cut.tar.gz');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    writeFileSync(join(ws, 'config/dev.toml'), 'edited after the backup\n');
    const before = tree(home);
    for (const extra of [[], ['--force'], ['--path', join(home, 'fresh')]]) {
      const r = await runCli(['workspace', 'restore', cut, ...extra], { home });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /cannot read backup archive cut\.tar\.gz: it is truncated or corrupt \(zlib: unexpected end of file\)/);
      assert.match(r.stderr, /nothing was changed/);
      assert.deepEqual(tree(home), before);
    }
    const j = await runCli(['workspace', 'restore', cut, '--out', 'json'], { home });
    assert.equal(j.json().error.code, 'ARCHIVE_INVALID');
  });

  it('a tampered archive does not match its manifest and nothing changes', async () => {
    const { home, ws, archive } = await backedUp();
    const dir = mkdtempSync(join(tmpdir(), 'prov-tamper-'));
    await tar.extract({ file: archive, cwd: dir });
    const names: string[] = [];
    await tar.list({ file: archive, onReadEntry: (e) => { names.push(e.path); } });
    writeFileSync(join(dir, 'infra/main/settings.ts'), 'export default { servers: [] };\n');
    const bad = join(home, 'tampered.tar.gz');
    await tar.create({ gzip: true, cwd: dir, file: bad }, names);
    const before = tree(home);
    const r = await runCli(['workspace', 'restore', bad, '--force'], { home });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /backup archive tampered\.tar\.gz does not match its manifest: infra\/main\/settings\.ts: content differs from its manifest checksum/);
    assert.deepEqual(tree(home), before);
    assert.ok(existsSync(join(ws, 'provisioning.toml')));
  });

  it('backup --check prints the target and writes nothing; --output names the file', async () => {
    const home = tempHome();
    assert.equal((await runCli(['init', 'shop'], { home })).code, 0);
    const before = tree(home);
    const c = await runCli(['workspace', 'backup', 'shop', '--check'], { home });
    assert.equal(c.code, 0);
    assert.match(c.stdout, /would write .*\/shop\/\.provisioning\/backups\/shop_backup_\d{8}_\d{6}\.tar\.gz \(\d+ files\)/);
    assert.deepEqual(tree(home), before);
    const out = join(home, 'keep.tar.gz');
    const r = await runCli(['workspace', 'backup', 'shop', '--output', out], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(out));
    const again = await runCli(['workspace', 'backup', 'shop', '--output', out], { home });
    assert.equal(again.code, 6);
    assert.match(again.stderr, /keep\.tar\.gz already exists/);
  });
});
