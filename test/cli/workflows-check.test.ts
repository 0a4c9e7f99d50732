/**
 * `batch submit --check` (cli.md §18): the waves, and each server/taskserv/cluster operation's own
 * plan against the recorded state, with the estimate — offline, nothing queued.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCli, tempHome } from '../fixtures/cli.js';

describe('batch submit --check with server and taskserv operations', () => {
  const home = tempHome();
  const ws = join(home, 'chk');
  const cli = (args: string[]) => runCli(args, { home, cwd: ws, env: { PROVISIONING_ORCHESTRATOR__URL: 'http://127.0.0.1:1' } });
  before(async () => {
    assert.equal((await runCli(['workspace', 'init', 'chk', ws, '--template', 'local'], { home })).code, 0);
  });

  it('plans each operation of the template\'s workflows/site.toml; servers carry the estimate; nothing is recorded', async () => {
    const r = await cli(['batch', 'submit', 'workflows/site.toml', '--check', '--out', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const d = r.json();
    assert.deepEqual(d.waves, [['servers'], ['redis', 'nginx'], ['ping']]);
    assert.deepEqual(d.plans.map((p: { operation: string; summary: { create: number } }) => `${p.operation}:${p.summary.create}`), ['servers:2', 'redis:1', 'nginx:1']);
    assert.equal(d.plans[0].estimated_cost.currency, 'EUR');
    assert.equal(d.plans[1].estimated_cost, null, 'the servers a taskserv plan would create are the server operation\'s');
    assert.deepEqual(d.estimated_cost, d.plans[0].estimated_cost);
    const human = await cli(['batch', 'submit', 'workflows/site.toml', '--check']);
    assert.match(human.stdout, /servers\s+server_create\s+on web-01,db-01/);
    assert.match(human.stdout, /redis\s+taskserv_create\s+redis on db-01\s+← servers \(implicit\)/);
    assert.match(human.stdout, /servers\s+2 to create/);
    assert.equal((await cli(['workflow', 'list', '--out', 'json'])).json().length, 0);
  });
});
