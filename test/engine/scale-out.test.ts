/**
 * Scale-out (issue 6): two engine processes on one PostgreSQL database process one batch; every
 * operation runs exactly once, and both instances take part (leases with FOR UPDATE SKIP LOCKED).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WorkflowControl } from '../../src/engine/control.js';
import { assertValid, validateWorkflow } from '../../src/model/index.js';
import { buildWorkflow } from '../../src/workflow/spec.js';
import { FINAL } from '../../src/workflow/types.js';
import { startEngineProcess } from '../fixtures/engine-process.js';
import { pgDatabase } from '../fixtures/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'prov-scale-'));
after(() => rmSync(dir, { recursive: true, force: true }));


describe('two engine instances on one PostgreSQL database', () => {
  it('process a 100-operation batch with every operation exactly once', async (t) => {
    const db = await pgDatabase();
    if (!db) { t.skip('PostgreSQL is not reachable at 127.0.0.1:5432'); return; }
    const { PostgresWorkflowStore } = await import('../../src/store/postgres/workflows.js');
    const store = await PostgresWorkflowStore.open(db.url, { poolSize: 2 });
    const kids: ChildProcess[] = [];
    try {
      kids.push(await startEngineProcess(db.url, dir, 4), await startEngineProcess(db.url, dir, 4));
      const log = join(dir, 'ops.log');
      writeFileSync(log, '');
      // not idempotent on purpose: a second run of any operation would show in the log
      const ops = Array.from({ length: 100 }, (_, i) => ({ id: `op-${i}`, type: 'script', target: { run: `echo "$PROVISIONING_OPERATION_ID $PROVISIONING_ENGINE_INSTANCE" >> ${log}; sleep 0.02` }, ...(i >= 50 ? { dependencies: [`op-${i - 50}`] } : {}) }));
      const { workflow, operations } = buildWorkflow(assertValid(validateWorkflow({ name: 'shared', parallel_limit: 8, operations: ops })), {
        workspace: 'ws', kind: 'batch', execution: 'orchestrated', submitted_by: 'local:test', defaultInfra: null, infra: () => undefined, knownInfras: [],
        defaults: { parallel_limit: 8, retries: 0, retry_delay_ms: 10, timeout_ms: 60_000 }, workdir: dir, now: Date.now(),
      });
      await new WorkflowControl(store, 'local:test').submit(workflow, operations);
      const deadline = Date.now() + 120_000;
      for (;;) {
        const w = (await store.getWorkflow(workflow.id))!;
        if (FINAL.has(w.status)) { assert.equal(w.status, 'completed', JSON.stringify(w.error)); break; }
        assert.ok(Date.now() < deadline, 'the batch did not finish within 120 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
      const runs = new Map<string, number>();
      for (const [id] of lines) runs.set(id!, (runs.get(id!) ?? 0) + 1);
      assert.equal(runs.size, 100);
      assert.deepEqual([...runs.entries()].filter(([, n]) => n !== 1), [], 'operations that ran more than once');
      const instances = new Set(lines.map(([, inst]) => inst));
      assert.equal(instances.size, 2, `only ${[...instances].join(',')} did work`);
      assert.equal((await store.workers()).length, 2);
    } finally {
      for (const k of kids) k.kill('SIGKILL');
      await store.close();
      await db.drop();
    }
  });
});
