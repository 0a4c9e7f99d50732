import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WorkflowControl } from '../../src/engine/control.js';
import { createOperationRunner } from '../../src/engine/operations.js';
import { Engine } from '../../src/engine/worker.js';
import { assertValid, validateWorkflow } from '../../src/model/index.js';
import { SqliteWorkflowStore } from '../../src/store/sqlite/workflows.js';
import { buildWorkflow } from '../../src/workflow/spec.js';

const dir = mkdtempSync(join(tmpdir(), 'prov-wf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function build(raw: unknown, workdir: string, extra: { not_before?: number } = {}) {
  const spec = assertValid(validateWorkflow(raw));
  return buildWorkflow(spec, {
    workspace: 'ws', kind: 'batch', execution: 'direct', submitted_by: 'local:test', defaultInfra: null, infra: () => undefined, knownInfras: [],
    defaults: { parallel_limit: 5, retries: 0, retry_delay_ms: 10, timeout_ms: 60_000 }, workdir, now: Date.now(), ...extra,
  });
}

const op = (id: string, run: string, extra: Record<string, unknown> = {}) => ({ id, type: 'script', target: { run, ...(extra.undo ? { undo: extra.undo } : {}) }, ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'undo')) });

async function runDirect(store: SqliteWorkflowStore, id: string) {
  const engine = new Engine(store, createOperationRunner({ workspacePath: dir, env: process.env }), { capacity: 10, leaseMs: 30_000, heartbeatMs: 5_000, only: [id], pollMs: 20 });
  await engine.start();
  await engine.done();
  await engine.stop();
}

describe('workflow engine (SQLite, local scripts)', () => {
  const store = new SqliteWorkflowStore(join(dir, 'state.db'));
  after(() => store.close());
  const control = new WorkflowControl(store, 'local:test');

  it('runs a DAG in dependency order, checkpoints each completion, and completes', async () => {
    const log = join(dir, 'order.log');
    writeFileSync(log, '');
    const { workflow, operations } = build({ name: 'dag', operations: [
      op('a', `echo a >> ${log}`), op('b', `echo b >> ${log}`, { dependencies: ['a'] }), op('c', `echo c >> ${log}`, { dependencies: ['a'] }),
      op('d', `echo d >> ${log}`, { after: ['b', 'c'] }),
    ] }, dir);
    await control.submit(workflow, operations);
    await runDirect(store, workflow.id);
    const w = (await store.getWorkflow(workflow.id))!;
    assert.equal(w.status, 'completed', JSON.stringify(w.error));
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'a');
    assert.equal(lines[3], 'd');
    assert.deepEqual(lines.slice(1, 3).sort(), ['b', 'c']);
    const ck = await store.checkpoints({ workflow_id: w.id }, { limit: 100, offset: 0 });
    assert.equal(ck.total, 4);
    assert.deepEqual(ck.rows.at(-1)!.completed_operations.sort(), ['a', 'b', 'c', 'd']);
    const evs = await store.events(0, 1000, [w.id]);
    assert.ok(evs.every((e, i) => i === 0 || e.seq > evs[i - 1]!.seq));
    assert.equal(evs.filter((e) => e.event_type === 'OperationStatusChanged' && e.data.status === 'completed').length, 4);
    // a batch reports its operations at most once a second, and always at the end
    const batchUpdates = evs.filter((e) => e.event_type === 'BatchOperationUpdate');
    assert.ok(batchUpdates.length >= 1);
    assert.deepEqual(batchUpdates.at(-1)!.data.totals, { total: 4, completed: 4, failed: 0, running: 0, pending: 0, skipped: 0 });
    // the workflow's log lines stream as LogEntry events too
    assert.ok(evs.some((e) => e.event_type === 'LogEntry' && e.category === 'log' && /submitted by local:test/.test(String(e.data.message))));
  });

  it('retries a failing operation, then rolls back completed ones in reverse completion order', async () => {
    const log = join(dir, 'rb.log');
    writeFileSync(log, '');
    const { workflow, operations } = build({ name: 'rb', operations: [
      op('one', `echo one >> ${log}`, { undo: `echo undo-one >> ${log}` }),
      op('two', `echo two >> ${log}`, { dependencies: ['one'], undo: `echo undo-two >> ${log}` }),
      op('bad', `echo bad >> ${log}; exit 3`, { dependencies: ['two'], retries: 1, retry_delay: '10ms' }),
    ] }, dir);
    await control.submit(workflow, operations);
    await runDirect(store, workflow.id);
    const w = (await store.getWorkflow(workflow.id))!;
    assert.equal(w.status, 'rolled_back');
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['one', 'two', 'bad', 'bad', 'undo-two', 'undo-one']);
    const ops = await store.getOperations(w.id);
    assert.deepEqual(ops.map((o) => [o.id, o.status]), [['one', 'rolled_back'], ['two', 'rolled_back'], ['bad', 'failed']]);
    assert.equal(ops[2]!.attempt, 2);
    assert.equal(ops[2]!.error?.code, 'COMMAND_FAILED');
  });

  it('a workflow with not_before stays pending until then, then goes pending → queued → running → completed', async () => {
    const marker = join(dir, 'later.txt');
    const notBefore = Date.now() + 400;
    const { workflow, operations } = build({ name: 'later', operations: [op('later', `date +%s%3N > ${marker}`)] }, dir, { not_before: notBefore });
    assert.equal(workflow.status, 'pending');
    await control.submit(workflow, operations);
    await runDirect(store, workflow.id);
    assert.equal((await store.getWorkflow(workflow.id))!.status, 'completed');
    assert.ok(Number(readFileSync(marker, 'utf8')) >= notBefore, 'it ran before its not_before time');
    const seen = (await store.events(0, 1000, [workflow.id])).filter((e) => e.event_type === 'WorkflowStatusChanged').map((e) => e.data.status);
    assert.deepEqual(seen, ['pending', 'queued', 'running', 'completed']);
  });
});
