/**
 * One conformance suite for both workflow stores: SQLite (a temp file) and PostgreSQL (a fresh
 * database per test on 127.0.0.1:5432, dropped afterwards). PostgreSQL-only tests cover what only
 * a shared database has: SKIP LOCKED between instances, waiting locks, migrations under an
 * advisory lock, a newer schema refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { LISTENER_NAME, PostgresWorkflowStore } from '../../src/store/postgres/workflows.js';
import { SqliteWorkflowStore } from '../../src/store/sqlite/workflows.js';
import type { WorkflowStore } from '../../src/store/workflows.js';
import type { Checkpoint, OperationRow, Rollback, Status, WorkflowRow } from '../../src/workflow/types.js';
import { pgDatabase } from '../fixtures/postgres.js';

const DEADLINE_MS = 15_000;

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

function wf(id: string, o: Partial<WorkflowRow> = {}): WorkflowRow {
  return {
    id, name: `deploy ${id}`, kind: 'server', action: 'create', workspace: 'acme', infra: 'main', environment: 'dev', status: 'queued',
    check_mode: false, execution: 'orchestrated', priority: 50, parallel_limit: 4, rollback_enabled: true, fail_fast: true, version: null,
    progress: 0, current_step: null, last_checkpoint_id: null, submitted_by: 'local:alice', labels: {}, created_at: at(0), started_at: null,
    completed_at: null, duration_ms: null, plan: null, result: null, error: null, wake_at: 0, completions: 0, checkpoints: 0, rollback_id: null,
    rollback_after_cancel: false, deadline: null, workdir: null, ...o,
  };
}

function op(workflowId: string, id: string, idx: number, o: Partial<OperationRow> = {}): OperationRow {
  return {
    workflow_id: workflowId, id, idx, type: 'server_create', status: 'pending', progress: 0, infra: 'main', provider: 'local', servers: ['web-01'],
    spec: { id, type: 'server_create', depends_on: [], after: [], retries: 3, retry_delay_ms: 1000, timeout_ms: 3_600_000, continue_on_error: false, rollback: true },
    task_id: `tsk_${workflowId}_${id}`, attempt: 1, max_attempts: 4, not_before: null, lease_owner: null, lease_expires_at: null, queued_at: null,
    started_at: null, completed_at: null, duration_ms: null, completed_order: null, resources: [], result: null, output_tail: [], error: null, ...o,
  };
}

const ckpt = (workflowId: string, seq: number, o: Partial<Checkpoint> = {}): Checkpoint => ({
  id: `ckpt_${workflowId}_${seq}`, workflow_id: workflowId, seq, trigger: 'operation', name: null, description: null, completed_operations: [],
  state_sha256: 'a'.repeat(64), size_bytes: 10, created_at: at(seq), created_by: null, ...o,
});

const rollback = (id: string, workflowId: string, o: Partial<Rollback> = {}): Rollback => ({
  id, workflow_id: workflowId, mode: 'full', checkpoint_id: null, operation_ids: [], status: 'queued', actions: { total: 2, executed: 0, failed: 0, skipped: 0 },
  requested_by: 'local:alice', reason: null, started_at: null, completed_at: null, duration_ms: null, error: null, ...o,
});

/** Resolves when `cond` holds; fails with `what` (and the last value seen) after the deadline. */
async function until<T>(what: string, probe: () => Promise<T> | T, cond: (v: T) => boolean): Promise<T> {
  const end = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await probe();
    if (cond(v)) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}; last seen: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Records a store's onEvents calls; `reached(seq)` resolves with the first call ≥ seq, past or future. */
function listen(store: WorkflowStore): { calls: number[]; reached: (seq: number) => Promise<number>; off: () => void } {
  const calls: number[] = [];
  const waiters = new Set<() => void>();
  const off = store.onEvents((seq) => { calls.push(seq); for (const w of waiters) w(); });
  const reached = (seq: number) => new Promise<number>((resolve, reject) => {
    const done = () => { clearTimeout(timer); waiters.delete(check); };
    const check = () => {
      const hit = calls.find((c) => c >= seq);
      if (hit !== undefined) { done(); resolve(hit); }
    };
    const timer = setTimeout(() => { done(); reject(new Error(`no onEvents call reached seq ${seq}; calls: ${JSON.stringify(calls)}`)); }, DEADLINE_MS);
    waiters.add(check);
    check();
  });
  return { calls, reached, off };
}

/**
 * One database (a file, or a PostgreSQL database) per test, with as many store instances on it as
 * the test opens; `sql` runs a statement on it directly (PostgreSQL).
 */
interface Db { open(): Promise<WorkflowStore>; url?: string; sql<R extends pg.QueryResultRow>(q: string): Promise<R[]> }

const pgUp = await pgDatabase().then(async (d) => { await d?.drop(); return d !== undefined; });

async function freshDb(kind: 'sqlite' | 'postgres', t: TestContext): Promise<Db> {
  const stores: WorkflowStore[] = [];
  const track = (s: WorkflowStore) => { stores.push(s); return s; };
  const closeAll = () => Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'prov-wfstore-'));
    t.after(async () => { await closeAll(); rmSync(dir, { recursive: true, force: true }); });
    return { open: async () => track(new SqliteWorkflowStore(join(dir, 'state.db'))), sql: () => assert.fail('SQL is for PostgreSQL tests') };
  }
  const d = (await pgDatabase())!;
  let client: pg.Client | undefined;
  t.after(async () => { await closeAll(); await client?.end(); await d.drop(); });
  return {
    url: d.url,
    open: async () => track(await PostgresWorkflowStore.open(d.url, { poolSize: 4 })),
    sql: async <R extends pg.QueryResultRow>(q: string) => {
      if (!client) {
        client = new pg.Client({ connectionString: d.url });
        await client.connect();
      }
      return (await client.query<R>(q)).rows;
    },
  };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`${kind} workflow store`, { skip: kind === 'postgres' && !pgUp && 'PostgreSQL is not reachable at 127.0.0.1:5432' }, () => {
    const db = (t: TestContext) => freshDb(kind, t);

    it('keeps workflows with their operations, lists them with filters, sort, pagination and total', async (t) => {
      const s = await (await db(t)).open();
      assert.equal(s.kind, kind);
      await s.tx(async (x) => {
        await x.insertWorkflow(wf('wf_a', { created_at: at(1), labels: { env: 'prod', team: 'web' }, name: 'charlie' }),
          [op('wf_a', 'servers', 0), op('wf_a', 'db', 1, { type: 'taskserv_create', servers: ['db-01'] }), op('wf_a', 'app', 2, { servers: ['web-01', 'web-02'] })]);
        await x.insertWorkflow(wf('wf_b', { created_at: at(2), kind: 'taskserv', status: 'running', labels: { env: 'prod' }, name: 'alpha', priority: 90 }), [op('wf_b', 'one', 0)]);
        await x.insertWorkflow(wf('wf_c', { created_at: at(3), infra: 'edge', check_mode: true, execution: 'direct', submitted_by: 'local:bob', name: 'bravo' }), []);
        await x.insertWorkflow(wf('wf_d', { created_at: at(4), status: 'completed', workspace: 'other', infra: null, labels: { env: 'dev' }, name: 'Delta' }), []);
      });
      assert.deepEqual(await s.getWorkflow('wf_a'), wf('wf_a', { created_at: at(1), labels: { env: 'prod', team: 'web' }, name: 'charlie' }));
      assert.equal(await s.getWorkflow('wf_missing'), undefined);
      assert.deepEqual((await s.getOperations('wf_a')).map((o) => o.id), ['servers', 'db', 'app']);
      assert.deepEqual(await s.getOperations('wf_missing'), []);
      assert.deepEqual(await s.getTask('tsk_wf_a_db'), op('wf_a', 'db', 1, { type: 'taskserv_create', servers: ['db-01'] }));
      assert.equal(await s.getTask('tsk_missing'), undefined);

      const ids = async (f: Parameters<WorkflowStore['listWorkflows']>[0], page = { limit: 50, offset: 0 }) => {
        const r = await s.listWorkflows(f, page);
        return { ids: r.rows.map((w) => w.id), total: r.total };
      };
      assert.deepEqual(await ids({}), { ids: ['wf_d', 'wf_c', 'wf_b', 'wf_a'], total: 4 }, 'default order: created_at desc');
      assert.deepEqual(await ids({}, { limit: 2, offset: 1 }), { ids: ['wf_c', 'wf_b'], total: 4 });
      assert.deepEqual(await ids({}, { limit: 2, offset: 10 }), { ids: [], total: 4 });
      assert.deepEqual(await ids({ order: 'asc' }), { ids: ['wf_a', 'wf_b', 'wf_c', 'wf_d'], total: 4 });
      assert.deepEqual(await ids({ sort: 'name', order: 'asc' }), { ids: ['wf_d', 'wf_b', 'wf_c', 'wf_a'], total: 4 }, 'names sort bytewise (Delta < alpha)');
      assert.deepEqual(await ids({ sort: 'priority', order: 'desc' }), { ids: ['wf_b', 'wf_d', 'wf_c', 'wf_a'], total: 4 });
      assert.deepEqual(await ids({ sort: 'status', order: 'asc' }), { ids: ['wf_d', 'wf_a', 'wf_c', 'wf_b'], total: 4 });
      assert.deepEqual(await ids({ status: ['queued', 'running'] }, { limit: 1, offset: 0 }), { ids: ['wf_c'], total: 3 });
      assert.deepEqual(await ids({ kind: ['taskserv'] }), { ids: ['wf_b'], total: 1 });
      assert.deepEqual(await ids({ infra: ['edge', 'main'], workspace: ['acme'] }), { ids: ['wf_c', 'wf_b', 'wf_a'], total: 3 });
      assert.deepEqual(await ids({ submitted_by: ['local:bob'] }), { ids: ['wf_c'], total: 1 });
      assert.deepEqual(await ids({ check_mode: true }), { ids: ['wf_c'], total: 1 });
      assert.deepEqual(await ids({ check_mode: false }), { ids: ['wf_d', 'wf_b', 'wf_a'], total: 3 });
      assert.deepEqual(await ids({ execution: ['direct'] }), { ids: ['wf_c'], total: 1 });
      assert.deepEqual(await ids({ labels: { env: 'prod' } }), { ids: ['wf_b', 'wf_a'], total: 2 });
      assert.deepEqual(await ids({ labels: { env: 'prod', team: 'web' } }), { ids: ['wf_a'], total: 1 }, 'every label must match');
      assert.deepEqual(await ids({ labels: { env: 'staging' } }), { ids: [], total: 0 });
      assert.deepEqual(await ids({ from: at(2), to: at(3) }), { ids: ['wf_c', 'wf_b'], total: 2 }, 'from and to are inclusive');
      assert.deepEqual(await ids({ status: ['failed'] }), { ids: [], total: 0 });
    });

    it('lists tasks (operations) with filters and total', async (t) => {
      const s = await (await db(t)).open();
      await s.tx(async (x) => {
        await x.insertWorkflow(wf('wf_a', { created_at: at(1) }), [op('wf_a', 'servers', 0, { status: 'completed' }), op('wf_a', 'db', 1, { type: 'taskserv_create', servers: ['db-01'] })]);
        await x.insertWorkflow(wf('wf_b', { created_at: at(2), infra: 'edge' }), [op('wf_b', 'one', 0, { servers: ['web-01', 'web-02'] })]);
      });
      const ids = async (f: Parameters<WorkflowStore['listTasks']>[0], page = { limit: 50, offset: 0 }) => {
        const r = await s.listTasks(f, page);
        return { ids: r.rows.map((o) => o.task_id), total: r.total };
      };
      assert.deepEqual(await ids({}), { ids: ['tsk_wf_b_one', 'tsk_wf_a_servers', 'tsk_wf_a_db'], total: 3 });
      assert.deepEqual(await ids({}, { limit: 1, offset: 1 }), { ids: ['tsk_wf_a_servers'], total: 3 });
      assert.deepEqual(await ids({ status: ['pending'] }), { ids: ['tsk_wf_b_one', 'tsk_wf_a_db'], total: 2 });
      assert.deepEqual(await ids({ workflow_id: ['wf_a'], operation_id: ['db'] }), { ids: ['tsk_wf_a_db'], total: 1 });
      assert.deepEqual(await ids({ kind: ['taskserv.create'] }), { ids: ['tsk_wf_a_db'], total: 1 }, 'dotted task kinds match operation types');
      assert.deepEqual(await ids({ server: ['web-02', 'db-01'] }), { ids: ['tsk_wf_b_one', 'tsk_wf_a_db'], total: 2 });
      assert.deepEqual(await ids({ infra: ['edge'] }), { ids: ['tsk_wf_b_one'], total: 1 });
      assert.deepEqual(await ids({ from: at(2) }), { ids: ['tsk_wf_b_one'], total: 1 });
      assert.deepEqual(await ids({ to: at(1) }), { ids: ['tsk_wf_a_servers', 'tsk_wf_a_db'], total: 2 });
    });

    it('saves workflows and operations; a duplicate workflow id fails the transaction and changes nothing', async (t) => {
      const s = await (await db(t)).open();
      await s.tx((x) => x.insertWorkflow(wf('wf_a'), [op('wf_a', 'one', 0), op('wf_a', 'two', 1)]));
      await s.tx(async (x) => {
        const [w] = await x.lockWorkflows({ ids: ['wf_a'] });
        await x.saveWorkflows([{ ...w!, status: 'running', progress: 40, wake_at: null }]);
        const ops = await x.operations(['wf_a']);
        await x.saveOperations([{ ...ops[1]!, status: 'running', lease_owner: 'i1', lease_expires_at: 5000, output_tail: ['line'] }]);
      });
      assert.deepEqual(await s.getWorkflow('wf_a'), wf('wf_a', { status: 'running', progress: 40, wake_at: null }));
      assert.deepEqual((await s.getOperations('wf_a')).map((o) => [o.id, o.status, o.lease_owner, o.output_tail]), [['one', 'pending', null, []], ['two', 'running', 'i1', ['line']]]);
      // No claimable workflow after wake_at became null.
      assert.deepEqual(await s.tx((x) => x.lockWorkflows({ claimable: true, now: Date.now(), limit: 10 })), []);

      await assert.rejects(s.tx(async (x) => {
        await x.insertWorkflow(wf('wf_b'), [op('wf_b', 'one', 0)]);
        await x.insertWorkflow(wf('wf_a', { name: 'again' }), []);
      }));
      assert.equal(await s.getWorkflow('wf_b'), undefined);
      assert.equal((await s.getWorkflow('wf_a'))!.name, 'deploy wf_a');
      assert.deepEqual(await s.getOperations('wf_b'), []);
    });

    it('claims due active workflows by priority then age, honouring wake_at, only and limit', async (t) => {
      const s = await (await db(t)).open();
      const now = 1_000_000;
      await s.tx(async (x) => {
        await x.insertWorkflow(wf('wf_old_low', { created_at: at(1), priority: 10, wake_at: now - 5 }), []);
        await x.insertWorkflow(wf('wf_new_high', { created_at: at(3), priority: 90, wake_at: now }), []);
        await x.insertWorkflow(wf('wf_old_high', { created_at: at(2), priority: 90, wake_at: 0, status: 'running' }), []);
        await x.insertWorkflow(wf('wf_cancelling', { created_at: at(4), priority: 50, wake_at: 1, status: 'cancelling' }), []);
        await x.insertWorkflow(wf('wf_rolling', { created_at: at(5), priority: 50, wake_at: 1, status: 'rolling_back' }), []);
        await x.insertWorkflow(wf('wf_later', { created_at: at(0), priority: 100, wake_at: now + 1 }), []);
        await x.insertWorkflow(wf('wf_asleep', { created_at: at(0), priority: 100, wake_at: null, status: 'running' }), []);
        await x.insertWorkflow(wf('wf_done', { created_at: at(0), priority: 100, wake_at: 0, status: 'completed' }), []);
        // pending until its not_before time (wake_at): due now
        await x.insertWorkflow(wf('wf_pending', { created_at: at(0), priority: 100, wake_at: 0, status: 'pending' }), []);
        await x.insertWorkflow(wf('wf_pending_later', { created_at: at(0), priority: 100, wake_at: now + 1, status: 'pending' }), []);
      });
      const claim = (q: { limit: number; only?: string[] }) => s.tx(async (x) => (await x.lockWorkflows({ claimable: true, now, ...q })).map((w) => w.id));
      assert.deepEqual(await claim({ limit: 10 }), ['wf_pending', 'wf_old_high', 'wf_new_high', 'wf_cancelling', 'wf_rolling', 'wf_old_low']);
      assert.deepEqual(await claim({ limit: 2 }), ['wf_pending', 'wf_old_high']);
      assert.deepEqual(await claim({ limit: 10, only: ['wf_old_low', 'wf_later', 'wf_done'] }), ['wf_old_low']);
      assert.deepEqual(await claim({ limit: 1, only: ['wf_old_low', 'wf_rolling'] }), ['wf_rolling']);
      assert.deepEqual(await claim({ limit: 10, only: [] }), [], 'only: [] means none');
      // the lock-free check an idle round makes first agrees with the claim query
      assert.equal(await s.anyDue(now), true);
      assert.equal(await s.anyDue(now, ['wf_later', 'wf_done', 'wf_asleep', 'wf_pending_later']), false);
      assert.equal(await s.anyDue(now, ['wf_later', 'wf_rolling']), true);
      assert.equal(await s.anyDue(now, []), false);
      assert.deepEqual(await s.tx(async (x) => (await x.lockWorkflows({ ids: ['wf_done', 'wf_missing', 'wf_later'] })).map((w) => w.id)), ['wf_done', 'wf_later'],
        'ids: in the order asked, whatever their status; unknown ids are left out');
    });

    it('rolls back everything when the function throws, and rethrows its error', async (t) => {
      const s = await (await db(t)).open();
      await s.tx((x) => x.insertWorkflow(wf('wf_keep'), [op('wf_keep', 'one', 0)]));
      const boom = new Error('boom');
      await assert.rejects(s.tx(async (x) => {
        await x.insertWorkflow(wf('wf_a'), [op('wf_a', 'one', 0)]);
        await x.saveWorkflows([wf('wf_keep', { status: 'failed' })]);
        await x.appendEvents([{ event_type: 'workflow.started', category: 'workflow', workflow_id: 'wf_a', data: {} }]);
        await x.appendLogs([{ level: 'info', component: 'engine', message: 'hello', workflow_id: 'wf_a' }]);
        await x.insertCheckpoints([ckpt('wf_a', 1)]);
        await x.saveRollback(rollback('rb_1', 'wf_a'));
        await x.putIdempotency({ key: 'k1', body_sha256: 'x', status: null, response: null, created_at: at(0) });
        throw boom;
      }), (e) => e === boom);
      assert.equal(await s.getWorkflow('wf_a'), undefined);
      assert.equal((await s.getWorkflow('wf_keep'))!.status, 'queued');
      assert.equal(await s.getTask('tsk_wf_a_one'), undefined);
      assert.deepEqual(await s.eventBounds(), { oldest: 0, latest: 0 });
      assert.deepEqual(await s.events(0, 100), []);
      assert.deepEqual(await s.logs({ limit: 100 }), []);
      assert.equal((await s.checkpoints({}, { limit: 10, offset: 0 })).total, 0);
      assert.equal(await s.getRollback('rb_1'), undefined);
      assert.equal(await s.tx((x) => x.getIdempotency('k1')), undefined);
      // The store still works after a failed transaction.
      assert.deepEqual(await s.tx(async (x) => (await x.lockWorkflows({ ids: ['wf_keep'] })).map((w) => w.id)), ['wf_keep']);
    });

    it('appends events with increasing seq and reads them by cursor, limit and workflow', async (t) => {
      const s = await (await db(t)).open();
      const before = Date.now();
      const first = await s.tx((x) => x.appendEvents([
        { event_type: 'workflow.submitted', category: 'workflow', workflow_id: 'wf_a', data: { n: 1 } },
        { event_type: 'system.started', category: 'system', data: { n: 2 }, metadata: { host: 'h' } },
      ]));
      const second = await s.tx(async (x) => [
        ...await x.appendEvents([{ event_type: 'task.started', category: 'task', workflow_id: 'wf_b', task_id: 'tsk_1', data: { n: 3 } }]),
        ...await x.appendEvents([{ event_type: 'workflow.completed', category: 'workflow', workflow_id: 'wf_a', data: { n: 4 } }]),
      ]);
      const all = [...first, ...second];
      assert.deepEqual(all.map((e) => e.data.n), [1, 2, 3, 4]);
      for (const [i, e] of all.entries()) {
        assert.match(e.id, /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
        assert.equal(e.type, 'event');
        assert.equal(e.source, 'orchestrator');
        assert.match(e.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(Date.parse(e.timestamp) >= before - 1000);
        if (i > 0) assert.ok(e.seq > all[i - 1]!.seq, `seq increases: ${all.map((x) => x.seq).join(',')}`);
      }
      assert.deepEqual(all[1]!.metadata, { host: 'h' });
      assert.deepEqual(all[0]!.metadata, {});
      assert.equal('task_id' in all[0]!, false);
      assert.equal('workflow_id' in all[1]!, false);
      assert.equal(all[2]!.task_id, 'tsk_1');

      assert.deepEqual(await s.events(0, 100), all, 'stored events read back as returned');
      assert.deepEqual(await s.events(all[1]!.seq, 100), all.slice(2));
      assert.deepEqual(await s.events(0, 2), all.slice(0, 2));
      assert.deepEqual((await s.events(0, 100, ['wf_a'])).map((e) => e.data.n), [1, 4]);
      assert.deepEqual((await s.events(all[0]!.seq, 100, ['wf_a', 'wf_b'])).map((e) => e.data.n), [3, 4]);
      assert.deepEqual(await s.events(0, 100, []), []);
      assert.deepEqual(await s.events(all[3]!.seq, 100), []);
      assert.deepEqual(await s.eventBounds(), { oldest: all[0]!.seq, latest: all[3]!.seq });
      assert.deepEqual(await s.tx((x) => x.appendEvents([])), []);
    });

    it('tells listeners after commit, in this instance and in another one on the same database', async (t) => {
      const d = await db(t);
      const s1 = await d.open();
      const s2 = await d.open();
      const here = listen(s1);
      const there = listen(s2);
      t.after(() => { here.off(); there.off(); });
      const evs = await s1.tx((x) => x.appendEvents([{ event_type: 'workflow.submitted', category: 'workflow', workflow_id: 'wf_a', data: {} }]));
      const target = evs[0]!.seq;
      // In this instance the call comes right after COMMIT, before tx() resolves.
      assert.ok(here.calls.some((c) => c >= target), `called in-process with ${JSON.stringify(here.calls)}`);
      assert.equal(await there.reached(target), target);
      // Every call carries a seq that is committed and readable.
      assert.ok([...here.calls, ...there.calls].every((c) => c <= target));
      assert.deepEqual((await s2.events(0, 10)).map((e) => e.seq), [target]);
    });

    it('finds expired and orphaned leases and renews an owner\'s leases, reporting cancelling workflows', async (t) => {
      const s = await (await db(t)).open();
      await s.tx(async (x) => {
        await x.insertWorkflow(wf('wf_a', { status: 'running' }), [
          op('wf_a', 'live', 0, { status: 'running', lease_owner: 'i1', lease_expires_at: 2000 }),
          op('wf_a', 'done', 1, { status: 'completed', lease_owner: 'i1', lease_expires_at: 10 }),
        ]);
        await x.insertWorkflow(wf('wf_b', { status: 'cancelling' }), [op('wf_b', 'one', 0, { status: 'running', lease_owner: 'i1', lease_expires_at: 500 })]);
        await x.insertWorkflow(wf('wf_c', { status: 'rolling_back' }), [op('wf_c', 'one', 0, { status: 'rolling_back', lease_owner: 'i2', lease_expires_at: 3000 })]);
        await x.insertWorkflow(wf('wf_d', { status: 'cancelling' }), [op('wf_d', 'one', 0, { status: 'running', lease_owner: 'i2', lease_expires_at: 3000 })]);
      });
      const expired = (now: number, dead: string[] = []) => s.tx(async (x) => (await x.expiredLeases(now, dead)).sort());
      assert.deepEqual(await expired(100), []);
      assert.deepEqual(await expired(1000), ['wf_b']);
      assert.deepEqual(await expired(2500), ['wf_a', 'wf_b']);
      assert.deepEqual(await expired(100, ['i2']), ['wf_c', 'wf_d'], 'a dead owner\'s leases, expired or not');
      assert.deepEqual(await expired(100, ['i9']), []);

      assert.deepEqual(await s.tx((x) => x.renewLeases('i1', 9000)), { cancelling: ['wf_b'] });
      assert.deepEqual(await expired(5000), ['wf_c', 'wf_d']);
      const leases = async (id: string) => (await s.getOperations(id)).map((o) => [o.id, o.lease_expires_at]);
      assert.deepEqual(await leases('wf_a'), [['live', 9000], ['done', 10]], 'the renewed lease is what a reader of the operation sees; finished ones are left alone');
      assert.deepEqual(await leases('wf_b'), [['one', 9000]]);
      assert.deepEqual(await leases('wf_c'), [['one', 3000]], 'another owner\'s leases are left alone');
      assert.deepEqual(await s.tx((x) => x.renewLeases('i9', 9000)), { cancelling: [] });
    });

    it('keeps checkpoints and rollbacks, listed with filters', async (t) => {
      const s = await (await db(t)).open();
      await s.tx(async (x) => {
        await x.insertWorkflow(wf('wf_a'), []);
        await x.insertCheckpoints([ckpt('wf_a', 1), ckpt('wf_a', 2, { trigger: 'interval' }), ckpt('wf_a', 3, { trigger: 'manual', name: 'before db', created_by: 'local:alice' })]);
        await x.insertCheckpoints([ckpt('wf_b', 1, { created_at: at(10) })]);
        await x.saveRollback(rollback('rb_1', 'wf_a', { started_at: at(20) }));
        await x.saveRollback(rollback('rb_2', 'wf_b', { mode: 'partial', operation_ids: ['db'], started_at: at(30) }));
      });
      const page = { limit: 50, offset: 0 };
      const ck = async (f: Parameters<WorkflowStore['checkpoints']>[0], p = page) => {
        const r = await s.checkpoints(f, p);
        return { ids: r.rows.map((c) => c.id), total: r.total };
      };
      assert.deepEqual(await ck({}), { ids: ['ckpt_wf_a_1', 'ckpt_wf_a_2', 'ckpt_wf_a_3', 'ckpt_wf_b_1'], total: 4 });
      assert.deepEqual(await ck({ workflow_id: 'wf_a' }, { limit: 1, offset: 1 }), { ids: ['ckpt_wf_a_2'], total: 3 });
      assert.deepEqual(await ck({ trigger: ['manual', 'interval'] }), { ids: ['ckpt_wf_a_2', 'ckpt_wf_a_3'], total: 2 });
      assert.deepEqual(await ck({ from: at(2), to: at(3) }), { ids: ['ckpt_wf_a_2', 'ckpt_wf_a_3'], total: 2 });
      assert.deepEqual(await s.getCheckpoint('ckpt_wf_a_3'), ckpt('wf_a', 3, { trigger: 'manual', name: 'before db', created_by: 'local:alice' }));
      assert.equal(await s.getCheckpoint('ckpt_missing'), undefined);

      const done = rollback('rb_1', 'wf_a', { started_at: at(20), status: 'completed', completed_at: at(40), duration_ms: 20_000, actions: { total: 2, executed: 2, failed: 0, skipped: 0 } });
      await s.tx((x) => x.saveRollback(done));
      assert.deepEqual(await s.getRollback('rb_1'), done);
      assert.equal(await s.getRollback('rb_missing'), undefined);
      const rb = async (f: Parameters<WorkflowStore['rollbacks']>[0]) => {
        const r = await s.rollbacks(f, page);
        return { ids: r.rows.map((x) => x.id), total: r.total };
      };
      assert.deepEqual(await rb({}), { ids: ['rb_2', 'rb_1'], total: 2 }, 'newest first');
      assert.deepEqual(await rb({ workflow_id: 'wf_a' }), { ids: ['rb_1'], total: 1 });
      assert.deepEqual(await rb({ status: ['completed'] }), { ids: ['rb_1'], total: 1 });
      assert.deepEqual(await rb({ mode: ['partial'] }), { ids: ['rb_2'], total: 1 });
      assert.deepEqual(await rb({ status: ['failed'] }), { ids: [], total: 0 });
    });

    it('keeps logs: minimum level, after_seq cursor, limit and filters', async (t) => {
      const s = await (await db(t)).open();
      await s.tx((x) => x.appendLogs([
        { level: 'debug', component: 'engine', message: 'm1', workflow_id: 'wf_a' },
        { level: 'info', component: 'executor', message: 'm2', workflow_id: 'wf_a', operation_id: 'db', task_id: 'tsk_1', server: 'db-01', stream: 'stdout' },
        { level: 'warn', component: 'ssh', message: 'm3', workflow_id: 'wf_b', server: 'web-01', details: { attempt: 2 } },
      ]));
      await s.tx((x) => x.appendLogs([{ level: 'error', component: 'engine', message: 'm4', workflow_id: 'wf_a', task_id: 'tsk_1' }]));
      await s.tx((x) => x.appendLogs([]));
      const all = await s.logs({ limit: 100 });
      assert.deepEqual(all.map((l) => l.message), ['m1', 'm2', 'm3', 'm4']);
      for (const [i, l] of all.entries()) {
        assert.match(l.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        if (i > 0) assert.ok(l.seq > all[i - 1]!.seq);
      }
      const { seq: _s, timestamp: _t, ...m2 } = all[1]!;
      assert.deepEqual(m2, { level: 'info', component: 'executor', message: 'm2', workflow_id: 'wf_a', operation_id: 'db', task_id: 'tsk_1', server: 'db-01', stream: 'stdout' });
      assert.deepEqual(all[2]!.details, { attempt: 2 });
      const msgs = async (f: Omit<Parameters<WorkflowStore['logs']>[0], 'limit'>, limit = 100) => (await s.logs({ ...f, limit })).map((l) => l.message);
      assert.deepEqual(await msgs({ level: 'info' }), ['m2', 'm3', 'm4']);
      assert.deepEqual(await msgs({ level: 'warn' }), ['m3', 'm4']);
      assert.deepEqual(await msgs({ level: 'error' }), ['m4']);
      assert.deepEqual(await msgs({ after_seq: all[1]!.seq }), ['m3', 'm4']);
      assert.deepEqual(await msgs({ after_seq: all[0]!.seq }, 2), ['m2', 'm3']);
      assert.deepEqual(await msgs({ workflow_id: 'wf_a' }), ['m1', 'm2', 'm4']);
      assert.deepEqual(await msgs({ task_id: 'tsk_1', level: 'info' }), ['m2', 'm4']);
      assert.deepEqual(await msgs({ operation_id: 'db' }), ['m2']);
      assert.deepEqual(await msgs({ server: 'web-01' }), ['m3']);
      assert.deepEqual(await msgs({ workflow_id: 'wf_missing' }), []);
    });

    it('stores output with a NUL character without failing the transaction', async (t) => {
      const s = await (await db(t)).open();
      await s.tx(async (x) => {
        await x.insertWorkflow(wf('wf_a'), [op('wf_a', 'one', 0, { output_tail: ['bin\0ary'] })]);
        await x.appendLogs([{ level: 'info', component: 'executor', message: 'a\0b', workflow_id: 'wf_a' }]);
      });
      // PostgreSQL's jsonb cannot hold U+0000: it becomes U+FFFD there.
      assert.match((await s.logs({ limit: 10 }))[0]!.message, /^a[\0\uFFFD]b$/);
      assert.match((await s.getOperations('wf_a'))[0]!.output_tail[0]!, /^bin[\0\uFFFD]ary$/);
    });

    it('registers, lists and removes engine instances', async (t) => {
      const s = await (await db(t)).open();
      const w = (id: string, running: number) => ({ instance_id: id, host: 'h1', pid: 42, version: '0.1.0', started_at: at(0), last_heartbeat_at: at(running), capacity: 10, running_tasks: running });
      await s.upsertWorker(w('i2', 0));
      await s.upsertWorker(w('i1', 0));
      await s.upsertWorker(w('i2', 3));
      assert.deepEqual(await s.workers(), [w('i1', 0), w('i2', 3)]);
      await s.removeWorker('i1');
      await s.removeWorker('i_missing');
      assert.deepEqual(await s.workers(), [w('i2', 3)]);
    });

    it('keeps idempotency records; prune drops old events, logs and records only', async (t) => {
      const s = await (await db(t)).open();
      const rec = (key: string, created_at: string, status: number | null = null) => ({ key, body_sha256: 'ab'.repeat(32), status, response: status ? { data: { id: 'wf_a' } } : null, created_at });
      const now = new Date().toISOString();
      await s.tx(async (x) => {
        await x.putIdempotency(rec('old', at(0)));
        await x.putIdempotency(rec('new', now));
        await x.putIdempotency(rec('new', now, 202));
        await x.insertWorkflow(wf('wf_a'), []);
        await x.appendEvents([{ event_type: 'workflow.submitted', category: 'workflow', workflow_id: 'wf_a', data: {} }]);
        await x.appendLogs([{ level: 'info', component: 'engine', message: 'hi', workflow_id: 'wf_a' }]);
      });
      assert.deepEqual(await s.tx((x) => x.getIdempotency('new')), rec('new', now, 202));
      assert.equal(await s.tx((x) => x.getIdempotency('missing')), undefined);

      await s.prune(at(1));
      assert.equal(await s.tx((x) => x.getIdempotency('old')), undefined);
      assert.ok(await s.tx((x) => x.getIdempotency('new')));
      assert.equal((await s.events(0, 10)).length, 1);
      assert.equal((await s.logs({ limit: 10 })).length, 1);

      await s.prune(new Date(Date.now() + 60_000).toISOString());
      assert.equal(await s.tx((x) => x.getIdempotency('new')), undefined);
      assert.deepEqual(await s.events(0, 10), []);
      assert.deepEqual(await s.logs({ limit: 10 }), []);
      assert.ok(await s.getWorkflow('wf_a'), 'prune leaves workflows alone');
    });

    it('deletes workflows with their operations, events, logs, checkpoints and rollbacks', async (t) => {
      const s = await (await db(t)).open();
      for (const id of ['wf_a', 'wf_b']) {
        await s.tx(async (x) => {
          await x.insertWorkflow(wf(id, { status: 'completed' }), [op(id, 'one', 0)]);
          await x.appendEvents([{ event_type: 'workflow.completed', category: 'workflow', workflow_id: id, data: {} }]);
          await x.appendLogs([{ level: 'info', component: 'engine', message: id, workflow_id: id }]);
          await x.insertCheckpoints([ckpt(id, 1)]);
          await x.saveRollback(rollback(`rb_${id}`, id));
        });
      }
      assert.equal(await s.deleteWorkflows([]), 0);
      assert.equal(await s.deleteWorkflows(['wf_a', 'wf_missing']), 1);
      assert.equal(await s.getWorkflow('wf_a'), undefined);
      assert.deepEqual(await s.getOperations('wf_a'), []);
      assert.equal(await s.getTask('tsk_wf_a_one'), undefined);
      assert.deepEqual((await s.events(0, 10)).map((e) => e.workflow_id), ['wf_b']);
      assert.deepEqual((await s.logs({ limit: 10 })).map((l) => l.message), ['wf_b']);
      assert.deepEqual((await s.checkpoints({}, { limit: 10, offset: 0 })).rows.map((c) => c.workflow_id), ['wf_b']);
      assert.deepEqual((await s.rollbacks({}, { limit: 10, offset: 0 })).rows.map((r) => r.workflow_id), ['wf_b']);
      assert.equal((await s.getOperations('wf_b')).length, 1);
      // The freed task id can be used again.
      await s.tx((x) => x.insertWorkflow(wf('wf_a'), [op('wf_a', 'one', 0)]));
      assert.equal((await s.getTask('tsk_wf_a_one'))!.workflow_id, 'wf_a');
    });

    it('reports its location and size', async (t) => {
      const d = await db(t);
      const s = await d.open();
      assert.ok(await s.sizeBytes() > 0);
      if (kind === 'postgres') assert.equal(s.location, d.url);
      else assert.match(s.location, /state\.db$/);
    });

    if (kind === 'postgres') postgresOnly(db);
  });
}

function postgresOnly(db: (t: TestContext) => Promise<Db>): void {
  /** How many sessions on this database wait for a lock (a row lock, or the advisory lock). */
  const waiters = async (d: Db) => (await d.sql<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))[0]!.n;

  it('two instances claim disjoint workflows (SKIP LOCKED); locking by id waits for the holder', async (t) => {
    const d = await db(t);
    const s1 = await d.open();
    const s2 = await d.open();
    await s1.tx(async (x) => {
      for (const [i, id] of ['wf_1', 'wf_2', 'wf_3'].entries()) await x.insertWorkflow(wf(id, { created_at: at(i), wake_at: 0 }), []);
    });
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let claimed1!: () => void;
    const claimedBy1 = new Promise<void>((r) => { claimed1 = r; });
    const first = s1.tx(async (x) => {
      const ws = await x.lockWorkflows({ claimable: true, now: 1, limit: 1 });
      claimed1();
      await held;
      await x.saveWorkflows(ws.map((w) => ({ ...w, status: 'running' as Status, priority: 7 })));
      return ws.map((w) => w.id);
    });
    await claimedBy1;
    const second = await s2.tx(async (x) => (await x.lockWorkflows({ claimable: true, now: 1, limit: 10 })).map((w) => w.id));
    assert.deepEqual(second, ['wf_2', 'wf_3'], 'the workflow the first instance holds is skipped, not waited for');

    const byId = s2.tx(async (x) => (await x.lockWorkflows({ ids: ['wf_1'] }))[0]!);
    await until('the second instance to wait for the row lock', () => waiters(d), (n) => n > 0);
    release();
    assert.deepEqual(await first, ['wf_1']);
    const seen = await byId;
    assert.equal(seen.status, 'running', 'locking by id waits for the holder, then sees what it committed');
    assert.equal(seen.priority, 7);
  });

  it('orders event seq by commit: an appender waits for an earlier uncommitted one', async (t) => {
    const d = await db(t);
    const s1 = await d.open();
    const s2 = await d.open();
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let appended!: () => void;
    const appendedBy1 = new Promise<void>((r) => { appended = r; });
    const first = s1.tx(async (x) => {
      const e = await x.appendEvents([{ event_type: 'a', category: 'system', data: {} }]);
      appended();
      await held;
      return e[0]!.seq;
    });
    await appendedBy1;
    const second = s2.tx(async (x) => (await x.appendEvents([{ event_type: 'b', category: 'system', data: {} }]))[0]!.seq);
    await until('the second appender to wait', () => waiters(d), (n) => n > 0);
    // A reader now sees nothing: neither event is committed, and none was skipped past.
    assert.deepEqual(await s1.events(0, 10), []);
    release();
    const [a, b] = [await first, await second];
    assert.ok(b > a, `the later commit has the larger seq (${a}, ${b})`);
    assert.deepEqual((await s2.events(0, 10)).map((e) => e.event_type), ['a', 'b']);
  });

  it('listens again after its LISTEN connection is killed, and stops listening when nobody listens', async (t) => {
    const d = await db(t);
    const s1 = await d.open();
    const s2 = await d.open();
    const listenerPids = async () => (await d.sql<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = '${LISTENER_NAME}'`)).map((r) => r.pid);
    const l = listen(s2);
    const [pid] = await until('the LISTEN connection', listenerPids, (p) => p.length === 1);
    await d.sql(`SELECT pg_terminate_backend(${pid})`);
    // Committed while the listener is down or after it is back: heard either way (NOTIFY, or the catch-up after reconnecting).
    const [e] = await s1.tx((x) => x.appendEvents([{ event_type: 'a', category: 'system', data: {} }]));
    assert.equal(await l.reached(e!.seq), e!.seq);
    await until('a new LISTEN connection', listenerPids, (p) => p.length === 1 && p[0] !== pid);
    const [e2] = await s1.tx((x) => x.appendEvents([{ event_type: 'b', category: 'system', data: {} }]));
    assert.equal(await l.reached(e2!.seq), e2!.seq);
    l.off();
    await until('the LISTEN connection to close', listenerPids, (p) => p.length === 0);
  });

  it('migrates once when several instances open a new database together', async (t) => {
    const d = await db(t);
    const stores = await Promise.all([d.open(), d.open(), d.open(), d.open()]);
    assert.equal(stores.length, 4);
    assert.deepEqual(await d.sql('SELECT version, name FROM schema_migrations ORDER BY version'), [{ version: 1, name: 'workflows' }]);
  });

  it('refuses a database whose schema is newer than it knows, and changes nothing', async (t) => {
    const d = await db(t);
    await (await d.open()).close();
    await d.sql(`INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')`);
    await assert.rejects(PostgresWorkflowStore.open(d.url!), (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, 'UNAVAILABLE');
      assert.ok(e.message.includes(`${d.url} has schema version 99, newer than this provisioning knows (1)`), e.message);
      assert.match(e.hint!, /upgrade provisioning/);
      return true;
    });
    assert.deepEqual(await d.sql('SELECT version FROM schema_migrations ORDER BY version'), [{ version: 1 }, { version: 99 }]);
  });

  it('rejects a bad URL and reports an unreachable server without its password', async () => {
    await assert.rejects(PostgresWorkflowStore.open('not a url'), (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /not a valid PostgreSQL URL/.test(e.message));
    await assert.rejects(PostgresWorkflowStore.open('mysql://db/x'), (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /must be a postgres:\/\/ URL, not mysql:/.test(e.message));
    // Port 1 on localhost: nothing listens there.
    await assert.rejects(PostgresWorkflowStore.open('postgres://prov:s3cret@127.0.0.1:1/prov'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'UNAVAILABLE');
      assert.match(e.message, /cannot connect to PostgreSQL at postgres:\/\/prov:\*\*\*@127\.0\.0\.1:1\/prov/);
      assert.doesNotMatch(e.message, /s3cret/);
      return true;
    });
  });

  it('shows its URL without the password', async (t) => {
    const d = await db(t);
    const s = await PostgresWorkflowStore.open(d.url!.replace('postgres@', 'postgres:hunter2@'));
    t.after(() => s.close());
    assert.equal(s.location, d.url!.replace('postgres@', 'postgres:***@'));
  });
}
