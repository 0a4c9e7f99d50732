import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import type { ProvError } from '../../src/errors/index.js';
import { checkFormat, CURRENT_FORMAT, readWorkspaceFile, writeFormatVersion } from '../../src/workspace/format.js';
import { applyMigration, planMigration } from '../../src/workspace/migrate.js';

function ws(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'prov-fmt-'));
  for (const [p, t] of Object.entries(files)) { mkdirSync(dirname(join(dir, p)), { recursive: true }); writeFileSync(join(dir, p), t); }
  return dir;
}

const code = (c: string) => (e: ProvError) => { assert.equal(e.code, c); return true; };

describe('format versions', () => {
  it('reads the current format', () => {
    const s = checkFormat(ws({ 'provisioning.toml': '[workspace]\nname = "a"\nformat_version = 1\n' }));
    assert.deepEqual(s, { name: 'a', version: 1, min: 1, current: CURRENT_FORMAT, requires: undefined, migrationAvailable: false });
  });

  it('a workspace file without format_version is the current format', () => {
    assert.equal(checkFormat(ws({ 'provisioning.toml': '[workspace]\nname = "a"\n' })).version, CURRENT_FORMAT);
  });

  it('format 0 (the pre-release layout) needs a migration', () => {
    const dir = ws({ 'provisioning.toml': '[workspace]\nname = "old"\nformat_version = 0\n' });
    assert.throws(() => checkFormat(dir), (e: ProvError) => {
      assert.equal(e.code, 'WORKSPACE_MIGRATION_REQUIRED');
      assert.equal(e.exitCode, 3);
      assert.equal(e.message, "workspace 'old' uses format 0; this version needs format 1; run `provisioning workspace migrate old`");
      return true;
    });
  });

  it('a newer format or an unmet `requires` is WORKSPACE_TOO_NEW', () => {
    assert.throws(() => checkFormat(ws({ 'provisioning.toml': '[workspace]\nname = "n"\nformat_version = 2\n' })), (e: ProvError) => {
      assert.equal(e.code, 'WORKSPACE_TOO_NEW');
      assert.match(e.message, /uses format 2; provisioning .* reads formats 1–1/);
      return true;
    });
    assert.throws(() => checkFormat(ws({ 'provisioning.toml': '[workspace]\nname = "n"\nformat_version = 1\nrequires = ">=2.1"\n' }), '0.1.0'), (e: ProvError) => {
      assert.equal(e.code, 'WORKSPACE_TOO_NEW');
      assert.equal(e.hint, 'upgrade provisioning to satisfy >=2.1');
      return true;
    });
    assert.equal(checkFormat(ws({ 'provisioning.toml': '[workspace]\nname = "n"\nformat_version = 1\nrequires = ">=0.1 <1"\n' }), '0.1.0').requires, '>=0.1 <1');
  });

  it('no workspace file is NO_WORKSPACE; bad TOML and bad types are CONFIG_INVALID with a location', () => {
    assert.throws(() => checkFormat(ws({})), code('NO_WORKSPACE'));
    assert.throws(() => readWorkspaceFile(ws({ 'provisioning.toml': '[workspace]\nname = \n' })), (e: ProvError) => {
      assert.equal(e.code, 'CONFIG_INVALID');
      assert.equal(e.location?.line, 2);
      return true;
    });
    const firstError = (e: ProvError) => (e.details.errors as { message: string }[])[0]!.message;
    assert.throws(() => readWorkspaceFile(ws({ 'provisioning.toml': '[workspace]\nformat_version = "1"\n' })), (e: ProvError) => {
      assert.match(firstError(e), /format_version` expects a non-negative integer, got "1"/);
      return true;
    });
    assert.throws(() => checkFormat(ws({ 'provisioning.toml': '[workspace]\nformat_version = 1\nrequires = "not a range"\n' })), (e: ProvError) => {
      assert.match(firstError(e), /is not a semver range/);
      return true;
    });
  });

  it('writes format_version and keeps the rest of the file', () => {
    const dir = ws({ 'provisioning.toml': '# top\n[workspace]\nname = "a" # mine\n\n[providers]\ndefault = "local"\n' });
    writeFormatVersion(dir, 1);
    assert.equal(readFileSync(join(dir, 'provisioning.toml'), 'utf8'), '# top\n[workspace]\nname = "a" # mine\nformat_version = 1\n\n[providers]\ndefault = "local"\n');
  });
});

describe('migration 0 → 1', () => {
  const old = () => ws({
    'provisioning.toml': '[workspace]\nname = "old"\n',
    'config/local.toml': '[output]\nformat = "json"\n',
    '.gitignore': 'node_modules/\n/.provisioning\n',
  });

  it('plans the rename, the .gitignore entries and the format_version write', () => {
    const plan = planMigration(old(), 0, 1);
    assert.equal(plan.length, 1);
    assert.equal(plan[0]!.step.name, 'local-overrides-and-format-version');
    assert.deepEqual(plan[0]!.changes.map((c) => [c.action, c.path, c.to ?? '', c.details]), [
      ['rename', 'config/local.toml', 'config/local-overrides.toml', 'personal overrides now live in config/local-overrides.toml'],
      ['update', '.gitignore', '', 'add config/local-overrides.toml, *.plain'],
      ['update', 'provisioning.toml', '', 'workspace.format_version = 1'],
    ]);
  });

  it('applies the step and runs the validation after it', async () => {
    const dir = old();
    const seen: string[] = [];
    const outcomes = await applyMigration(dir, planMigration(dir, 0, 1), async (p) => { seen.push(p); });
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]!.error, undefined);
    assert.deepEqual(seen, [dir]);
    assert.ok(!existsSync(join(dir, 'config/local.toml')));
    assert.equal(readFileSync(join(dir, 'config/local-overrides.toml'), 'utf8'), '[output]\nformat = "json"\n');
    assert.equal(readFileSync(join(dir, '.gitignore'), 'utf8'), 'node_modules/\n/.provisioning\n# added by provisioning workspace migrate\nconfig/local-overrides.toml\n*.plain\n');
    assert.equal(checkFormat(dir).version, 1);
  });

  it('reports a failed validation as the outcome of that step', async () => {
    const dir = old();
    const outcomes = await applyMigration(dir, planMigration(dir, 0, 1), async () => { throw new Error('invalid'); });
    assert.match(String(outcomes[0]!.error), /invalid/);
  });

  it('refuses when both override files exist, downgrades, and unknown targets', () => {
    const both = ws({ 'provisioning.toml': '[workspace]\nname = "b"\n', 'config/local.toml': '', 'config/local-overrides.toml': '' });
    assert.throws(() => planMigration(both, 0, 1), (e: ProvError) => {
      assert.equal(e.code, 'WORKSPACE_INVALID');
      assert.match(e.hint!, /merge config\/local.toml into config\/local-overrides.toml/);
      return true;
    });
    assert.throws(() => planMigration(old(), 1, 0), /workspaces are never downgraded/);
    assert.throws(() => planMigration(old(), 0, 7), /knows workspace formats up to 1/);
    assert.deepEqual(planMigration(old(), 1, 1), []);
  });
});
