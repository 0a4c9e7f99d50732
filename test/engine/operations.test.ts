/**
 * Real operations in one batch (issue 6 item 6): servers of two providers (a local container and
 * a static host behind a real sshd), a taskserv, scripts on the servers and on the engine's host,
 * run by the durable engine in-process. A failing last step rolls everything back in reverse
 * completion order; a batch that succeeds, then a delete batch, leave nothing behind.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowControl } from '../../src/engine/control.js';
import { prepareWorkflow } from '../../src/engine/host.js';
import { createOperationRunner } from '../../src/engine/operations.js';
import { Engine } from '../../src/engine/worker.js';
import { SqliteStateStore } from '../../src/store/sqlite/state.js';
import { SqliteWorkflowStore } from '../../src/store/sqlite/workflows.js';
import { ROOT, runCli, tempHome } from '../fixtures/cli.js';
import { ensureEngine, type Engine as Podman } from '../fixtures/engine.js';
import { startSshd, type SshdFleet } from '../fixtures/sshd.js';

const WS = `wfops${process.pid}`;
const MARK = `/tmp/prov-wf-mark-${process.pid}`;

describe('workflow operations on real servers (local container + static host)', () => {
  const home = tempHome();
  const ws = join(home, WS);
  let podman: Podman;
  let fleet: SshdFleet;
  let env: Record<string, string | undefined>;
  let store: SqliteWorkflowStore;

  before(async () => {
    podman = await ensureEngine();
    fleet = await startSshd(1);
    env = { ...process.env, HOME: home, PROVISIONING_HOME: home, PROVISIONING_PROVIDERS__LOCAL__SOCKET: podman.socket };
    const r = await runCli(['workspace', 'init', WS, ws, '--template', 'local'], { home });
    assert.equal(r.code, 0, r.stderr);
    cpSync(join(ROOT, 'test', 'fixtures', 'taskservs', 'webprobe'), join(ws, 'extensions', 'taskservs', 'webprobe'), { recursive: true });
    mkdirSync(join(ws, 'infra', 'mx'), { recursive: true });
    const h = fleet.hosts[0]!;
    writeFileSync(join(ws, 'infra', 'mx', 'settings.toml'), [
      'provider = "local"', '[defaults]', 'cores = 1', 'memory = "256MiB"',
      '[[servers]]', 'hostname = "mx-01"', '[[servers.taskservs]]', 'name = "webprobe"',
      '[[servers]]', 'hostname = "st-01"', 'provider = "static"', '[servers.provider_settings]', `address = "${h.host}"`, '[servers.ssh]', `port = ${h.port}`, `private_key = "${fleet.keyFile}"`,
    ].join('\n') + '\n');
    store = new SqliteWorkflowStore(join(ws, '.provisioning', 'state.db'));
  });

  after(async () => {
    await store?.close();
    fleet?.stop();
    rmSync(MARK, { force: true });
    const found = await podman.docker.listContainers({ all: true, filters: { label: [`provisioning.io/workspace=${WS}`] } });
    for (const c of found) await podman.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  });

  async function run(batch: unknown) {
    const { workflow, operations } = await prepareWorkflow(batch, {
      wsPath: ws, env, workspace: WS, kind: 'batch', execution: 'direct', submitted_by: 'local:test', defaultInfra: 'mx', workdir: ws,
      defaults: { parallel_limit: 5, retries: 0, retry_delay_ms: 100, timeout_ms: 600_000 },
    });
    await new WorkflowControl(store, 'local:test').submit(workflow, operations);
    const engine = new Engine(store, createOperationRunner({ workspacePath: ws, env }), { capacity: 10, leaseMs: 60_000, heartbeatMs: 5_000, only: [workflow.id], pollMs: 50 });
    await engine.start();
    await engine.done();
    await engine.stop();
    return { w: (await store.getWorkflow(workflow.id))!, ops: await store.getOperations(workflow.id), events: await store.events(0, 10_000, [workflow.id]) };
  }

  const containers = async () => (await podman.docker.listContainers({ all: true, filters: { label: [`provisioning.io/workspace=${WS}`] } })).length;
  const servers = async () => {
    const s = new SqliteStateStore(ws);
    try { return (await s.listResources({ workspace: WS, infra: 'mx', kind: 'server', includeDeleted: true })).map((r) => `${r.name}:${r.status}`).sort(); } finally { await s.close(); }
  };

  const batch = (fail: boolean) => ({
    name: 'mixed', operations: [
      { id: 'servers', type: 'server_create', target: ['mx-01', 'st-01'] },
      { id: 'web', type: 'taskserv_create', target: { taskserv: 'webprobe', servers: ['mx-01'] } },
      { id: 'mark', type: 'script', target: { run: `hostname > ${MARK}-$(hostname)`, on: { servers: ['mx-01', 'st-01'] }, undo: `rm -f ${MARK}-$(hostname)` }, dependencies: ['servers'] },
      ...(fail ? [{ id: 'boom', type: 'script', target: { run: 'echo about to fail; exit 5' }, dependencies: ['web', 'mark'] }] : []),
    ],
  });

  it('a failing batch rolls back script, taskserv and both servers in reverse completion order', async () => {
    const { w, ops, events } = await run(batch(true));
    assert.equal(w.status, 'rolled_back', JSON.stringify(w.error));
    assert.deepEqual(ops.map((o) => `${o.id}:${o.status}`), ['servers:rolled_back', 'web:rolled_back', 'mark:rolled_back', 'boom:failed']);
    assert.equal(ops.find((o) => o.id === 'web')!.spec.implicit?.[0], 'servers');
    assert.match(ops.find((o) => o.id === 'boom')!.output_tail.join('\n'), /about to fail/);
    const completedOrder = ops.filter((o) => o.completed_order !== null).sort((a, b) => a.completed_order! - b.completed_order!).map((o) => o.id);
    const undone = events.filter((e) => e.event_type === 'OperationStatusChanged' && e.data.status === 'rolled_back').map((e) => e.data.operation_id);
    assert.deepEqual(undone, [...completedOrder].reverse());
    assert.equal(await containers(), 0);
    assert.deepEqual(await servers(), ['mx-01:deleted', 'st-01:deleted']);
    assert.ok(!existsSync(`${MARK}-${readFileSync('/etc/hostname', 'utf8').trim()}`), 'the undo of the script on the static host ran');
  });

  it('a batch that succeeds leaves running servers with the taskserv; a delete batch removes them', async () => {
    const { w, ops } = await run(batch(false));
    assert.equal(w.status, 'completed', JSON.stringify(w.error) + ops.map((o) => `${o.id}:${o.status}:${o.error?.message}`).join(' '));
    assert.deepEqual(await servers(), ['mx-01:running', 'st-01:running']);
    assert.deepEqual(ops.find((o) => o.id === 'servers')!.resources.map((r) => `${r.type}:${r.name}`).sort(), ['server:mx-01', 'server:st-01']);
    assert.equal(await containers(), 1);
    const created = (await store.events(0, 10_000, [w.id])).filter((e) => e.event_type === 'ResourceChanged').map((e) => `${e.data.change}:${e.data.resource_type}:${e.data.name}`);
    assert.deepEqual(created.filter((x) => x.includes(':server:')).sort(), ['created:server:mx-01', 'created:server:st-01']);
    const del = await run({ name: 'teardown', operations: [
      { id: 'web', type: 'taskserv_delete', target: { taskserv: 'webprobe', servers: ['mx-01'] } },
      { id: 'servers', type: 'server_delete', target: '*', dependencies: ['web'] },
    ] });
    assert.equal(del.w.status, 'completed', JSON.stringify(del.w.error));
    assert.equal(await containers(), 0);
    assert.deepEqual(await servers(), ['mx-01:deleted', 'st-01:deleted']);
  });
});
