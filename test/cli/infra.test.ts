import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runCli, tempHome } from '../fixtures/cli.js';

/** A workspace made through the CLI, as users make them. */
async function workspace(template: 'local' | 'full', name = 'demo'): Promise<{ home: string; ws: string; cli: (...args: string[]) => ReturnType<typeof runCli> }> {
  const home = tempHome('prov-infra-');
  const r = await runCli(['workspace', 'init', name, '--template', template], { home });
  assert.equal(r.code, 0, r.stderr);
  const ws = join(home, name);
  return { home, ws, cli: (...args: string[]) => runCli(args, { home, cwd: ws }) };
}

function writeInfra(ws: string, infra: string, file: string, text: string): void {
  const dir = join(ws, 'infra', infra);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), text);
}

describe('validate infra', () => {
  it('a template infra is valid: one summary line, exit 0; `infra validate` is the same command', async () => {
    const { cli } = await workspace('local');
    const r = await cli('validate', 'infra');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "✓ infra 'local' valid: 2 servers, 2 taskservs, 0 clusters\n");
    const j = await cli('infra', 'validate', 'local', '--out', 'json');
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual([j.json().valid, j.json().servers, j.json().file], [true, 2, 'infra/local/settings.ts']);
  });

  const bad: [string, string, string, number, number, RegExp][] = [
    ['an uppercase hostname', 'servers = [{ hostname = "Web-01" }]\n', 'DEF_NAME', 1, 25, /use "web-01"/],
    ['an underscore in a hostname', 'servers = [{ hostname = "web_01" }]\n', 'DEF_NAME', 1, 25, /use "web-01"/],
    ['an unknown field', '[[servers]]\nhostname = "a"\nhostnme = "x"\n', 'DEF_UNKNOWN_KEY', 3, 1, /did you mean `hostname`/],
    ['a wrong type', '[[servers]]\nhostname = "a"\ncores = "two"\n', 'DEF_TYPE', 3, 9, /expected an integer 1–512, got "two"/],
    ['duplicate hostnames', '[[servers]]\nhostname = "a"\n[[servers]]\nhostname = "a"\n', 'DEF_DUPLICATE', 4, 12, /duplicate hostname "a"/],
    ['an unknown taskserv', '[[servers]]\nhostname = "a"\ntaskservs = ["redsi"]\n', 'DEF_REFERENCE', 3, 14, /did you mean 'redis'/],
  ];
  for (const [what, text, code, line, column, detail] of bad) {
    it(`${what}: exit 3 DEFINITION_INVALID with ${code} at settings.toml:${line}:${column}`, async () => {
      const { ws, cli } = await workspace('local');
      writeInfra(ws, 'bad', 'settings.toml', text);
      const j = await cli('validate', 'infra', 'bad', '--out', 'json');
      assert.equal(j.code, 3, j.stdout);
      const err = j.json().error;
      assert.equal(err.code, 'DEFINITION_INVALID');
      const p = err.details.errors[0];
      assert.deepEqual([p.code, p.file, p.line, p.column], [code, 'infra/bad/settings.toml', line, column]);
      assert.match(`${p.message} ${p.hint ?? ''}`, detail);
      const human = await cli('validate', 'infra', 'bad');
      assert.equal(human.code, 3);
      assert.equal(human.stdout, '');
      assert.match(human.stderr, new RegExp(`error\\[${code}\\]: .*\\n  --> infra/bad/settings\\.toml:${line}:${column}\\n`));
    });
  }

  it('a TypeScript definition that throws: DEF_PARSE at the throwing line', async () => {
    const { ws, cli } = await workspace('local');
    writeInfra(ws, 'bad', 'settings.ts', 'import { defineInfra } from "provisioning";\nthrow new Error("boom");\nexport default defineInfra({ servers: [] });\n');
    const j = await cli('validate', 'infra', 'bad', '--out', 'json');
    assert.equal(j.code, 3);
    const p = j.json().error.details.errors[0];
    assert.deepEqual([p.code, p.file, p.line], ['DEF_PARSE', 'infra/bad/settings.ts', 2]);
    assert.match(p.message, /threw: boom/);
  });

  it('two settings files: DEF_AMBIGUOUS naming both', async () => {
    const { ws, cli } = await workspace('local');
    writeInfra(ws, 'bad', 'settings.toml', 'servers = []\n');
    writeFileSync(join(ws, 'infra/bad/settings.yaml'), 'servers: []\n');
    const r = await cli('validate', 'infra', 'bad');
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error\[DEF_AMBIGUOUS\]: infra\/bad has 2 settings files: settings\.toml, settings\.yaml/);
    assert.match(r.stderr, /keep one of settings\.toml, settings\.yaml/);
  });

  it('an infra declared for prod needs --environment prod (ENV_MISMATCH, exit 3)', async () => {
    const { ws, cli } = await workspace('full');
    writeInfra(ws, 'live', 'settings.toml', 'environment = "prod"\nservers = [{ hostname = "web-01" }]\n');
    const r = await cli('validate', 'infra', 'live', '--out', 'json');
    assert.equal(r.code, 3);
    assert.equal(r.json().error.code, 'ENV_MISMATCH');
    assert.match(JSON.stringify(r.json().error), /--environment prod/);
    const ok = await cli('validate', 'infra', 'live', '--environment', 'prod');
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('bad input: an invalid infra name, an unknown infra', async () => {
    const { cli } = await workspace('local');
    const r = await cli('validate', 'infra', 'My_Infra');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /infra name 'My_Infra'.*\n.*did you mean 'my-infra'/);
    const n = await cli('validate', 'infra', 'nope', '--out', 'json');
    assert.notEqual(n.code, 0);
    assert.match(JSON.stringify(n.json().error), /nope/);
  });

  it('validate all checks every infra too (and reports a broken one, exit 3)', async () => {
    const { ws, cli } = await workspace('full');
    writeInfra(ws, 'live', 'settings.toml', 'environment = "prod"\nservers = [{ hostname = "web-01" }]\n');
    const ok = await cli('validate', 'all');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /✓ configuration valid.*\n✓ infra 'live' valid: 1 server, 0 taskservs, 0 clusters \(environment prod\)\n✓ infra 'main' valid: 3 servers, 5 taskservs, 0 clusters\n/);
    writeInfra(ws, 'broken', 'settings.toml', '[[servers]]\nhostname = "a"\ncores = "two"\n');
    const bad = await cli('validate', 'all');
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /error\[DEF_TYPE\]: servers\[0\]\.cores.*\n {2}--> infra\/broken\/settings\.toml:3:9/);
  });
});

describe('infra list, show settings', () => {
  it('lists every infra; a broken one is `invalid` with its first error, and the list still succeeds', async () => {
    const { ws, cli } = await workspace('full');
    writeInfra(ws, 'broken', 'settings.toml', '[[servers]]\nhostname = "a"\nhostnme = "x"\n');
    const r = await cli('infra', 'list', '--out', 'json');
    assert.equal(r.code, 0, r.stderr);
    const rows = r.json();
    assert.deepEqual(rows.map((x: { name: string }) => x.name), ['broken', 'main']);
    assert.deepEqual([rows[0].status, rows[0].servers], ['invalid', null]);
    assert.match(rows[0].problem, /^infra\/broken\/settings\.toml:3:1: unknown key `hostnme`/);
    assert.deepEqual([rows[1].status, rows[1].default, rows[1].servers, rows[1].providers, rows[1].format], ['valid', true, 3, ['local'], 'ts']);
    const table = await cli('list', 'infras');
    assert.equal(table.code, 0);
    assert.match(table.stdout, /\*\s+main\s+infra\/main\/settings\.ts\s+dev\s+local\s+3\s+valid/);
    assert.match(table.stdout, /broken .*invalid: infra\/broken\/settings\.toml:3:1/);
  });

  it('show settings: resolved servers with defaults, taskservs per server with reasons, secrets masked', async () => {
    const { cli } = await workspace('full');
    const r = await cli('show', 'settings', '--out', 'json');
    assert.equal(r.code, 0, r.stderr);
    const d = r.json();
    assert.deepEqual([d.infra, d.environment, d.file], ['main', 'dev', 'infra/main/settings.ts']);
    const web = d.servers.find((s: { hostname: string }) => s.hostname === 'web-01');
    assert.deepEqual([web.provider, web.cores, web.memory_mb, web.disk_gb, web.time_zone], ['local', 1, 1024, 20, 'UTC']);
    assert.deepEqual(web.taskservs.map((t: { name: string; reason: string }) => [t.name, t.reason]), [['containerd', 'declared'], ['nginx', 'declared']]);
    assert.equal(web.taskservs[1].settings.worker_processes, 2);
    const db = d.servers.find((s: { hostname: string }) => s.hostname === 'db-01');
    assert.equal(db.taskservs[0].settings.password, '<secret>');
    assert.doesNotMatch(r.stdout, /kms\.decrypt|postgres-admin/);
    const same = await cli('infra', 'show', 'main', '--out', 'json');
    assert.deepEqual(same.json(), d);
    const table = await cli('show', 'settings');
    assert.match(table.stdout, /^infra main · workspace demo · env dev/);
    assert.match(table.stdout, /\nweb-01\n(.*\n)* {2}taskservs +containerd 1\.0\.0, nginx 1\.0\.0\n/);
  });

  it('show servers / taskservs / taskserv / clusters; unknown names are NOT_FOUND with a suggestion', async () => {
    const { cli } = await workspace('full');
    const s = (await cli('show', 'servers', '--out', 'json')).json();
    assert.deepEqual(s.map((x: { hostname: string; state: string }) => [x.hostname, x.state]), [['web-01', 'not created'], ['web-02', 'not created'], ['db-01', 'not created']]);
    const one = await cli('show', 'servers', 'db-01', '--out', 'json');
    assert.equal(one.json().protected, true);
    const miss = await cli('show', 'servers', 'db-1');
    assert.equal(miss.code, 5);
    assert.match(miss.stderr, /no server 'db-1'.*\n.*did you mean 'db-01'/);
    const ts = (await cli('show', 'taskservs', '--servers', 'db-01', '--out', 'json')).json();
    assert.deepEqual(ts.map((t: { server: string; name: string }) => [t.server, t.name]), [['db-01', 'postgres']]);
    const nginx = await cli('show', 'taskserv', 'nginx', '--servers', 'web-02', '--out', 'json');
    assert.equal(nginx.code, 0, nginx.stderr);
    assert.deepEqual(nginx.json().map((t: { server: string; files: string[] }) => [t.server, t.files]), [['web-02', ['/etc/nginx/nginx.conf', '/etc/nginx/conf.d/provisioning-site.conf']]]);
    const absent = await cli('show', 'taskserv', 'redis');
    assert.equal(absent.code, 5);
    assert.match(absent.stderr, /taskserv 'redis' is on no server of infra 'main'/);
    const cl = await cli('show', 'clusters', '--out', 'json');
    assert.deepEqual([cl.code, cl.json()], [0, []]);
  });

  it('show costs: per server from provider pricing and a total per currency; --all covers every infra', async () => {
    const { ws, cli } = await workspace('local');
    writeInfra(ws, 'cloud', 'settings.toml', [
      'provider = "upcloud"', '[defaults]', 'zone = "de-fra1"',
      '[[servers]]', 'hostname = "web-01"', 'plan = "2xCPU-4GB"',
      '[[servers]]', 'hostname = "db-01"', 'plan = "4xCPU-8GB"', '',
    ].join('\n'));
    const r = await cli('show', 'costs', '--infra', 'cloud', '--out', 'json');
    assert.equal(r.code, 0, r.stderr);
    const d = r.json();
    assert.deepEqual(d.servers.map((l: { hostname: string; monthly: number; currency: string }) => [l.hostname, l.monthly, l.currency]), [['web-01', 26, 'EUR'], ['db-01', 52, 'EUR']]);
    assert.deepEqual(d.totals, [{ currency: 'EUR', hourly: 0.1161, monthly: 78, servers: 2 }]);
    const all = await cli('show', 'costs', '--all', '--out', 'json');
    assert.deepEqual(all.json().servers.map((l: { infra: string }) => l.infra), ['cloud', 'cloud', 'local', 'local']);
    // The local provider is free: its servers count in the total at 0 EUR.
    assert.deepEqual(all.json().totals, [{ ...d.totals[0], servers: 4 }]);
    const table = await cli('show', 'costs', '--infra', 'cloud');
    assert.match(table.stdout, /total\s+2 servers\s+0\.1161\s+78\.00\s+EUR/);
  });
});

describe('the shop example (models.md §8)', () => {
  it('settings.ts and settings.toml resolve to identical servers', async () => {
    const { ws, cli } = await workspace('full', 'shop');
    const defs = join(ROOT, 'test', 'fixtures', 'defs', 'shop');
    const outputs: unknown[] = [];
    for (const file of ['settings.ts', 'settings.toml']) {
      rmSync(join(ws, 'infra', 'shop'), { recursive: true, force: true });
      mkdirSync(join(ws, 'infra', 'shop'), { recursive: true });
      copyFileSync(join(defs, file), join(ws, 'infra', 'shop', file));
      const r = await cli('show', 'settings', '--infra', 'shop', '--environment', 'prod', '--out', 'json');
      assert.equal(r.code, 0, `${file}: ${r.stdout}${r.stderr}`);
      outputs.push(r.json().servers);
      const d = r.json();
      assert.equal(d.file, `infra/shop/${file}`);
      assert.deepEqual(d.clusters.map((c: { name: string; order: string[] }) => c.name), ['storefront']);
    }
    assert.deepEqual(outputs[0], outputs[1]);
    const servers = outputs[0] as { hostname: string; zone: string; plan: string; disk_gb: number; taskservs: { name: string; settings: Record<string, unknown> }[] }[];
    const edge = servers.find((s) => s.hostname === 'edge-01')!;
    assert.deepEqual([edge.zone, edge.plan], ['eu-central-1', 't3.small']);
    const web = servers.find((s) => s.hostname === 'web-01')!;
    assert.deepEqual([web.zone, web.disk_gb], ['de-fra1', 40]);
    const db = servers.find((s) => s.hostname === 'db-01')!;
    assert.equal(db.taskservs.find((t) => t.name === 'postgres')!.settings.password, '<secret>');
  });
});

describe('schema', () => {
  it('list, show (JSON Schema on stdout) and a bad kind', async () => {
    const home = tempHome('prov-infra-');
    const l = await runCli(['schema', 'list', '--out', 'json'], { home });
    assert.deepEqual(l.json().map((k: { kind: string }) => k.kind), ['infra', 'server', 'taskserv', 'cluster', 'workflow', 'extension', 'config']);
    for (const kind of ['infra', 'config']) {
      const s = await runCli(['schema', 'show', kind], { home });
      assert.equal(s.code, 0, s.stderr);
      const schema = JSON.parse(s.stdout);
      assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
      assert.equal(schema.type, 'object');
    }
    const cfg = JSON.parse((await runCli(['schema', 'show', 'config'], { home })).stdout);
    assert.deepEqual(cfg.properties.execution.properties.parallel_limit.type, 'integer');
    const bad = await runCli(['schema', 'show', 'infar'], { home });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown schema kind 'infar'.*\n.*did you mean 'infra'/);
  });

  it('export writes into .provisioning/schemas (workspace init did it already); --check writes nothing', async () => {
    const { ws, home, cli } = await workspace('local');
    assert.deepEqual(readdirSync(join(ws, '.provisioning/schemas')).sort(), ['cluster.json', 'config.json', 'extension.json', 'infra.json', 'server.json', 'taskserv.json', 'workflow.json']);
    assert.match(readFileSync(join(ws, '.taplo.toml'), 'utf8'), /include = \["infra\/\*\/settings\.toml"\]\n\[rule\.schema\]\npath = "\.\/\.provisioning\/schemas\/infra\.json"/);
    assert.ok(JSON.parse(readFileSync(join(ws, '.vscode/settings.json'), 'utf8'))['yaml.schemas']['./.provisioning/schemas/infra.json']);
    const out = join(home, 'schemas-out');
    const c = await cli('schema', 'export', '--output-dir', out, '--kind', 'infra,server', '--check', '--out', 'json');
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(c.json().actions.map((a: { action: string; name: string }) => [a.action, a.name]), [['create', join(out, 'infra.json')], ['create', join(out, 'server.json')]]);
    assert.equal(existsSync(out), false);
    const w = await cli('schema', 'export', '--output-dir', out, '--kind', 'infra', '--kind', 'server');
    assert.equal(w.code, 0, w.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['infra.json', 'server.json']);
    const bad = await cli('schema', 'export', '--kind', 'nope');
    assert.equal(bad.code, 2);
  });
});

describe('generate', () => {
  for (const template of ['default', 'minimal', 'web']) {
    it(`generate infra --template ${template} writes a settings.ts that validates`, async () => {
      const { ws, cli } = await workspace('local');
      const r = await cli('generate', 'infra', 'staging', '--template', template, '--provider', 'upcloud');
      assert.equal(r.code, 0, r.stderr);
      assert.match(readFileSync(join(ws, 'infra/staging/settings.ts'), 'utf8'), /name: 'staging',\n {2}provider: 'upcloud',/);
      const v = await cli('validate', 'infra', 'staging');
      assert.equal(v.code, 0, v.stdout + v.stderr);
    });
  }

  it('--check prints the path and content and writes nothing; existing infras are refused without --force', async () => {
    const { ws, cli } = await workspace('local');
    const c = await cli('gen', 'infra', '--new', 'edge', '--check');
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^Check mode — nothing will be changed(.*\n)* {2}create {2}infra\/edge\/settings\.ts\n(.*\n)*export default defineInfra\(\{\n {2}name: 'edge',/);
    assert.equal(existsSync(join(ws, 'infra/edge')), false);
    const again = await cli('generate', 'infra', 'local');
    assert.equal(again.code, 6);
    assert.match(again.stderr, /infra 'local' already exists.*\n.*--force/);
    const forced = await cli('generate', 'infra', 'local', '--template', 'minimal', '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(readFileSync(join(ws, 'infra/local/settings.ts'), 'utf8'), /servers: \[\],/);
  });

  it('--from copies an infra under the new name; bad input is refused', async () => {
    const { ws, cli } = await workspace('local');
    const r = await cli('generate', 'infra', 'copy', '--from', 'local');
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(join(ws, 'infra/copy/settings.ts'), 'utf8'), /name: 'copy',/);
    assert.equal((await cli('validate', 'infra', 'copy')).code, 0);
    const badName = await cli('generate', 'infra', 'Bad_Name');
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /did you mean 'bad-name'/);
    const badTpl = await cli('generate', 'infra', 'x', '--template', 'webb');
    assert.equal(badTpl.code, 2);
    assert.match(badTpl.stderr, /unknown infra template 'webb'.*\n.*did you mean 'web'/);
    const badFrom = await cli('generate', 'infra', 'x', '--from', 'nope');
    assert.equal(badFrom.code, 5);
  });

  it('server, taskserv and cluster entries are added to a TOML definition in place; the result validates', async () => {
    const { ws, cli } = await workspace('local');
    const original = '# our infra\nprovider = "upcloud"\n\n[[servers]]\nhostname = "web-01" # front\nlabels = { role = "web" }\n\n[[servers]]\nhostname = "db-01"\nlabels = { role = "db" }\ntaskservs = ["redis"]\n';
    writeInfra(ws, 'edit', 'settings.toml', original);
    const check = await cli('generate', 'server', 'web-02', '--plan', '2xCPU-4GB', '--infra', 'edit', '--check');
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /\+ \[\[servers\]\]\n\+ hostname = "web-02"\n\+ plan = "2xCPU-4GB"/);
    assert.equal(readFileSync(join(ws, 'infra/edit/settings.toml'), 'utf8'), original);
    assert.equal((await cli('generate', 'server', 'web-02', '--plan', '2xCPU-4GB', '--infra', 'edit')).code, 0);
    const dup = await cli('generate', 'server', 'web-02', '--infra', 'edit');
    assert.equal(dup.code, 6);
    const t = await cli('generate', 'taskserv', 'nginx', '--servers', 'web-01,db-01', '--infra', 'edit');
    assert.equal(t.code, 0, t.stderr);
    const unknown = await cli('generate', 'taskserv', 'ngnix', '--infra', 'edit');
    assert.equal(unknown.code, 5);
    assert.match(unknown.stderr, /did you mean 'nginx'/);
    const cl = await cli('generate', 'cluster', 'web-stack', '--infra', 'edit');
    assert.equal(cl.code, 0, cl.stderr);
    const text = readFileSync(join(ws, 'infra/edit/settings.toml'), 'utf8');
    assert.match(text, /^# our infra\n/);
    assert.match(text, /hostname = "web-01" # front\nlabels = \{ role = "web" \}\ntaskservs = \["nginx"\]\n/);
    assert.match(text, /taskservs = \["redis", "nginx"\]/);
    assert.match(text, /\[\[clusters\]\]\nname = "web-stack"\nextension = "web-stack"\nsettings = \{ domain = "change-me" \}\n$/);
    const s = await cli('show', 'servers', '--infra', 'edit', '--out', 'json');
    assert.equal(s.code, 0, s.stdout + s.stderr);
    assert.deepEqual(s.json().map((x: { hostname: string }) => x.hostname), ['web-01', 'db-01', 'web-02']);
  });

  it('a TypeScript definition is not rewritten: the entry is printed to paste (exit 0)', async () => {
    const { ws, cli } = await workspace('local');
    const before = readFileSync(join(ws, 'infra/local/settings.ts'), 'utf8');
    const r = await cli('generate', 'server', 'cache-01', '--plan', '1xCPU-1GB');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "{ hostname: 'cache-01', plan: '1xCPU-1GB' },\n");
    assert.match(r.stderr, /settings\.ts is not rewritten .*; add this to servers:/);
    assert.equal(readFileSync(join(ws, 'infra/local/settings.ts'), 'utf8'), before);
  });
});
