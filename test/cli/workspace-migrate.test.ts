import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runCli, tempHome } from '../fixtures/cli.js';
import { formatZeroWorkspace, tree } from '../workspace/fixtures.js';

async function registeredOld(localToml?: string) {
  const home = tempHome();
  const ws = formatZeroWorkspace(home, 'old', localToml);
  const r = await runCli(['workspace', 'register', 'old', ws], { home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /uses format 0; this version needs format 1/);
  return { home, ws };
}

const history = (ws: string) => {
  const db = new Database(join(ws, '.provisioning', 'state.db'), { readonly: true });
  try {
    return db.prepare('SELECT from_version, to_version, step, success, notes FROM workspace_migrations ORDER BY id').all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
};

const committed = (dir: string) => Object.fromEntries(Object.entries(tree(dir)).filter(([p]) => !p.startsWith('.provisioning')));

describe('workspace formats and migrate', () => {
  it('an old format must be migrated before use: exit 3 pointing at `workspace migrate`', async () => {
    const { home } = await registeredOld();
    const r = await runCli(['workspace', 'activate', 'old'], { home });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /workspace 'old' uses format 0; this version needs format 1; run `provisioning workspace migrate old`/);
    assert.equal((await runCli(['workspace', 'activate', 'old', '--out', 'json'], { home })).json().error.code, 'WORKSPACE_MIGRATION_REQUIRED');
    const v = await runCli(['workspace', 'validate', 'old'], { home });
    assert.equal(v.code, 3);
    assert.match(v.stdout, /WORKSPACE_MIGRATION_REQUIRED/);
  });

  it('a newer format is WORKSPACE_TOO_NEW (exit 3) and is never downgraded', async () => {
    const home = tempHome();
    assert.equal((await runCli(['init', 'next'], { home })).code, 0);
    const file = join(home, 'next', 'provisioning.toml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('format_version = 1', 'format_version = 5'));
    for (const args of [['workspace', 'activate', 'next'], ['workspace', 'migrate', 'next', '--yes']]) {
      const r = await runCli(args, { home });
      assert.equal(r.code, 3, args.join(' '));
      assert.match(r.stderr, /workspace 'next' uses format 5; provisioning \S+ reads formats 1–1/);
      assert.match(r.stderr, /upgrade provisioning/);
    }
  });

  it('--check prints the steps and their file changes and writes nothing', async () => {
    const { home, ws } = await registeredOld();
    const before = tree(home);
    const r = await runCli(['workspace', 'migrate', 'old', '--check'], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Check mode — nothing will be changed {3}workspace old · format 0 → 1 · backup first/);
    assert.match(r.stdout, /0→1 local-overrides-and-format-version\s+rename\s+config\/local\.toml → config\/local-overrides\.toml/);
    assert.match(r.stdout, /update\s+\.gitignore\s+add \.provisioning\/, config\/local-overrides\.toml, \*\.plain/);
    assert.match(r.stdout, /update\s+provisioning\.toml\s+workspace\.format_version = 1/);
    const j = (await runCli(['workspace', 'migrate', 'old', '--check', '--out', 'json'], { home })).json();
    assert.deepEqual([j.from, j.to, j.steps.map((s: { name: string }) => s.name)], [0, 1, ['local-overrides-and-format-version']]);
    assert.equal(j.steps[0].description, 'set workspace.format_version, rename config/local.toml to config/local-overrides.toml, add missing .gitignore entries');
    assert.deepEqual(tree(home), before);
    assert.ok(!existsSync(join(ws, '.provisioning')));
  });

  it('without --yes and without a terminal: exit 7, no backup, nothing changed', async () => {
    const { home } = await registeredOld();
    const before = tree(home);
    const r = await runCli(['workspace', 'migrate', 'old'], { home });
    assert.equal(r.code, 7);
    assert.match(r.stderr, /needs confirmation/);
    assert.deepEqual(tree(home), before);
  });

  it('migrates 0 → 1 after a backup and records the step in the state database', async () => {
    const { home, ws } = await registeredOld();
    const r = await runCli(['workspace', 'migrate', 'old', '--yes', '--out', 'json'], { home });
    assert.equal(r.code, 0, r.stderr);
    const data = r.json();
    assert.deepEqual([data.from, data.to, data.changed, data.steps[0].name], [0, 1, true, 'local-overrides-and-format-version']);
    assert.match(data.backup, /\/old\/\.provisioning\/backups\/old_backup_\d{8}_\d{6}\.tar\.gz$/);

    assert.equal(readFileSync(join(ws, 'provisioning.toml'), 'utf8'), '# old workspace\n[workspace]\nname = "old"\nformat_version = 1\n\n[providers]\ndefault = "local"\n');
    assert.ok(!existsSync(join(ws, 'config/local.toml')));
    assert.equal(readFileSync(join(ws, 'config/local-overrides.toml'), 'utf8'), '[execution]\nparallel_limit = 7\n');
    assert.match(readFileSync(join(ws, '.gitignore'), 'utf8'), /^node_modules\/\n# added by provisioning workspace migrate\n\.provisioning\/\nconfig\/local-overrides\.toml\n\*\.plain\n$/);
    assert.deepEqual(history(ws).map((h) => [h.from_version, h.to_version, h.step, h.success]), [[0, 1, 'local-overrides-and-format-version', 1]]);

    const backups = (await runCli(['workspace', 'list-backups', 'old', '--out', 'json'], { home })).json();
    assert.deepEqual(backups.map((b: { reason: string }) => b.reason), ['migrate 0→1']);

    assert.equal((await runCli(['workspace', 'activate', 'old'], { home })).code, 0);
    const info = (await runCli(['workspace', 'info', '--out', 'json'], { home })).json();
    assert.deepEqual([info.name, info.format_version, info.format_status, info.infras], ['old', 1, 'current', ['web']]);
    assert.ok(info.state_size_bytes > 0, 'state.db and the backup count as state');
    assert.equal((await runCli(['config', 'get', 'execution.parallel_limit'], { home, cwd: ws })).stdout.trim(), '7');
    const again = await runCli(['workspace', 'migrate', 'old', '--yes'], { home });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /workspace old is at format 1; nothing to migrate/);
  });

  it('a failing step restores the backup, names the step and records the failure', async () => {
    const { home, ws } = await registeredOld('[execution]\nparallel_limt = 7\n');
    const before = committed(ws);
    const r = await runCli(['workspace', 'migrate', 'old', '--yes'], { home });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /migration step 'local-overrides-and-format-version' \(format 0→1\) failed: CONFIG_UNKNOWN_KEY: unknown key `parallel_limt` in \[execution\]/);
    assert.match(r.stderr, /the workspace was restored from .*old_backup_\d{8}_\d{6}\.tar\.gz/);
    assert.deepEqual(committed(ws), before);
    const rows = history(ws);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.success, 0);
    assert.match(String(rows[0]!.notes), /CONFIG_UNKNOWN_KEY.*; restored from .*old_backup_/);
    assert.equal(readdirSync(join(ws, '.provisioning', 'backups')).length, 1);
    const j = await runCli(['workspace', 'migrate', 'old', '--yes', '--skip-backup', '--out', 'json'], { home });
    assert.equal(j.code, 1);
    assert.equal(j.json().error.details.step, 'local-overrides-and-format-version');
    assert.equal(j.json().error.details.backup, null);
  });

  it('--target-version must be a known, not lower, format', async () => {
    const { home } = await registeredOld();
    const high = await runCli(['workspace', 'migrate', 'old', '--target-version', '3', '--yes'], { home });
    assert.equal(high.code, 2);
    assert.match(high.stderr, /--target-version 3: this provisioning knows workspace formats up to 1/);
    const junk = await runCli(['workspace', 'migrate', 'old', '--target-version', 'two'], { home });
    assert.equal(junk.code, 2);
    assert.match(junk.stderr, /--target-version expects a format number, got 'two'/);
  });
});
