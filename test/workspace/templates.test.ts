import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { listInfras, loadInfra } from '../../src/model/discover.js';
import { loadDefinition } from '../../src/model/load.js';
import { assertValid, validateWorkflow } from '../../src/model/validate.js';
import { renderWorkspace, WORKSPACE_TEMPLATES } from '../../src/workspace/templates.js';
import { writeFiles } from './fixtures.js';

const vars = { name: 'demo', provider: 'local', created: '2025-01-02', cli_version: '0.1.0' };

function rendered(template: (typeof WORKSPACE_TEMPLATES)[number]) {
  const dir = mkdtempSync(join(tmpdir(), `prov-tpl-${template}-`));
  const files = renderWorkspace(template, vars);
  writeFiles(dir, Object.fromEntries(files.map((f) => [f.path, f.content])));
  return { dir, files, env: { PROVISIONING_HOME: dir, HOME: dir } };
}

describe('workspace templates', () => {
  it('render every variable and give every workspace the common files', () => {
    for (const t of WORKSPACE_TEMPLATES) {
      const files = renderWorkspace(t, vars);
      const paths = files.map((f) => f.path);
      for (const p of ['provisioning.toml', '.gitignore', 'package.json', 'tsconfig.json']) assert.ok(paths.includes(p), `${t}: ${p}`);
      for (const d of ['config', 'infra', 'extensions', 'workflows']) assert.ok(paths.some((p) => p.startsWith(`${d}/`)), `${t}: ${d}/`);
      for (const f of files) assert.doesNotMatch(f.content, /\{\{|\{%/, `${t}: ${f.path} has unrendered template syntax`);
      const toml = files.find((f) => f.path === 'provisioning.toml')!.content;
      assert.match(toml, /name = "demo"\nformat_version = 1\n|name = "demo"\n(.*\n)*format_version = 1\n/);
      assert.match(toml, /Created 2025-01-02 by provisioning 0\.1\.0/);
      assert.deepEqual(JSON.parse(files.find((f) => f.path === 'package.json')!.content).devDependencies, { provisioning: '^0.1.0' });
    }
    assert.deepEqual(renderWorkspace('minimal', vars).map((f) => f.path),
      ['.gitignore', '.taplo.toml', '.vscode/settings.json', 'config/.gitkeep', 'extensions/.gitkeep', 'infra/.gitkeep', 'package.json', 'provisioning.toml', 'tsconfig.json', 'workflows/.gitkeep']);
  });

  it('local: infra `local` loads and validates with two Debian servers', async () => {
    const { dir, env } = rendered('local');
    assert.deepEqual((await listInfras(dir)).map((i) => i.name), ['local']);
    const infra = await loadInfra({ workspaceRoot: dir, infra: 'local', env, context: { workspace: 'demo', infra: 'local', environment: 'dev' } });
    assert.deepEqual(infra.settings.servers.map((s) => s.hostname), ['web-01', 'db-01']);
    assert.equal(infra.settings.labels?.workspace, 'demo');
    const wf = await loadDefinition(join(dir, 'workflows', 'site.toml'), { kind: 'workflow', env });
    assert.deepEqual(assertValid(validateWorkflow(wf.data)).operations.map((o) => `${o.id}:${o.type}`), ['servers:server_create', 'redis:taskserv_create', 'nginx:taskserv_create', 'ping:script']);
  });

  it('full: infra `main` with web and db servers and taskservs, and a valid workflow', async () => {
    const { dir, env } = rendered('full');
    const infra = await loadInfra({ workspaceRoot: dir, infra: 'main', env, context: { workspace: 'demo', infra: 'main', environment: 'dev' } });
    assert.deepEqual(infra.settings.servers.map((s) => s.hostname), ['web-01', 'web-02', 'db-01']);
    const taskservs = infra.settings.servers.flatMap((s) => (s.taskservs ?? []).map((t) => (typeof t === 'string' ? t : t.name)));
    assert.deepEqual([...new Set(taskservs)].sort(), ['containerd', 'nginx', 'postgres']);
    const wf = await loadDefinition(join(dir, 'workflows', 'rollout.ts'), { kind: 'workflow', env });
    const workflow = assertValid(validateWorkflow(wf.data));
    assert.equal(workflow.infra, 'main');
    assert.deepEqual(workflow.operations.map((o) => o.id), ['db-server', 'web-servers', 'postgres', 'nginx']);
  });
});
