import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileExists, startHarness, script, until, type Harness, type Reply } from './harness.js';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h?.close(); });

const final = (id: string) => until(async () => {
  const r = await h.api('GET', `/api/v1/workflows/${id}`);
  return ['completed', 'failed', 'cancelled', 'rolled_back', 'rollback_failed'].includes(r.body.data?.status) ? r.body.data : undefined;
}, `workflow ${id} to end`);

const submitWait = async (body: Record<string, unknown>, path = '/api/v1/workflows') => {
  const r = await h.api('POST', path, { wait: true, wait_timeout_s: 60, ...body });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data;
};

/** The error envelope, its status and code; and that nothing new was recorded. */
async function refused(call: () => Promise<Reply>, status: number, code: string): Promise<Reply['body']['error']> {
  const before = await h.workflows();
  const r = await call();
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.success, false);
  assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  assert.match(r.body.error.request_id, /\S{8,}/);
  assert.equal(r.headers.get('x-request-id'), r.body.error.request_id);
  assert.equal(await h.workflows(), before, 'nothing may be recorded');
  return r.body.error;
}

describe('orchestrator HTTP API', () => {
  it('submits a workflow and waits for it: 200 with the final workflow, its tasks and logs', async () => {
    const wf = await submitWait({ name: 'hello', labels: { team: 'a' }, operations: [script('greet', 'echo hello-from-task'), script('after', 'true', { depends_on: ['greet'] })] });
    assert.equal(wf.status, 'completed', JSON.stringify(wf.error));
    assert.equal(wf.kind, 'custom');
    assert.equal(wf.submitted_by.startsWith('local:'), true);
    assert.deepEqual(wf.operations_summary, { total: 2, completed: 2 });
    assert.deepEqual(wf.operations.map((o: { id: string; depends_on: string[] }) => [o.id, o.depends_on]), [['greet', []], ['after', ['greet']]]);
    for (const k of ['wake_at', 'completions', 'checkpoints', 'rollback_id', 'deadline', 'workdir', 'fail_fast']) assert.equal(k in wf, false, `${k} is internal`);

    const prog = await h.api('GET', `/api/v1/workflows/${wf.id}/progress`);
    assert.equal(prog.body.data.progress, 100);
    assert.deepEqual(prog.body.data.steps, { total: 2, completed: 2, failed: 0, running: 0, skipped: 0 });

    const tasks = await h.api('GET', `/api/v1/tasks?workflow_id=${wf.id}`);
    assert.equal(tasks.body.meta.total, 2);
    const greet = tasks.body.data.find((t: { operation_id: string }) => t.operation_id === 'greet');
    assert.equal(greet.kind, 'script');
    assert.deepEqual(greet.output_tail, ['hello-from-task']);
    const one = await h.api('GET', `/api/v1/tasks/${greet.id}`);
    assert.equal(one.body.data.id, greet.id);
    const logs = await h.api('GET', `/api/v1/tasks/${greet.id}/logs`);
    assert.ok(logs.body.data.some((l: { message: string }) => l.message === 'hello-from-task'), JSON.stringify(logs.body));
    const wlogs = await h.api('GET', `/api/v1/workflows/${wf.id}/logs?level=warn`);
    assert.deepEqual(wlogs.body.data, []);
    const labelled = await h.api('GET', '/api/v1/workflows?label=team=a&status=COMPLETED');
    assert.deepEqual(labelled.body.data.map((w: { id: string }) => w.id), [wf.id]);
    assert.equal('operations' in labelled.body.data[0], false, 'lists leave operations out unless expanded');
  });

  it('echoes a good X-Request-Id and replaces a bad one', async () => {
    const good = await h.api('GET', '/api/v1/version', undefined, { 'x-request-id': 'client-req-123' });
    assert.equal(good.headers.get('x-request-id'), 'client-req-123');
    assert.equal(good.body.data.api, 'v1');
    assert.equal(good.body.data.store, 'sqlite');
    const bad = await h.api('GET', '/api/v1/version', undefined, { 'x-request-id': 'no' });
    assert.match(bad.headers.get('x-request-id')!, /^req_/);
  });

  describe('bad input is refused with its status and code, and nothing is queued', () => {
    const ok = { name: 'fine', operations: [script('a', 'true')] };
    it('malformed JSON → 400 BAD_REQUEST', async () => {
      await refused(() => h.api('POST', '/api/v1/workflows', '{"name": "x",', { 'content-type': 'application/json' }), 400, 'BAD_REQUEST');
    });
    it('an unknown field → 400 VALIDATION_FAILED with did_you_mean', async () => {
      const e = await refused(() => h.api('POST', '/api/v1/workflows', { ...ok, chek_mode: true }), 400, 'VALIDATION_FAILED');
      assert.deepEqual(e.details.issues.map((i: { path: string; did_you_mean?: string }) => [i.path, i.did_you_mean]), [['chek_mode', 'check_mode']]);
      const e2 = await refused(() => h.api('POST', '/api/v1/workflows/servers', { action: 'create', infra: 'local', sever: ['web-01'] }), 400, 'VALIDATION_FAILED');
      assert.equal(e2.details.issues[0].did_you_mean, 'servers');
      const e3 = await refused(() => h.api('POST', '/api/v1/workflows/servers', { action: 'destroy', infra: 'local' }), 400, 'VALIDATION_FAILED');
      assert.equal(e3.details.issues[0].path, 'action');
    });
    it('a body over 1 MiB → 413 PAYLOAD_TOO_LARGE with max_bytes', async () => {
      const e = await refused(() => h.api('POST', '/api/v1/workflows', { ...ok, description: 'x'.repeat(1024 * 1024 + 10) }), 413, 'PAYLOAD_TOO_LARGE');
      assert.equal(e.details.max_bytes, 1024 * 1024);
    });
    it('a body that is not JSON → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      await refused(() => h.api('POST', '/api/v1/workflows', 'name=x', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    });
    it('unknown ids → 404 NOT_FOUND; unknown routes 404; wrong methods 405', async () => {
      for (const p of ['/api/v1/workflows/wf_nope', '/api/v1/batches/wf_nope', '/api/v1/tasks/tsk_nope', '/api/v1/checkpoints/ckpt_nope', '/api/v1/rollbacks/rb_nope', '/api/v1/ssh/keys', '/api/v1/nothing']) {
        await refused(() => h.api('GET', p), 404, 'NOT_FOUND');
      }
      await refused(() => h.api('POST', '/api/v1/workflows/wf_nope/cancel', {}), 404, 'NOT_FOUND');
      const e = await refused(() => h.api('DELETE', '/api/v1/workflows'), 405, 'METHOD_NOT_ALLOWED');
      assert.ok(e.details.allowed.includes('POST') && e.details.allowed.includes('GET'));
    });
    it('a dependency cycle → 422 DEPENDENCY_CYCLE', async () => {
      const e = await refused(() => h.api('POST', '/api/v1/workflows', { name: 'cyc', operations: [script('a', 'true', { depends_on: ['b'] }), script('b', 'true', { depends_on: ['a'] })] }), 422, 'DEPENDENCY_CYCLE');
      assert.deepEqual([...e.details.cycle].sort(), ['a', 'b']);
    });
    it('a dangling dependency and duplicate operation ids → 422 DEFINITION_INVALID', async () => {
      const e = await refused(() => h.api('POST', '/api/v1/workflows', { name: 'dangle', operations: [script('a', 'true', { depends_on: ['ghost'] })] }), 422, 'DEFINITION_INVALID');
      assert.equal(e.details.issues[0].code, 'DEF_REFERENCE');
      const d = await refused(() => h.api('POST', '/api/v1/batches', { name: 'dup', operations: [script('a', 'true'), script('a', 'true')] }), 422, 'DEFINITION_INVALID');
      assert.ok(d.details.issues.some((i: { code: string }) => i.code === 'DEF_DUPLICATE'), JSON.stringify(d));
    });
    it('an unknown infra or server → 422 UNKNOWN_REFERENCE', async () => {
      const e = await refused(() => h.api('POST', '/api/v1/workflows/servers', { action: 'create', infra: 'locl' }), 422, 'UNKNOWN_REFERENCE');
      assert.equal(e.details.did_you_mean, 'local');
      await refused(() => h.api('POST', '/api/v1/workflows/servers', { action: 'create', infra: 'local', servers: ['web-99'] }), 422, 'UNKNOWN_REFERENCE');
    });
    it('limit over 1000 and bad filters → 400', async () => {
      const e = await refused(() => h.api('GET', '/api/v1/workflows?limit=1001'), 400, 'VALIDATION_FAILED');
      assert.equal(e.details.issues[0].path, 'limit');
      await refused(() => h.api('GET', '/api/v1/workflows?status=runing'), 400, 'VALIDATION_FAILED');
      await refused(() => h.api('GET', '/api/v1/workflows?from=yesterday'), 400, 'VALIDATION_FAILED');
      const t = await refused(() => h.api('GET', '/api/v1/workflows?stauts=running'), 400, 'VALIDATION_FAILED');
      assert.equal(t.details.issues[0].did_you_mean, 'status');
    });
  });

  it('Idempotency-Key: the same body replays the first answer, another body is 422', async () => {
    const body = { name: 'idem', check_mode: true, operations: [script('a', 'true')] };
    const key = { 'idempotency-key': `k-${Date.now()}` };
    const first = await h.api('POST', '/api/v1/workflows', body, key);
    assert.equal(first.status, 202);
    const n = await h.workflows();
    const again = await h.api('POST', '/api/v1/workflows', body, key);
    assert.equal(again.status, 202);
    assert.equal(again.headers.get('idempotency-replayed'), 'true');
    assert.equal(again.body.data.id, first.body.data.id);
    assert.equal(again.headers.get('location'), `/api/v1/workflows/${first.body.data.id}`);
    assert.equal(await h.workflows(), n);
    const e = await refused(() => h.api('POST', '/api/v1/workflows', { ...body, name: 'other' }, key), 422, 'IDEMPOTENCY_KEY_MISMATCH');
    assert.equal(e.details.idempotency_key, key['idempotency-key']);
  });

  it('Idempotency-Key: a second arrival while the first is handled is 409 IDEMPOTENCY_IN_PROGRESS', async () => {
    const started = join(h.home, 'idem.started');
    const go = join(h.home, 'idem.go');
    const body = { name: 'idem-wait', wait: true, operations: [script('a', `touch ${started}; while [ ! -f ${go} ]; do sleep 0.05; done`)] };
    const key = { 'idempotency-key': `busy-${Date.now()}` };
    const first = h.api('POST', '/api/v1/workflows', body, key);
    await until(() => fileExists(started), 'the first request to run its workflow');
    const n = await h.workflows();
    const e = await h.api('POST', '/api/v1/workflows', body, key);
    assert.equal(e.status, 409);
    assert.equal(e.body.error.code, 'IDEMPOTENCY_IN_PROGRESS');
    writeFileSync(go, '');
    const r = await first;
    assert.equal(r.status, 200);
    const replay = await h.api('POST', '/api/v1/workflows', body, key);
    assert.equal(replay.status, 200);
    assert.equal(replay.body.data.id, r.body.data.id);
    assert.equal(await h.workflows(), n);
  });

  it('pages lists with meta, X-Total-Count and Link', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await h.api('POST', '/api/v1/workflows', { name: `page-${i}`, check_mode: true, labels: { set: 'paging' }, operations: [script('a', 'true')] })).status, 202);
    const p1 = await h.api('GET', '/api/v1/workflows?label=set=paging&limit=2');
    assert.equal(p1.headers.get('x-total-count'), '3');
    assert.deepEqual(p1.body.meta, { total: 3, limit: 2, offset: 0 });
    assert.equal(p1.body.data.length, 2);
    assert.match(p1.headers.get('link')!, /<\/api\/v1\/workflows\?label=set%3Dpaging&limit=2&offset=2>; rel="next"/);
    const p2 = await h.api('GET', '/api/v1/workflows?label=set=paging&limit=2&offset=2');
    assert.equal(p2.body.data.length, 1);
    assert.match(p2.headers.get('link')!, /offset=0>; rel="prev"/);
    assert.doesNotMatch(p2.headers.get('link')!, /rel="next"/);
    assert.equal(p1.body.data[0].name, 'page-2', 'newest first');
  });

  it('check mode: the workflow completes with a plan, and nothing runs', async () => {
    const r = await h.api('POST', '/api/v1/workflows/servers', { action: 'create', infra: 'local', check_mode: true });
    assert.equal(r.status, 202);
    const wf = r.body.data;
    assert.equal(wf.status, 'completed');
    assert.equal(wf.kind, 'server');
    assert.equal(wf.action, 'create');
    assert.deepEqual(wf.plan.changes.map((c: { name: string; action: string }) => [c.name, c.action]), [['web-01', 'create'], ['db-01', 'create']]);
    assert.deepEqual(wf.operations_summary, { total: 1, skipped: 1 });
    const t = await h.api('POST', '/api/v1/workflows/taskservs', { action: 'create', infra: 'local', taskserv: 'redis', check_mode: true });
    assert.deepEqual(t.body.data.plan.changes.map((c: { server: string }) => c.server), ['db-01']);
  });

  it('cancels a running workflow: the task process is killed and the workflow ends cancelled', async () => {
    const pidFile = join(h.home, 'sleeper.pid');
    const r = await h.api('POST', '/api/v1/workflows', { name: 'sleeper', operations: [script('sleep', `echo $$ > ${pidFile}; exec sleep 60`)] });
    assert.equal(r.status, 202);
    const id = r.body.data.id;
    await until(() => fileExists(pidFile).then((e) => e && readFileSync(pidFile, 'utf8').trim() !== ''), 'the script to start');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const c = await h.api('POST', `/api/v1/workflows/${id}/cancel`, { reason: 'test' });
    assert.equal(c.status, 202);
    assert.ok(['cancelling', 'cancelled'].includes(c.body.data.status), c.body.data.status);
    const wf = await final(id);
    assert.equal(wf.status, 'cancelled');
    assert.equal(wf.operations[0].status, 'cancelled');
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the script was killed');
    await refused(() => h.api('POST', `/api/v1/workflows/${id}/cancel`, {}), 409, 'INVALID_STATE');
  });

  it('rolls back a completed workflow (force) in reverse completion order', async () => {
    const log = join(h.home, 'rb.log');
    writeFileSync(log, '');
    const wf = await submitWait({ name: 'rb', operations: [
      script('one', `echo one >> ${log}`, { undo: `echo undo-one >> ${log}` }),
      script('two', `echo two >> ${log}`, { depends_on: ['one'], undo: `echo undo-two >> ${log}` }),
    ] });
    assert.equal(wf.status, 'completed');
    const e = await h.api('POST', `/api/v1/workflows/${wf.id}/rollback`, {});
    assert.equal(e.status, 409);
    assert.equal(e.body.error.code, 'INVALID_STATE');
    const r = await h.api('POST', `/api/v1/workflows/${wf.id}/rollback`, { force: true, reason: 'test' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.match(r.body.data.id, /^rb_/);
    assert.equal(r.headers.get('location'), `/api/v1/rollbacks/${r.body.data.id}`);
    const done = await final(wf.id);
    assert.equal(done.status, 'rolled_back');
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['one', 'two', 'undo-two', 'undo-one']);
    const rb = await h.api('GET', `/api/v1/rollbacks/${r.body.data.id}`);
    assert.equal(rb.body.data.status, 'completed');
    assert.equal(rb.body.data.requested_by.startsWith('local:'), true);
    const list = await h.api('GET', `/api/v1/rollbacks?workflow_id=${wf.id}`);
    assert.equal(list.body.meta.total, 1);
    const stats = await h.api('GET', '/api/v1/rollbacks/stats');
    assert.ok(stats.body.data.completed >= 1);
  });

  it('resumes a failed workflow', async () => {
    const flag = join(h.home, 'resume.flag');
    const wf = await submitWait({ name: 'resume', rollback_enabled: false, operations: [script('gate', `test -f ${flag}`)] });
    assert.equal(wf.status, 'failed');
    assert.equal(wf.error.code, 'COMMAND_FAILED');
    writeFileSync(flag, '');
    const r = await h.api('POST', `/api/v1/workflows/${wf.id}/resume`, {});
    assert.equal(r.status, 202);
    assert.equal((await final(wf.id)).status, 'completed');
  });

  it('lists checkpoints, takes a manual one, and restores an earlier one', async () => {
    const log = join(h.home, 'ckpt.log');
    writeFileSync(log, '');
    const wf = await submitWait({ name: 'ckpt', operations: [script('first', `echo first >> ${log}`), script('second', `echo second >> ${log}`, { depends_on: ['first'] })] });
    assert.equal(wf.status, 'completed');
    const cps = await h.api('GET', `/api/v1/workflows/${wf.id}/checkpoints`);
    assert.deepEqual(cps.body.data.map((c: { completed_operations: string[] }) => c.completed_operations), [['first'], ['first', 'second']]);
    const byFilter = await h.api('GET', `/api/v1/checkpoints?workflow_id=${wf.id}&trigger=operation`);
    assert.equal(byFilter.body.meta.total, 2);
    const manual = await h.api('POST', '/api/v1/checkpoints', { workflow_id: wf.id, name: 'before-restore' });
    assert.equal(manual.status, 202);
    assert.equal(manual.body.data.trigger, 'manual');
    assert.equal((await h.api('GET', `/api/v1/checkpoints/${manual.body.data.id}`)).body.data.name, 'before-restore');
    const r = await h.api('POST', `/api/v1/checkpoints/${cps.body.data[0].id}/restore`, {});
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal((await final(wf.id)).status, 'completed');
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['first', 'second', 'second'], 'only the operation after the checkpoint ran again');
  });

  it('batches: kind batch, 404 for other kinds, stats', async () => {
    const b = await submitWait({ name: 'batch-one', fail_fast: true, operations: [script('a', 'true')] }, '/api/v1/batches');
    assert.equal(b.kind, 'batch');
    assert.equal(b.fail_fast, true);
    assert.equal((await h.api('GET', `/api/v1/batches/${b.id}`)).body.data.id, b.id);
    const custom = await submitWait({ name: 'not-batch', check_mode: true, operations: [script('a', 'true')] });
    await refused(() => h.api('GET', `/api/v1/batches/${custom.id}`), 404, 'NOT_FOUND');
    const list = await h.api('GET', '/api/v1/batches');
    assert.ok(list.body.data.every((w: { kind: string }) => w.kind === 'batch'));
    const stats = await h.api('GET', '/api/v1/batches/stats');
    assert.ok(stats.body.data.total >= 1);
    assert.equal(typeof stats.body.data.success_rate, 'number');
  });

  it('health, readiness, metrics, system state and inventory', async () => {
    const health = await h.api('GET', '/api/v1/health');
    assert.equal(health.body.data.status, 'healthy');
    assert.equal((await h.api('GET', '/health')).status, 200);
    assert.equal((await h.api('GET', '/api/v1/ready')).status, 200);
    const m = await h.api('GET', '/metrics');
    assert.match(m.headers.get('content-type')!, /text\/plain/);
    for (const name of ['provisioning_workflows_total', 'provisioning_workflows_active', 'provisioning_tasks_total', 'provisioning_queue_depth', 'provisioning_http_requests_total', 'provisioning_ws_connections', 'provisioning_rollbacks_total']) assert.match(m.body, new RegExp(`^# TYPE ${name} `, 'm'));
    assert.match(m.body, /provisioning_workflows_total\{kind="custom",status="completed"\} \d+/);
    const sm = await h.api('GET', '/api/v1/system/metrics');
    assert.ok(sm.body.data.workflows.total >= 1);
    assert.equal(sm.body.data.workers.instances, 1);
    const ss = await h.api('GET', '/api/v1/system/stats');
    assert.equal(ss.body.data.store.kind, 'sqlite');
    const workers = await h.api('GET', '/api/v1/system/workers');
    assert.equal(workers.body.data[0].instance_id, h.orch.engine.instanceId);
    const infra = await h.api('GET', '/api/v1/infra');
    assert.deepEqual(infra.body.data.map((i: { name: string; servers: number; environment: string }) => [i.name, i.servers]), [['local', 2]]);
    const servers = await h.api('GET', '/api/v1/infra/local/servers');
    assert.deepEqual(servers.body.data.map((s: { name: string; status: string }) => [s.name, s.status]), [['web-01', 'planned'], ['db-01', 'planned']]);
    assert.deepEqual((await h.api('GET', '/api/v1/infra/local/servers/db-01')).body.data.taskservs.map((t: { name: string }) => t.name), ['redis']);
    assert.deepEqual((await h.api('GET', '/api/v1/infra/local/taskservs')).body.data.map((t: { name: string }) => t.name).sort(), ['nginx', 'redis']);
    await refused(() => h.api('GET', '/api/v1/infra/nope/servers'), 404, 'NOT_FOUND');
  });

  it('cancelling a running task kills it and fails its operation with TASK_CANCELLED (not retried); its dependents are skipped', async () => {
    const pidFile = join(h.home, 'task-sleeper.pid');
    const r = await h.api('POST', '/api/v1/workflows', { name: 'task-cancel', rollback_enabled: false, operations: [script('sleep', `echo $$ > ${pidFile}; exec sleep 60`, { retries: 2 }), script('next', 'true', { depends_on: ['sleep'] })] });
    assert.equal(r.status, 202);
    const id = r.body.data.id;
    await until(() => fileExists(pidFile).then((e) => e && readFileSync(pidFile, 'utf8').trim() !== ''), 'the script to start');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const task = r.body.data.operations[0].task_id ?? (await h.api('GET', `/api/v1/workflows/${id}`)).body.data.operations[0].task_id;
    const c = await h.api('POST', `/api/v1/tasks/${task}/cancel`, { reason: 'wrong host' });
    assert.equal(c.status, 202, JSON.stringify(c.body));
    const wf = await final(id);
    assert.equal(wf.status, 'failed');
    assert.deepEqual(wf.operations.map((o: { id: string; status: string }) => `${o.id}:${o.status}`), ['sleep:failed', 'next:skipped']);
    assert.equal(wf.operations[0].error.code, 'TASK_CANCELLED');
    assert.match(wf.operations[0].error.message, /wrong host/);
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the script was killed');
  });

  it('cancelling a task that ended is 409 INVALID_STATE', async () => {
    const wf = await submitWait({ name: 'done', operations: [script('a', 'true')] });
    await refused(() => h.api('POST', `/api/v1/tasks/${wf.operations[0].task_id}/cancel`, {}), 409, 'INVALID_STATE');
  });
});
