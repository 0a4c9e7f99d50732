/**
 * `orchestrator start|status|health|logs|stop` with the real service (dist/src/orchestrator/main.js)
 * on a free port of a temporary workspace, and workflows submitted through it: `auto` picks it,
 * `--wait` and `batch monitor` follow it through the store, cancel goes through its API. Also
 * what the commands say while it is down.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, tempHome } from '../fixtures/cli.js';
import { freePort } from '../fixtures/sshd.js';

function listenAnywhere(): Promise<Server> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => res(s));
  });
}

const script = (id: string, run: string, extra: Record<string, unknown> = {}) => ({ id, type: 'script', target: { run }, ...extra });

describe('orchestrator service through the CLI', () => {
  const home = tempHome();
  const ws = join(home, 'orch');
  const pidFile = join(ws, '.provisioning', 'orchestrator.pid');
  const logFile = join(ws, '.provisioning', 'logs', 'orchestrator.log');
  let env: Record<string, string>;
  let port: number;
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { home, cwd: ws, env: { ...env, ...extra } });
  const orderLog = join(ws, 'order.log');
  const write = (name: string, doc: unknown) => { writeFileSync(join(ws, 'workflows', name), JSON.stringify(doc)); return `workflows/${name}`; };
  // explicit limits per operation: the test is about the CLI, not the configured defaults
  const defaults = { retries: 0, timeout: '2m', retry_delay: '1s' };

  before(async () => {
    port = await freePort();
    env = { PROVISIONING_ORCHESTRATOR__PORT: String(port) };
    const r = await runCli(['workspace', 'init', 'orch', ws], { home });
    assert.equal(r.code, 0, r.stderr);
  });

  after(() => {
    // never leave a service behind, whatever failed
    if (existsSync(pidFile)) { try { process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL'); } catch { /* gone */ } }
  });

  it('while it is down: health exit 9, status down, --orchestrated exit 9 naming the URL, stop is a no-op, start --check starts nothing', async () => {
    const h = await cli(['orchestrator', 'health']);
    assert.equal(h.code, 9, h.stderr);
    assert.match(h.stderr, new RegExp(`http://127\\.0\\.0\\.1:${port} is unreachable`));
    const s = await cli(['orchestrator', 'status', '--out', 'json']);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.json().status, 'down');
    const file = write('one.json', { name: 'one', defaults, operations: [script('a', 'true')] });
    const sub = await cli(['batch', 'submit', file, '--orchestrated']);
    assert.equal(sub.code, 9, sub.stderr);
    assert.match(sub.stderr, new RegExp(`orchestrator at http://127\\.0\\.0\\.1:${port} does not answer`));
    assert.match(sub.stderr, /provisioning orchestrator start/);
    assert.deepEqual((await cli(['workflow', 'list', '--out', 'json'])).json(), []);
    const stop = await cli(['orchestrator', 'stop']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /not running/);
    const check = await cli(['orchestrator', 'start', '--check', '--out', 'json']);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(check.json().port, port);
    assert.equal(check.json().port_free, true);
    assert.match(check.json().store, /^sqlite .*state\.db$/);
    assert.equal(existsSync(pidFile), false);
    assert.equal((await cli(['orchestrator', 'start', '--port', '70000'])).code, 2);
  });

  it('start: detached, PID file and log written, healthy; a second start and a taken port are refused (exit 6)', async () => {
    const r = await cli(['orchestrator', 'start']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`orchestrator running at http://127\\.0\\.0\\.1:${port} \\(pid \\d+\\)`));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 0);
    assert.match(readFileSync(logFile, 'utf8'), new RegExp(`orchestrator listening on http://127\\.0\\.0\\.1:${port}`));
    const again = await cli(['orchestrator', 'start']);
    assert.equal(again.code, 6, again.stderr);
    assert.match(again.stderr, new RegExp(`already running \\(pid ${pid}`));
    const taken = await listenAnywhere();
    try {
      const other = await cli(['orchestrator', 'start', '--port', String((taken.address() as { port: number }).port)]);
      assert.equal(other.code, 6, other.stderr);
    } finally {
      await new Promise((res) => taken.close(res));
    }
    const st = await cli(['orchestrator', 'status', '--out', 'json']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.json().status, 'up');
    assert.equal(st.json().pid, pid);
    assert.ok(st.json().version);
    const h = await cli(['orchestrator', 'health', '--out', 'json']);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(h.json().status, 'healthy');
    const logs = await cli(['orchestrator', 'logs', '--lines', '1000']);
    assert.equal(logs.code, 0);
    assert.match(logs.stdout, /orchestrator listening on/);
  });

  it('auto mode submits to it; monitor and --wait follow the run through the store', async () => {
    const file = write('dag.json', { name: 'dag', defaults, operations: [
      script('a', 'echo a >> order.log'), script('b', 'echo b >> order.log', { dependencies: ['a'] }), script('c', 'echo c >> order.log', { dependencies: ['b'] }),
    ] });
    const r = await cli(['batch', 'submit', file, '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const { workflow_id: id, status } = r.json() as { workflow_id: string; status: string };
    assert.match(id, /^wf_/);
    assert.ok(['pending', 'queued', 'running'].includes(status), status);
    assert.match(r.stderr, /submitted wf_\S+ to the orchestrator/);
    const mon = await cli(['batch', 'monitor', id]);
    assert.equal(mon.code, 0, mon.stderr + mon.stdout);
    assert.match(mon.stderr, /workflow dag: running → completed/);
    assert.match(mon.stdout, /completed in/);
    assert.deepEqual(readFileSync(orderLog, 'utf8').trim().split('\n'), ['a', 'b', 'c']);
    const listed = (await cli(['workflow', 'list', '--out', 'json'])).json() as { id: string; origin: string }[];
    assert.equal(listed.find((w) => w.id === id)?.origin, 'orchestrated');

    const bad = write('bad.json', { name: 'bad', rollback_enabled: false, defaults, operations: [script('x', 'exit 5')] });
    const waited = await cli(['batch', 'submit', bad, '--wait', '--out', 'json']);
    assert.equal(waited.code, 1, waited.stderr);
    assert.equal(waited.json().status, 'failed');
    assert.equal(waited.json().operations[0].error.code, 'COMMAND_FAILED');
  });

  it('--wait --timeout gives up with exit 8 and says how to follow; cancel goes through the API', async () => {
    const file = write('slow.json', { name: 'slow', defaults, operations: [script('nap', 'sleep 60')] });
    const r = await cli(['batch', 'submit', file, '--wait', '--timeout', '1s']);
    assert.equal(r.code, 8, r.stderr);
    const id = /submitted (wf_\S+)/.exec(r.stderr)![1]!;
    assert.match(r.stderr, new RegExp(`workflow monitor ${id}`));
    const plan = await cli(['workflow', 'cancel', id, '--check']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /nap\s+(stop \(running\)|not started: cancelled)/);
    const c = await cli(['workflow', 'cancel', id, '--yes', '--wait', '--out', 'json']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.json().status, 'cancelled');
  });

  it('stop: graceful, PID file removed; then unreachable again', async () => {
    const r = await cli(['orchestrator', 'stop', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /orchestrator stopped \(pid \d+\)/);
    assert.equal(existsSync(pidFile), false);
    assert.equal((await cli(['orchestrator', 'health'])).code, 9);
    assert.match(readFileSync(logFile, 'utf8'), /SIGTERM: shutting down/);
  });
});
