/**
 * A plan applied directly by the CLI is recorded as a workflow (engine/record.ts): one operation
 * per change with the plan's order, statuses and errors, in the workspace's workflow store.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteWorkflowStore } from '../../src/store/sqlite/workflows.js';
import { runCli, tempHome } from '../fixtures/cli.js';
import { freePort, startSshd, type SshdFleet } from '../fixtures/sshd.js';

describe('direct CLI runs are recorded as workflows', () => {
  const home = tempHome();
  const ws = join(home, 'rec');
  let fleet: SshdFleet;
  const cli = (args: string[]) => runCli(args, { home, cwd: ws });
  const store = () => new SqliteWorkflowStore(join(ws, '.provisioning', 'state.db'));

  before(async () => {
    fleet = await startSshd(3);
    assert.equal((await runCli(['workspace', 'init', 'rec', ws, '--template', 'minimal'], { home })).code, 0);
    mkdirSync(join(ws, 'infra', 'metal'), { recursive: true });
    writeFileSync(join(ws, 'infra', 'metal', 'settings.toml'), [
      'provider = "static"',
      ...fleet.hosts.slice(0, 2).flatMap((h, i) => ['[[servers]]', `hostname = "m-0${i + 1}"`, '[servers.provider_settings]', `address = "${h.host}"`, '[servers.ssh]', `port = ${h.port}`, `private_key = "${fleet.keyFile}"`]),
      '[[servers]]', 'hostname = "gone-01"', '[servers.provider_settings]', 'address = "127.0.0.1"', '[servers.ssh]', 'port = 1',
    ].join('\n') + '\n');
  });
  after(() => fleet?.stop());

  it('server create: a workflow of kind server with one operation per server, the failure on its operation', async () => {
    const r = await cli(['server', 'create', '--infra', 'metal', '--yes', '--out', 'json']);
    assert.equal(r.code, 9, r.stderr + r.stdout);
    const id = r.json().workflow_id as string;
    assert.match(id, /^wf_[0-9A-Z]{26}$/);
    const s = store();
    try {
      const w = (await s.getWorkflow(id))!;
      assert.deepEqual([w.kind, w.action, w.execution, w.infra, w.status], ['server', 'create', 'direct', 'metal', 'failed']);
      const ops = await s.getOperations(id);
      assert.deepEqual(ops.map((o) => `${o.type}:${o.servers[0]}:${o.status}`).sort(), ['server_create:gone-01:failed', 'server_create:m-01:completed', 'server_create:m-02:completed']);
      assert.match(ops.find((o) => o.servers[0] === 'gone-01')!.error!.message, /127\.0\.0\.1/);
      assert.equal(w.error?.code, 'UNAVAILABLE');
      const evs = await s.events(0, 1000, [id]);
      assert.equal(evs.filter((e) => e.event_type === 'OperationStatusChanged' && e.data.status === 'running').length, 3);
      assert.deepEqual((await s.workers()).length, 0, 'the CLI unregisters itself');
    } finally {
      await s.close();
    }
  });

  it('a second run with nothing to do records no workflow', async () => {
    writeFileSync(join(ws, 'infra', 'metal', 'settings.toml'), (await import('node:fs')).readFileSync(join(ws, 'infra', 'metal', 'settings.toml'), 'utf8').replace(/\[\[servers\]\]\nhostname = "gone-01"[\s\S]*$/, ''));
    const s = store();
    const before = (await s.listWorkflows({}, { limit: 100, offset: 0 })).total;
    await s.close();
    const r = await cli(['server', 'create', '--infra', 'metal', '--yes', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const s2 = store();
    try {
      assert.equal((await s2.listWorkflows({}, { limit: 100, offset: 0 })).total, before);
    } finally {
      await s2.close();
    }
  });

  it('with an orchestrator running, server create is submitted to it (execution.mode auto) and --wait follows it', async () => {
    const port = String(await freePort());
    const env = { PROVISIONING_ORCHESTRATOR__PORT: port };
    const h = fleet.hosts[2]!;
    const file = join(ws, 'infra', 'metal', 'settings.toml');
    writeFileSync(file, (await import('node:fs')).readFileSync(file, 'utf8') + ['[[servers]]', 'hostname = "m-03"', '[servers.provider_settings]', `address = "${h.host}"`, '[servers.ssh]', `port = ${h.port}`, `private_key = "${fleet.keyFile}"`].join('\n') + '\n');
    const up = await runCli(['orchestrator', 'start'], { home, cwd: ws, env });
    assert.equal(up.code, 0, up.stderr + up.stdout);
    try {
      const r = await runCli(['server', 'create', '--infra', 'metal', '--yes', '--wait', '--out', 'json'], { home, cwd: ws, env });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stderr, new RegExp(`submitted wf_\\w+ \\(server create\\) to the orchestrator at http://127\\.0\\.0\\.1:${port}`));
      const s = store();
      try {
        const [w] = (await s.listWorkflows({ execution: ['orchestrated'] }, { limit: 10, offset: 0 })).rows;
        assert.deepEqual([w!.status, w!.infra, w!.name], ['completed', 'metal', 'server-create']);
        assert.deepEqual((await s.getOperations(w!.id)).map((o) => `${o.type}:${o.servers.join(',')}:${o.status}`), ['server_create:m-03:completed']);
      } finally {
        await s.close();
      }
      const list = await runCli(['server', 'list', '--infra', 'metal', '--out', 'json'], { home, cwd: ws, env });
      assert.ok((list.json() as { name: string; status: string }[]).some((x) => x.name === 'm-03' && x.status === 'running'), list.stdout);
    } finally {
      await runCli(['orchestrator', 'stop', '--yes'], { home, cwd: ws, env });
    }
  });
});
