import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, tempHome } from '../fixtures/cli.js';

const home = tempHome();
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { home, env });

describe('provisioning CLI (built binary)', () => {
  it('prints its version for --version, -V and `version`', async () => {
    for (const args of [['--version'], ['-V'], ['version']]) {
      const r = await cli(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^provisioning \d+\.\d+\.\d+\n$/);
    }
    assert.match((await cli(['version', '--out', 'json'])).json().version, /^\d+\.\d+\.\d+$/);
  });

  it('shows the same help page for every equivalent form', async () => {
    const forms = [['help', 'workspace'], ['workspace', 'help'], ['workspace', '--help'], ['help', 'ws'], ['ws', 'help'], ['ws', '-h']];
    const pages = await Promise.all(forms.map((f) => cli(f)));
    for (const p of pages) assert.equal(p.code, 0);
    for (const p of pages.slice(1)) assert.equal(p.stdout, pages[0]!.stdout);
    assert.match(pages[0]!.stdout, /workspace init/);
    const cmd = await Promise.all([['help', 'server', 'create'], ['server', 'help', 'create'], ['server', 'create', '--help'], ['s', 'c', '-h']].map((f) => cli(f)));
    for (const p of cmd.slice(1)) assert.equal(p.stdout, cmd[0]!.stdout);
    assert.match(cmd[0]!.stdout, /side effect: write/);
  });

  it('exports the whole command tree with `help --out json`', async () => {
    const r = await cli(['help', '--out', 'json']);
    assert.equal(r.code, 0);
    const doc = r.json();
    const del = doc.commands.find((c: { command: string }) => c.command === 'server delete');
    assert.deepEqual(
      { side_effect: del.side_effect, confirm: del.confirm, requires_mfa: del.requires_mfa, min_permission: del.min_permission, supports_check: del.supports_check },
      { side_effect: 'delete', confirm: true, requires_mfa: true, min_permission: 'write', supports_check: true },
    );
    assert.ok(doc.global_flags.some((f: { name: string }) => f.name === 'check'));
  });

  it('lists categories and all commands', async () => {
    const cat = await cli(['help', 'security']);
    assert.equal(cat.code, 0);
    assert.match(cat.stdout, /kms/);
    const all = await cli(['help', '--all']);
    assert.match(all.stdout, /break-glass approve/);
  });

  it('exits 2 with a suggestion for unknown commands, subcommands, flags and help topics', async () => {
    const cases: [string[], RegExp][] = [
      [['servr', 'list'], /unknown command 'servr'.*\n.*did you mean `provisioning server`/],
      [['server', 'lst'], /did you mean `provisioning server list`/],
      [['server', 'create', '--chek'], /unknown flag '--chek'.*\n.*did you mean `--check`/],
      [['help', 'servr'], /no help topic 'servr'/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, re);
    }
  });

  it('says plainly that a registered command has not landed, and exits 2', async () => {
    const r = await cli(['mcp', 'serve']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not available yet: it arrives with/);
    const j = await cli(['mcp', 'serve', '--out', 'json']);
    assert.equal(j.code, 2);
    assert.equal(j.json().error.code, 'NOT_IMPLEMENTED');
  });

  it('prints errors as the JSON error object on stdout with --out json', async () => {
    const r = await cli(['servr', '--out', 'json']);
    assert.equal(r.code, 2);
    assert.equal(r.json().error.code, 'UNKNOWN_COMMAND');
    assert.match(r.json().error.details.hint, /server/);
  });

  it('honours PROVISIONING_OUT and NO_COLOR', async () => {
    const r = await cli(['guide', 'shortcuts'], { PROVISIONING_OUT: 'json' });
    assert.equal(r.json().sc, 'guide shortcuts');
    const t = await cli(['guide', 'shortcuts', '--out', 'text']);
    assert.match(t.stdout, /^init\tworkspace init$/m);
    assert.doesNotMatch(t.stdout, /\x1b\[/); // eslint-disable-line no-control-regex
  });

  it('writes completion scripts and completes from the command table', async () => {
    for (const shell of ['bash', 'zsh', 'fish']) {
      const r = await cli(['completion', shell]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /provisioning __complete/);
    }
    assert.equal((await cli(['completion', 'tcsh'])).code, 2);
    const subs = (await cli(['__complete', '--', 'server', ''])).stdout.split('\n');
    assert.ok(subs.includes('create') && subs.includes('delete'));
    const flags = (await cli(['__complete', '--', 'server', 'delete', '--keep'])).stdout.split('\n').filter(Boolean);
    assert.deepEqual(flags, ['--keep-storage']);
    const values = (await cli(['__complete', '--', 'ws', 'init', 'x', '--template', ''])).stdout.split('\n').filter(Boolean);
    assert.deepEqual(values, ['full', 'local', 'minimal']);
  });
});
