import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempHome } from '../fixtures/cli.js';

/**
 * End to end: the built CLI in a temp PROVISIONING_HOME with a workspace `shop` at <home>/shop,
 * an environment `prod` and an infra `web`.
 */
function workspace(files: Record<string, string> = {}) {
  const home = tempHome('prov-cfg-e2e-');
  const ws = join(home, 'shop');
  const write = (p: string, text: string) => { mkdirSync(dirname(p), { recursive: true }); writeFileSync(p, text); };
  write(join(ws, 'provisioning.toml'), '[workspace]\nname = "shop"\n');
  write(join(ws, 'config', 'prod.toml'), '');
  mkdirSync(join(ws, 'infra', 'web'), { recursive: true });
  for (const [p, t] of Object.entries(files)) write(p.startsWith('/') ? p : join(ws, p), t);
  const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { home, cwd: ws, env });
  return { home, ws, write, run };
}

type LayerKey = 'system' | 'user' | 'workspace' | 'env' | 'infra' | 'local' | 'envvar' | 'cli';
const LAYERS: LayerKey[] = ['system', 'user', 'workspace', 'env', 'infra', 'local', 'envvar', 'cli'];
const LABEL: Record<string, string> = { env: 'env:prod', infra: 'infra:web' };

/** Sets `key` = `value` in one layer; returns extra env and args. */
function setIn(w: ReturnType<typeof workspace>, layer: LayerKey, key: string, value: unknown): { env: Record<string, string>; args: string[] } {
  const path = key.split('.');
  const lit = JSON.stringify(value);
  const toml = path.length === 1 ? `${key} = ${lit}\n` : `[${path.slice(0, -1).join('.')}]\n${path[path.length - 1]} = ${lit}\n`;
  const file: Record<string, string> = {
    system: join(w.home, 'system.toml'), user: join(w.home, 'config', 'config.user.toml'), workspace: join(w.ws, 'provisioning.toml'),
    env: join(w.ws, 'config', 'prod.toml'), infra: join(w.ws, 'infra', 'web', 'config.toml'), local: join(w.ws, 'config', 'local-overrides.toml'),
  };
  if (layer === 'envvar') return { env: { [`PROVISIONING_${path.join('__').toUpperCase()}`]: String(value) }, args: [] };
  if (layer === 'cli') return { env: {}, args: ['--set', `${key}=${String(value)}`] };
  // Top-level keys go before any table; the workspace file keeps its [workspace] table.
  const rest = layer === 'workspace' ? '[workspace]\nname = "shop"\n' : '';
  w.write(file[layer]!, path.length === 1 ? toml + rest : rest + toml);
  return { env: {}, args: [] };
}

describe('precedence: each layer overrides the one below', () => {
  const cases = [
    { key: 'orchestrator.queue.retries', values: [4, 6], layers: LAYERS.filter((l) => l !== 'infra') },
    { key: 'ssh.temp_keys.ttl', values: ['2h', '3h'], layers: LAYERS },
    { key: 'mode', values: ['multiuser', 'solo'], layers: LAYERS.filter((l) => l !== 'infra') },
  ];
  for (const c of cases) {
    for (let i = 0; i < c.layers.length; i++) {
      const upper = c.layers[i]!;
      const lower = i === 0 ? 'default' : c.layers[i - 1]!;
      it(`${c.key}: ${upper} over ${lower}`, async () => {
        const w = workspace();
        const env: Record<string, string> = { PROVISIONING_SYSTEM_CONFIG: join(w.home, 'system.toml') };
        const args: string[] = [];
        for (const [layer, value] of [[lower, c.values[0]], [upper, c.values[1]]] as const) {
          if (layer === 'default') continue;
          const r = setIn(w, layer as LayerKey, c.key, value);
          Object.assign(env, r.env);
          args.push(...r.args);
        }
        const res = await w.run(['config', 'show', c.key, '--origin', '--out', 'json', '--environment', 'prod', '--infra', 'web', ...args], env);
        assert.equal(res.code, 0, res.stderr);
        const leaf = res.json();
        assert.equal(leaf.value, c.values[1]);
        assert.equal(leaf.origin.layer === 'env' || leaf.origin.layer === 'infra' ? `${leaf.origin.layer}:${leaf.origin.name}` : leaf.origin.layer, LABEL[upper] ?? upper);
        const last = leaf.overridden[leaf.overridden.length - 1];
        if (lower === 'default') {
          assert.ok(['default', 'mode:solo'].includes(last.layer));
        } else {
          assert.equal(last.layer, LABEL[lower] ?? lower);
          assert.equal(last.value, c.values[0]);
        }
      });
    }
  }

  it('lists every layer lowest first and marks the winner', async () => {
    const w = workspace();
    const env: Record<string, string> = { PROVISIONING_SYSTEM_CONFIG: join(w.home, 'system.toml') };
    const args: string[] = [];
    for (const [i, layer] of LAYERS.entries()) {
      const r = setIn(w, layer, 'execution.parallel_limit', i + 2);
      Object.assign(env, r.env);
      args.push(...r.args);
    }
    const text = await w.run(['config', 'show', 'execution.parallel_limit', '--origin', '--environment', 'prod', '--infra', 'web', ...args], env);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), ['default', 'system', 'user', 'workspace', 'env:prod', 'infra:web', 'local', 'envvar', 'cli']);
    assert.match(lines[3]!, /provisioning\.toml:\d+/);
    assert.match(lines[8]!, /9\s+--set execution\.parallel_limit=9\s+← wins$/);
  });
});

describe('bad input', () => {
  it('malformed TOML: file and line, exit 3', async () => {
    const w = workspace({ 'config/local-overrides.toml': '[output]\nformat = \n' });
    const r = await w.run(['config', 'show']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[CONFIG_PARSE\]/);
    assert.match(r.stderr, /local-overrides\.toml:2:\d+/);
  });

  it('unknown key: did-you-mean and the expected keys', async () => {
    const w = workspace({ 'config/prod.toml': '[orchestrator.queue]\nmax_concurent_tasks = 20\n' });
    const r = await w.run(['config', 'show', '--environment', 'prod']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[CONFIG_UNKNOWN_KEY\]: unknown key `max_concurent_tasks` in \[orchestrator\.queue\]/);
    assert.match(r.stderr, /--> .*config\/prod\.toml:2:1/);
    assert.match(r.stderr, /= expected one of: max_concurrent_tasks, retries/);
    assert.match(r.stderr, /= help: did you mean `max_concurrent_tasks`\?/);
  });

  it('wrong type and the JSON error shape', async () => {
    const w = workspace({ 'provisioning.toml': '[workspace]\nname = "shop"\n[execution]\nparallel_limit = "eight"\n' });
    const r = await w.run(['config', 'show', '--out', 'json']);
    assert.equal(r.code, 3);
    const e = r.json().error;
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.equal(e.message, '1 error in configuration');
    assert.deepEqual({ code: e.details.errors[0].code, line: e.details.errors[0].line, path: e.details.errors[0].path, actual: e.details.errors[0].actual },
      { code: 'CONFIG_TYPE', line: 4, path: 'execution.parallel_limit', actual: 'eight' });
  });

  it('out-of-range value', async () => {
    const w = workspace({ 'provisioning.toml': '[workspace]\nname = "shop"\n[orchestrator.queue]\nretries = 99\n' });
    const r = await w.run(['validate', 'config']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[CONFIG_RANGE\]: `orchestrator\.queue\.retries` is 99, outside the allowed range; it expects an integer 0–20/);
  });

  it('unknown placeholder and missing environment variable', async () => {
    const w = workspace({ 'provisioning.toml': '[workspace]\nname = "shop"\n[logging]\nfile = "{{ nope.dir }}/x.log"\n[ssh]\nuser = "{{env.DEPLOY_USER}}"\n' });
    const r = await w.run(['config', 'show']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[CONFIG_INTERPOLATION\]: `logging\.file`: \{\{ nope\.dir \}\}: unknown reference `nope\.dir`/);
    assert.match(r.stderr, /help: placeholders name one of: env\.\*, paths\.\*/);
    assert.match(r.stderr, /error\[CONFIG_INTERPOLATION\]: `ssh\.user`: \{\{env\.DEPLOY_USER\}\}: environment variable DEPLOY_USER is not set/);
    assert.match(r.stderr, /provisioning\.toml:6:1/);
    w.write(join(w.ws, 'provisioning.toml'), '[workspace]\nname = "shop"\n[ssh]\nuser = "{{env.DEPLOY_USER}}"\n');
    const ok = await w.run(['config', 'get', 'ssh.user'], { DEPLOY_USER: 'ops' });
    assert.equal(ok.stdout, 'ops\n', ok.stderr);
  });

  it('bad environment variable value', async () => {
    const w = workspace();
    const r = await w.run(['config', 'show'], { PROVISIONING_EXECUTION__PARALLEL_LIMIT: 'eight' });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[CONFIG_TYPE\]: `execution\.parallel_limit` expects an integer 1–100, got "eight"\n {2}--> envvar PROVISIONING_EXECUTION__PARALLEL_LIMIT/);
  });

  it('a key set in a layer that may not set it (CONFIG_SCOPE)', async () => {
    const w = workspace({ 'infra/web/config.toml': '[orchestrator]\nport = 9191\n', 'config/local-overrides.toml': '[workspace]\nname = "other"\n' });
    const r = await w.run(['config', 'show', '--infra', 'web']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[CONFIG_SCOPE\]: `workspace\.name` cannot be set in the local layer/);
    assert.match(r.stderr, /error\[CONFIG_SCOPE\]: `orchestrator\.port` cannot be set in the infra:web layer/);
    assert.match(r.stderr, /2 errors, 0 warnings/);
  });

  it('config set of an invalid value leaves the file byte-identical', async () => {
    const text = '# comment kept\n[workspace]\nname = "shop"   # trailing\n\n[orchestrator.queue]\nretries = 3\n';
    const w = workspace({ 'provisioning.toml': text });
    for (const [key, value, code] of [['orchestrator.queue.retries', '99', 'CONFIG_RANGE'], ['execution.parallel_limit', 'eight', 'CONFIG_TYPE'], ['orchestrator.queue.retires', '1', 'CONFIG_UNKNOWN_KEY']]) {
      const r = await w.run(['config', 'set', key!, value!]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, new RegExp(`error\\[${code}\\]`));
      assert.equal(readFileSync(join(w.ws, 'provisioning.toml'), 'utf8'), text);
    }
  });

  it('unregistered workspace, no workspace, unconfigured environment, unset key', async () => {
    const w = workspace();
    const notReg = await w.run(['config', 'show', '--workspace', 'ghost']);
    assert.equal(notReg.code, 3);
    assert.match(notReg.stderr, /workspace 'ghost' is not registered/);
    assert.match(notReg.stderr, /workspace list/);
    const none = await runCli(['env', 'list'], { home: w.home });
    assert.equal(none.code, 3);
    assert.match(none.stderr, /no workspace/);
    assert.match(none.stderr, /workspace init/);
    const stg = await w.run(['config', 'show', '--environment', 'stg']);
    assert.equal(stg.code, 3);
    assert.match(stg.stderr, /environment 'stg' is not configured; available: dev, prod/);
    const unset = await runCli(['config', 'get', 'logging.file'], { home: w.home });
    assert.equal(unset.code, 5);
    assert.match(unset.stderr, /needs a workspace/);
    const unknown = await w.run(['config', 'get', 'orchestrator.prot']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /did you mean `orchestrator\.port`\?/);
  });

  it('read-only keys, and KMS until it lands', async () => {
    const w = workspace({ 'provisioning.toml': '[workspace]\nname = "shop"\n[providers.upcloud]\npassword = "ENC[age:v1:abc]"\n' });
    const show = await w.run(['config', 'get', 'providers.upcloud.password']);
    assert.equal(show.stdout.trim(), '<encrypted>');
    const dec = await w.run(['validate', 'config', '--decrypt']);
    assert.equal(dec.code, 3);
    assert.match(dec.stderr, /KMS is not available yet \(it arrives with the KMS\/secrets issue\)/);
    const ro = await w.run(['config', 'set', 'paths.state', '/tmp/x']);
    assert.equal(ro.code, 3);
    assert.match(ro.stderr, /error\[CONFIG_READONLY\]: `paths\.state` is computed by the loader/);
  });
});

describe('config and env commands', () => {
  it('set/unset edit in place, --check prints the diff and writes nothing', async () => {
    const text = '# comment kept\n[workspace]\nname = "shop"   # trailing\n';
    const w = workspace({ 'provisioning.toml': text });
    const file = join(w.ws, 'provisioning.toml');
    const check = await w.run(['config', 'set', 'execution.parallel_limit', '8', '--check']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /\+\[execution\]\n\+parallel_limit = 8/);
    assert.equal(readFileSync(file, 'utf8'), text);
    assert.equal((await w.run(['config', 'set', 'execution.parallel_limit', '8'])).code, 0);
    assert.equal(readFileSync(file, 'utf8'), `${text}\n[execution]\nparallel_limit = 8\n`);
    assert.equal((await w.run(['config', 'get', 'execution.parallel_limit'])).stdout, '8\n');
    assert.equal((await w.run(['config', 'set', 'output.format', 'json', '--scope', 'user'])).code, 0);
    assert.match(readFileSync(join(w.home, 'config', 'config.user.toml'), 'utf8'), /\[output\]\nformat = "json"/);
    assert.equal((await w.run(['config', 'unset', 'execution.parallel_limit'])).code, 0);
    assert.equal(readFileSync(file, 'utf8'), `${text}\n[execution]\n`);
    const again = await w.run(['config', 'unset', 'execution.parallel_limit']);
    assert.equal(again.code, 5);
  });

  it('init writes a commented starter file and refuses to overwrite', async () => {
    const w = workspace();
    const r = await w.run(['config', 'init', '--environment', 'staging']);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(join(w.ws, 'config', 'staging.toml'), 'utf8');
    assert.match(text, /# parallel_limit = 5 {3}# an integer 1–100/);
    const again = await w.run(['config', 'init', '--environment', 'staging']);
    assert.equal(again.code, 6);
    assert.match(again.stderr, /--force/);
    assert.equal((await w.run(['validate', 'config', join(w.ws, 'config', 'staging.toml')])).code, 0);
  });

  it('env list, switch (with --check) and env --export', async () => {
    const w = workspace();
    const list = await w.run(['env', 'list', '--out', 'json']);
    assert.deepEqual(list.json().map((e: { name: string }) => e.name), ['dev', 'prod']);
    const check = await w.run(['env', 'switch', 'prod', '--check']);
    assert.match(check.stdout, /\+default_environment = "prod"/);
    assert.equal((await w.run(['env', 'switch', 'prod'])).code, 0);
    const env = await w.run(['env', '--out', 'json']);
    assert.equal(env.json().environment, 'prod');
    const exp = await w.run(['env', '--export']);
    assert.match(exp.stdout, /export PROVISIONING_ENV='prod'/);
    const bad = await w.run(['env', 'switch', 'qa']);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /environment 'qa' is not configured; available: dev, prod/);
  });

  it('sources lists the nine layers; validate reports success', async () => {
    const w = workspace();
    const src = await w.run(['config', 'sources', '--out', 'json']);
    assert.deepEqual(src.json().map((l: { layer: string }) => l.layer.split(':')[0]), ['default+mode', 'system', 'user', 'workspace', 'env', 'infra', 'local', 'envvar', 'cli']);
    const v = await w.run(['validate', 'config']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /configuration valid/);
    // validate all also loads every infra: an infra directory without a settings file fails it
    const noSettings = await w.run(['validate', 'all']);
    assert.equal(noSettings.code, 3);
    assert.match(noSettings.stderr, /error\[DEF_REQUIRED\]: infra\/web has no settings file/);
    w.write(join(w.ws, 'infra', 'web', 'settings.toml'), 'servers = []\n');
    const all = await w.run(['validate', 'all']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /✓ infra 'web' valid: 0 servers, 0 taskservs, 0 clusters/);
    assert.match(all.stdout, /workflow files are checked one at a time with `provisioning batch validate <file>`/);
  });
});
