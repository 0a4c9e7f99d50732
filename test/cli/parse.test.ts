import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProvError } from '../../src/errors/index.js';
import { parseCommandLine } from '../../src/cli/parse.js';
import { registry } from '../../src/cli/registry/index.js';

const run = (argv: string[]) => {
  const p = parseCommandLine(argv);
  assert.equal(p.kind, 'run');
  return p as Extract<typeof p, { kind: 'run' }>;
};
const fails = (argv: string[], code: string, re: RegExp) => {
  assert.throws(() => parseCommandLine(argv), (e: unknown) => e instanceof ProvError && e.code === code && re.test(`${e.message} ${e.hint ?? ''}`));
};

describe('command line parsing', () => {
  it('resolves area aliases, action shortcuts and subcommand aliases to one spec', () => {
    assert.equal(run(['s', 'c']).spec.command, 'server create');
    assert.equal(run(['servers', 'create']).spec.command, 'server create');
    assert.equal(run(['ws', 'switch', 'demo']).spec.command, 'workspace activate');
    assert.equal(run(['init', 'demo']).spec.command, 'workspace init');
    assert.equal(run(['price']).spec.command, 'server price');
  });

  it('accepts global flags anywhere before -- and keeps the passthrough untouched', () => {
    const p = run(['--debug', 'server', 'ssh', 'web-01', '--infra', 'x', '--', 'uname', '-a', '--out', 'json']);
    assert.equal(p.globals.debug, true);
    assert.equal(p.globals.infra, 'x');
    assert.deepEqual(p.passthrough, ['uname', '-a', '--out', 'json']);
    assert.equal(p.globals.out, undefined);
  });

  it('bundles short booleans and supports --no- negation and --flag=value', () => {
    const p = run(['ws', 'init', 'demo', '-cy', '--no-activate', '--template=local']);
    assert.equal(p.globals.check, true);
    assert.equal(p.globals.yes, true);
    assert.equal(p.flags.activate, false);
    assert.equal(p.flags.template, 'local');
  });

  it('lets a command flag win over a global of the same name', () => {
    const p = run(['taskserv', 'create', 'redis', '--version', '7.2']);
    assert.equal(p.flags.version, '7.2');
    assert.equal(p.globals.version, undefined);
  });

  it('splits list flags and variadic positionals on commas', () => {
    const p = run(['server', 'delete', 'a,b', 'c']);
    assert.deepEqual(p.args.name, ['a', 'b', 'c']);
    const t = run(['taskserv', 'create', '--servers', 'x,y', '--servers', 'z']);
    assert.deepEqual(t.flags.servers, ['x', 'y', 'z']);
  });

  it('maps flag aliases to the canonical flag', () => {
    assert.equal(run(['server', 'delete', '--keepstorage']).flags['keep-storage'], true);
    assert.equal(run(['orch', 'logs', '--tail', '5']).flags.lines, '5');
  });

  it('runs an area default with its arguments', () => {
    assert.equal(run(['env']).spec.command, 'env show');
    assert.equal(run(['allenv']).flags.all, true);
    assert.deepEqual(run(['help', 'server', 'create']).args.topic, ['server', 'create']);
    assert.deepEqual(run(['help', 'show']).args.topic, ['show']);
    assert.equal(run(['completion', 'bash']).args.shell, 'bash');
  });

  it('turns every help form into the same topic', () => {
    for (const argv of [['workspace', 'help'], ['workspace', '--help'], ['ws', '-h'], ['ws']]) {
      const p = parseCommandLine(argv);
      assert.equal(p.kind, 'help', argv.join(' '));
      assert.deepEqual((p as { topic: string[] }).topic, ['workspace']);
    }
    for (const argv of [['server', 'help', 'create'], ['server', 'create', '--help'], ['s', 'c', '-h'], ['s', 'c', '--bogus', '-h']]) {
      const p = parseCommandLine(argv);
      assert.deepEqual((p as { topic: string[] }).topic, ['server', 'create'], argv.join(' '));
    }
  });

  it('rejects unknown commands, subcommands and flags with a suggestion', () => {
    fails(['servr', 'list'], 'UNKNOWN_COMMAND', /did you mean `provisioning server`/);
    fails(['server', 'lst'], 'UNKNOWN_COMMAND', /did you mean `provisioning server list`/);
    fails(['env', 'lst'], 'UNKNOWN_COMMAND', /env list/);
    fails(['server', 'create', '--paralel', '3'], 'USAGE', /did you mean `--parallel`/);
    fails(['ws', 'init'], 'USAGE', /missing argument <name>/);
    fails(['ws', 'active', 'extra'], 'USAGE', /unexpected argument 'extra'/);
    fails(['ws', 'init', 'x', '--yes=1'], 'USAGE', /takes no value/);
    fails(['ws', 'init', 'x', '--template'], 'USAGE', /needs a value/);
    fails(['ws', 'init', 'x', '--template', 'huge'], 'INVALID_ARGUMENT', /one of minimal, local, full/);
    fails(['--out', 'xml', 'version'], 'INVALID_ARGUMENT', /table, json, yaml, text/);
  });
});

describe('command table', () => {
  it('gives every command complete metadata and a handler or a pending note', () => {
    const reg = registry();
    assert.ok(reg.commands.length > 150);
    for (const c of reg.commands) {
      assert.ok(c.handler || c.pending, `${c.command} has neither handler nor pending`);
      assert.ok(['none', 'read', 'write', 'delete'].includes(c.side_effect));
      assert.equal(c.supports_check, c.side_effect === 'write' || c.side_effect === 'delete', c.command);
      if (c.side_effect === 'delete') assert.equal(c.confirm, true, `${c.command} deletes without confirming`);
      assert.match(c.audit_action, /^[a-z-]+:[a-z-]+$/);
    }
  });

  it('registers every area of spec/cli.md', () => {
    const areas = [...registry().areas.keys()];
    for (const a of ['workspace', 'config', 'env', 'validate', 'show', 'list', 'infra', 'generate', 'schema', 'server', 'taskserv', 'cluster', 'workflow',
      'batch', 'orchestrator', 'platform', 'mode', 'extension', 'module', 'layer', 'provider', 'dep', 'oci', 'pack', 'template', 'auth', 'mfa', 'user',
      'policy', 'kms', 'secrets', 'ssh', 'audit', 'compliance', 'break-glass', 'test', 'mcp', 'version', 'health', 'status', 'setup', 'guide', 'completion', 'cache']) {
      assert.ok(areas.includes(a), `area ${a} missing`);
    }
  });
});
