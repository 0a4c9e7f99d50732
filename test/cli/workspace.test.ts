import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempHome } from '../fixtures/cli.js';
import { tree, writeFiles } from '../workspace/fixtures.js';

const registryPath = (home: string) => join(home, 'config', 'workspaces.toml');

describe('workspace init', () => {
  for (const template of ['minimal', 'local', 'full']) {
    it(`creates, registers and activates a '${template}' workspace whose config validates`, async () => {
      const home = tempHome();
      const r = await runCli(['workspace', 'init', 'demo', '--template', template, '--out', 'json'], { home });
      assert.equal(r.code, 0, r.stderr);
      const data = r.json();
      const ws = join(home, 'demo');
      assert.equal(data.path, ws);
      assert.equal(data.active, true);
      for (const f of ['provisioning.toml', '.gitignore', 'package.json', 'tsconfig.json']) assert.ok(existsSync(join(ws, f)), f);
      for (const d of ['locks', 'logs', 'cache', 'tmp', 'backups']) assert.equal(statSync(join(ws, '.provisioning', d)).mode & 0o777, 0o700, d);
      assert.deepEqual(readFileSync(join(ws, '.gitignore'), 'utf8').split('\n').slice(1, 5), ['.provisioning/', 'config/local-overrides.toml', 'node_modules/', '*.plain']);
      assert.match(readFileSync(join(ws, 'provisioning.toml'), 'utf8'), /\[workspace\]\nname = "demo"\n(.*\n)*format_version = 1\n/);

      const v = await runCli(['validate', 'config'], { home, cwd: ws });
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /configuration valid/);
      const wv = await runCli(['workspace', 'validate'], { home, cwd: ws });
      assert.equal(wv.code, 0, wv.stdout + wv.stderr);
      assert.match(wv.stdout, /^✓ workspace demo is valid \(format 1/);
      assert.equal((await runCli(['workspace', 'active'], { home })).stdout, 'demo\n');
    });
  }

  it('the local template is a workspace for the local provider with two Debian servers', async () => {
    const home = tempHome();
    assert.equal((await runCli(['init', 'lab', '--template', 'local'], { home })).code, 0);
    const ws = join(home, 'lab');
    const toml = readFileSync(join(ws, 'provisioning.toml'), 'utf8');
    assert.match(toml, /default_infra = "local"/);
    assert.match(toml, /\[providers\]\ndefault = "local"/);
    assert.match(toml, /\[providers\.local\]\n(.*\n)*socket = ""\n(.*\n)*image = "localhost\/prov-debian:12"\n(.*\n)*transport = "exec"/);
    const settings = readFileSync(join(ws, 'infra/local/settings.ts'), 'utf8');
    assert.match(settings, /^import \{ defineInfra \} from 'provisioning';/);
    assert.deepEqual([...settings.matchAll(/hostname: '([a-z0-9-]+)'/g)].map((m) => m[1]), ['web-01', 'db-01']);
    assert.ok(existsSync(join(ws, 'config/dev.toml')));
    const info = (await runCli(['workspace', 'info', 'lab', '--out', 'json'], { home })).json();
    assert.deepEqual([info.infras, info.default_infra, info.default_provider, info.mode, info.format_version], [['local'], 'local', 'local', 'solo', 1]);
    const show = await runCli(['config', 'show', 'providers.local.transport', '--origin'], { home, cwd: ws });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /workspace/);
  });

  it('--check lists the files and the registry entry and writes nothing', async () => {
    const home = tempHome();
    const r = await runCli(['workspace', 'init', 'demo', '--template', 'full', '--check'], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Check mode — nothing will be changed/);
    for (const f of ['provisioning.toml', 'config/prod.toml', 'infra/main/settings.ts', 'workflows/rollout.ts', 'policies/default.cedar', '.gitignore']) assert.match(r.stdout, new RegExp(`create\\s+file\\s+${f.replace(/\./g, '\\.')}`));
    assert.match(r.stdout, /create\s+registry\s+demo → ~\/demo \(active\)/);
    assert.ok(!existsSync(join(home, 'demo')));
    assert.ok(!existsSync(registryPath(home)));
    const j = (await runCli(['workspace', 'init', 'demo', '--check', '--out', 'json'], { home })).json();
    assert.equal(j.check, true);
    assert.deepEqual(j.registry.entry, { name: 'demo', path: '~/demo', active: true });
  });

  it('rejects an invalid name with exit 2 and the corrected name as hint', async () => {
    const home = tempHome();
    const r = await runCli(['workspace', 'init', 'Web_01'], { home });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /invalid workspace name 'Web_01': a name is lowercase letters, digits and hyphens/);
    assert.match(r.stderr, /try:\s+use 'web-01'/);
    const j = await runCli(['workspace', 'init', 'Web_01', '--out', 'json'], { home });
    assert.equal(j.code, 2);
    assert.deepEqual([j.json().error.code, j.json().error.details.hint], ['INVALID_ARGUMENT', "use 'web-01'"]);
    assert.ok(!existsSync(join(home, 'Web_01')));
  });

  it('refuses a taken name or path (exit 6) and a non-empty directory without --overwrite', async () => {
    const home = tempHome();
    assert.equal((await runCli(['init', 'shop'], { home })).code, 0);
    const again = await runCli(['init', 'shop', 'elsewhere'], { home });
    assert.equal(again.code, 6);
    assert.match(again.stderr, /workspace 'shop' is already registered \(at ~\/shop\)/);
    const samePath = await runCli(['init', 'other', 'shop'], { home });
    assert.equal(samePath.code, 6);
    assert.match(samePath.stderr, /is already registered as workspace 'shop'/);

    writeFiles(home, { 'busy/notes.txt': 'mine' });
    const busy = await runCli(['init', 'busy'], { home });
    assert.equal(busy.code, 6);
    assert.match(busy.stderr, /busy is not empty \(1 entry\)/);
    assert.match(busy.stderr, /--overwrite/);
    assert.ok(!existsSync(join(home, 'busy', 'provisioning.toml')));
    const ok = await runCli(['init', 'busy', '--overwrite', '--no-activate'], { home });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(readFileSync(join(home, 'busy', 'notes.txt'), 'utf8'), 'mine');
    assert.equal((await runCli(['workspace', 'active'], { home })).stdout, 'shop\n');
  });
});

describe('workspace registry commands', () => {
  it('a workspace that is not registered: exit 3, naming `workspace list` and `register`', async () => {
    const home = tempHome();
    assert.equal((await runCli(['init', 'shop'], { home })).code, 0);
    for (const args of [['workspace', 'activate', 'shp'], ['workspace', 'info', 'shp'], ['workspace', 'remove', 'shp', '--yes']]) {
      const r = await runCli(args, { home });
      assert.equal(r.code, 3, args.join(' '));
      assert.match(r.stderr, /workspace 'shp' is not registered/);
      assert.match(r.stderr, /did you mean 'shop'\? `provisioning workspace list` shows the registered workspaces; `provisioning workspace register shp <path>` adds an existing directory/);
    }
    const j = await runCli(['workspace', 'activate', 'nope', '--out', 'json'], { home });
    assert.equal(j.json().error.code, 'NO_WORKSPACE');
  });

  it('a damaged registry: exit 3 REGISTRY_INVALID with file and line, file left byte-identical', async () => {
    const home = tempHome();
    mkdirSync(join(home, 'config'), { recursive: true });
    const damaged = 'version = 1\nactive = "shop"\n[workspaces.shop]\npath = "~/shop\n';
    writeFileSync(registryPath(home), damaged);
    for (const args of [['workspace', 'list'], ['workspace', 'init', 'x'], ['workspace', 'activate', 'shop'], ['workspace', 'active']]) {
      const r = await runCli(args, { home });
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /workspace registry is damaged/);
      assert.match(r.stderr, new RegExp(`${registryPath(home).replace(/[.]/g, '\\.')}:4`));
      assert.match(r.stderr, /never rewritten while damaged/);
    }
    const j = await runCli(['workspace', 'list', '--out', 'json'], { home });
    assert.equal(j.json().error.code, 'REGISTRY_INVALID');
    assert.equal(j.json().error.details.line, 4);
    assert.equal(readFileSync(registryPath(home), 'utf8'), damaged);
    assert.ok(!existsSync(join(home, 'x')));
  });

  it('list, active, activate (switch) with :infra, and a missing directory', async () => {
    const home = tempHome();
    assert.equal((await runCli(['init', 'alpha', '--template', 'local'], { home })).code, 0);
    assert.equal((await runCli(['init', 'beta', '--template', 'full', '--no-activate'], { home })).code, 0);
    assert.equal((await runCli(['ws', 'active'], { home })).stdout, 'alpha\n');

    const sw = await runCli(['ws', 'switch', 'beta'], { home });
    assert.equal(sw.code, 0, sw.stderr);
    assert.equal(sw.stdout, 'beta\n');
    assert.equal((await runCli(['ws', 'active'], { home })).stdout, 'beta\n');

    const bad = await runCli(['ws', 'activate', 'alpha:web'], { home });
    assert.equal(bad.code, 5);
    assert.match(bad.stderr, /infra 'web' does not exist in workspace 'alpha'/);
    assert.match(bad.stderr, /infras: local/);
    assert.equal((await runCli(['ws', 'active'], { home })).stdout, 'beta\n');

    const check = await runCli(['ws', 'activate', 'alpha:local', '--check', '--out', 'json'], { home });
    assert.deepEqual(check.json().changes.map((c: { key: string }) => c.key), ['active', 'workspaces.alpha.last_used', 'workspaces.alpha.default_infra']);
    assert.equal((await runCli(['ws', 'active'], { home })).stdout, 'beta\n');

    assert.equal((await runCli(['ws', 'activate', 'alpha:local'], { home })).code, 0);
    assert.match(readFileSync(registryPath(home), 'utf8'), /\[workspaces\.alpha\]\npath = "~\/alpha"\nlast_used = \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\ndefault_infra = "local"\n/);

    rmSync(join(home, 'beta'), { recursive: true });
    const list = await runCli(['ws', 'list', '--out', 'json'], { home });
    assert.deepEqual(list.json().map((w: Record<string, unknown>) => [w.name, w.active, w.default_infra, w.missing]), [['alpha', true, 'local', false], ['beta', false, null, true]]);
    const table = await runCli(['ws', 'list'], { home });
    assert.match(table.stdout, /^\*\s+alpha\s+~\/alpha\s+local\s+\d{4}-/m);
    assert.match(table.stdout, /^\s+beta\s+~\/beta\s+\S+Z\s+missing$/m);
    const gone = await runCli(['ws', 'activate', 'beta'], { home });
    assert.equal(gone.code, 3);
    assert.match(gone.stderr, /registered at ~\/beta, but the directory is gone/);
  });

  it('active with nothing active is exit 3', async () => {
    const r = await runCli(['workspace', 'active'], { home: tempHome() });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no workspace is active/);
    assert.match(r.stderr, /workspace activate <name>/);
  });

  it('register needs the directory\'s workspace.name to match', async () => {
    const home = tempHome();
    writeFiles(home, { 'dir/provisioning.toml': '[workspace]\nname = "real"\nformat_version = 1\n' });
    const wrong = await runCli(['workspace', 'register', 'other', 'dir'], { home });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /says workspace.name = 'real', not 'other'/);
    assert.match(wrong.stderr, /register it as 'real'/);
    const notWs = await runCli(['workspace', 'register', 'x', '.'], { home });
    assert.equal(notWs.code, 3);
    assert.match(notWs.stderr, /is not a workspace: it has no provisioning\.toml/);
    const check = await runCli(['workspace', 'register', 'real', 'dir', '--check'], { home });
    assert.equal(check.code, 0);
    assert.ok(!existsSync(registryPath(home)));
    const ok = await runCli(['workspace', 'register', 'real', 'dir', '--activate', '--out', 'json'], { home });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(ok.json(), { registered: 'real', path: '~/dir', active: true });
    assert.equal((await runCli(['workspace', 'active'], { home })).stdout, 'real\n');
  });

  it('remove unregisters and keeps the files; delete needs the typed name and removes the directory', async () => {
    const home = tempHome();
    assert.equal((await runCli(['init', 'keep'], { home })).code, 0);
    assert.equal((await runCli(['init', 'doomed', '--template', 'full'], { home })).code, 0);
    const before = tree(join(home, 'doomed'));

    const noYes = await runCli(['workspace', 'remove', 'keep'], { home });
    assert.equal(noYes.code, 7);
    assert.match(noYes.stderr, /needs confirmation and this session is not interactive/);
    assert.match((await runCli(['workspace', 'list'], { home })).stdout, /keep/);
    const rm = await runCli(['workspace', 'remove', 'keep', '--yes'], { home });
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /unregistered keep; files kept at/);
    assert.ok(existsSync(join(home, 'keep', 'provisioning.toml')));
    assert.doesNotMatch((await runCli(['workspace', 'list'], { home })).stdout, /keep/);

    const check = await runCli(['workspace', 'delete', 'doomed', '--check'], { home });
    assert.equal(check.code, 0);
    assert.match(check.stdout, /delete\s+directory\s+\S+doomed\s+\d+ files/);
    const refused = await runCli(['workspace', 'delete', 'doomed'], { home, input: 'doomed\n' });
    assert.equal(refused.code, 7);
    assert.deepEqual(tree(join(home, 'doomed')), before);
    assert.equal((await runCli(['workspace', 'active'], { home })).stdout, 'doomed\n');

    const del = await runCli(['workspace', 'delete', 'doomed', '--yes', '--out', 'json'], { home });
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.json().deleted, 'doomed');
    assert.ok(!existsSync(join(home, 'doomed')));
    assert.doesNotMatch(readFileSync(registryPath(home), 'utf8'), /doomed|active/);
  });

  it('delete refuses a directory that is not that workspace', async () => {
    const home = tempHome();
    assert.equal((await runCli(['init', 'shop'], { home })).code, 0);
    writeFileSync(join(home, 'shop', 'provisioning.toml'), '[workspace]\nname = "someone-else"\n');
    const r = await runCli(['workspace', 'delete', 'shop', '--yes'], { home });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /refusing to delete .*shop: it holds no provisioning\.toml with workspace\.name = 'shop'/);
    assert.ok(existsSync(join(home, 'shop', 'provisioning.toml')));
  });

  it('validate reports layout and config problems with exit 3', async () => {
    const home = tempHome();
    assert.equal((await runCli(['init', 'shop', '--template', 'local'], { home })).code, 0);
    const ws = join(home, 'shop');
    writeFiles(ws, { 'infra/local/settings.toml': 'servers = []\n', 'config/dev.toml': '[execution]\nparallel_limt = 2\n' });
    const r = await runCli(['workspace', 'validate', 'shop'], { home });
    assert.equal(r.code, 3);
    assert.match(r.stdout, /✗ workspace shop: 2 errors/);
    assert.match(r.stdout, /DEF_AMBIGUOUS\s+infra\/local has 2 settings files: settings\.ts, settings\.toml/);
    assert.match(r.stdout, /CONFIG_UNKNOWN_KEY\s+unknown key `parallel_limt`/);
    const j = await runCli(['workspace', 'validate', 'shop', '--out', 'json'], { home });
    assert.equal(j.code, 3);
    assert.equal(j.json().valid, false);
    assert.deepEqual(j.json().errors.map((e: { code: string }) => e.code).sort(), ['CONFIG_UNKNOWN_KEY', 'DEF_AMBIGUOUS']);
  });
});

describe('workspace init validation', () => {
  it('a configuration that does not validate leaves nothing behind and points at the target file', async () => {
    const home = tempHome();
    const r = await runCli(['workspace', 'init', 'x', '--provider', 'nope'], { home });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[CONFIG_CONSTRAINT\]: providers\.default names provider 'nope'/);
    assert.match(r.stderr, new RegExp(`--> ${join(home, 'x', 'provisioning.toml')}:\\d+:1`));
    assert.deepEqual(tree(home), {});
  });
});
