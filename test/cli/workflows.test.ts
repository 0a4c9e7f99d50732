/**
 * Batch workflows through the built CLI, run in the CLI process (no orchestrator answers at the
 * configured URL, so `auto` runs direct): files in the four formats with local `script`
 * operations, the order observed through a file the scripts append to; bad files rejected with
 * nothing recorded; rollback in reverse order; list/status/logs/stats/cleanup; resume after
 * fixing the cause; Ctrl-C.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { BIN, runCli, tempHome } from '../fixtures/cli.js';

const script = (id: string, run: string, extra: Record<string, unknown> = {}) => ({ id, type: 'script', target: { run, ...(extra.undo ? { undo: extra.undo } : {}) }, ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'undo')) });

describe('batch workflows in the CLI process', () => {
  const home = tempHome();
  const ws = join(home, 'wfs');
  let env: Record<string, string>;
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { home, cwd: ws, env: { ...env, ...extra } });
  const orderLog = join(ws, 'order.log');
  const order = () => (existsSync(orderLog) ? readFileSync(orderLog, 'utf8').trim().split('\n').filter(Boolean) : []);
  const recorded = async () => ((await cli(['workflow', 'list', '--limit', '1000', '--out', 'json'])).json() as { id: string; status: string; name: string }[]);
  const write = (name: string, text: string) => { writeFileSync(join(ws, 'workflows', name), text); return `workflows/${name}`; };

  before(async () => {
    // nothing listens on port 1: `auto` finds no orchestrator and runs in the CLI process
    env = { PROVISIONING_ORCHESTRATOR__URL: 'http://127.0.0.1:1' };
    const r = await runCli(['workspace', 'init', 'wfs', ws], { home });
    assert.equal(r.code, 0, r.stderr);
  });

  const dag = { name: 'dag', operations: [
    script('a', 'echo a >> order.log'), script('b', 'sleep 0.2; echo b >> order.log', { dependencies: ['a'] }),
    script('c', 'echo c >> order.log', { dependencies: ['a'] }), script('d', 'echo d >> order.log', { after: ['b', 'c'] }),
  ] };
  const toml = [
    'name = "dag"',
    '[[operations]]', 'id = "a"', 'type = "script"', 'target = { run = "echo a >> order.log" }',
    '[[operations]]', 'id = "b"', 'type = "script"', 'dependencies = ["a"]', 'target = { run = "sleep 0.2; echo b >> order.log" }',
    '[[operations]]', 'id = "c"', 'type = "script"', 'dependencies = ["a"]', 'target = { run = "echo c >> order.log" }',
    '[[operations]]', 'id = "d"', 'type = "script"', 'after = ["b", "c"]', 'target = { run = "echo d >> order.log" }',
  ].join('\n') + '\n';
  const yaml = [
    'name: dag', 'operations:',
    '  - { id: a, type: script, target: { run: "echo a >> order.log" } }',
    '  - { id: b, type: script, dependencies: [a], target: { run: "sleep 0.2; echo b >> order.log" } }',
    '  - { id: c, type: script, dependencies: [a], target: { run: "echo c >> order.log" } }',
    '  - { id: d, type: script, after: [b, c], target: { run: "echo d >> order.log" } }',
  ].join('\n') + '\n';
  const ts = `import { defineWorkflow } from 'provisioning';\n\nexport default defineWorkflow(${JSON.stringify(dag, null, 2)});\n`;

  for (const [format, file, text] of [['TOML', 'dag.toml', toml], ['YAML', 'dag.yaml', yaml], ['JSON', 'dag.json', JSON.stringify(dag)], ['TypeScript', 'dag.ts', ts]] as const) {
    it(`${format}: submit runs in this process in dependency order and completes (exit 0)`, async () => {
      rmSync(orderLog, { force: true });
      const r = await cli(['batch', 'submit', write(file, text), '--out', 'json']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const out = r.json();
      assert.equal(out.status, 'completed');
      assert.equal(out.execution, 'direct');
      assert.deepEqual(out.operations.map((o: { id: string; status: string }) => [o.id, o.status]), [['a', 'completed'], ['b', 'completed'], ['c', 'completed'], ['d', 'completed']]);
      const lines = order();
      assert.equal(lines[0], 'a');
      assert.equal(lines[3], 'd');
      assert.deepEqual(lines.slice(1, 3).sort(), ['b', 'c']);
      // plain progress (stderr is not a terminal): timestamped state changes
      assert.match(r.stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}workflow dag: queued → running$/m);
      assert.match(r.stderr, /no orchestrator at http:\/\/127\.0\.0\.1:1: running in this process/);
      const listed = await recorded();
      assert.ok(listed.some((w) => w.id === out.workflow_id && w.status === 'completed'));
    });
  }

  it('validate and --check print the waves with implicit/soft edges and record nothing', async () => {
    const before = (await recorded()).length;
    const v = await cli(['batch', 'validate', 'workflows/dag.toml']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /wave 1\n\s+a /);
    assert.match(v.stdout, /wave 2\n\s+b .*← a\n\s+c .*← a/);
    assert.match(v.stdout, /wave 3\n\s+d .*← b \(after\), c \(after\)/);
    const same = await cli(['validate', 'workflow', 'workflows/dag.toml', '--out', 'json']);
    assert.deepEqual(same.json().waves, [['a'], ['b', 'c'], ['d']]);
    const check = await cli(['batch', 'submit', 'workflows/dag.yaml', '--check', '--parallel-limit', '1', '--no-rollback', '--out', 'json']);
    assert.equal(check.code, 0, check.stderr);
    const plan = check.json();
    assert.equal(plan.check, true);
    assert.equal(plan.rollback_enabled, false);
    assert.deepEqual(plan.waves, [['a'], ['b'], ['c'], ['d']]);
    const human = await cli(['batch', 'submit', 'workflows/dag.json', '--check']);
    assert.match(human.stdout, /Check mode — nothing will be queued/);
    assert.match(human.stdout, /rollback on/);
    assert.equal((await recorded()).length, before);
  });

  it('bad files exit 3 naming file and line, and nothing is recorded', async () => {
    const before = (await recorded()).length;
    const cases: [string, string, RegExp][] = [
      ['broken.toml', 'name = "x"\n[[operations]]\nid = "a\n', /workflows\/broken\.toml:3/],
      ['unknown.toml', 'name = "x"\n[[operations]]\nid = "a"\ntype = "script"\nretrys = 2\ntarget = { run = "true" }\n', /workflows\/unknown\.toml:5.*retrys|retrys[\s\S]*workflows\/unknown\.toml:5/],
      ['cycle.yaml', 'name: x\noperations:\n  - { id: a, type: script, dependencies: [b], target: { run: "true" } }\n  - { id: b, type: script, dependencies: [a], target: { run: "true" } }\n', /dependency cycle: a → b → a|cycle/],
      ['dangling.json', JSON.stringify({ name: 'x', operations: [script('a', 'true', { dependencies: ['nope'] })] }, null, 2), /workflows\/dangling\.json:\d+[\s\S]*nope|nope[\s\S]*dangling\.json:\d+/],
      ['dupes.yaml', 'name: x\noperations:\n  - { id: a, type: script, target: { run: "true" } }\n  - { id: a, type: script, target: { run: "true" } }\n', /workflows\/dupes\.yaml:4[\s\S]*|duplicate/i],
    ];
    for (const [file, text, want] of cases) {
      const r = await cli(['batch', 'submit', write(file, text)]);
      assert.equal(r.code, 3, `${file}: ${r.stderr}`);
      assert.match(r.stderr, want, file);
      const v = await cli(['batch', 'validate', `workflows/${file}`]);
      assert.equal(v.code, 3, `${file} validate: ${v.stderr}`);
    }
    const dup = await cli(['batch', 'submit', 'workflows/dupes.yaml', '--out', 'json']);
    assert.equal(dup.json().error.code, 'DEFINITION_INVALID');
    const missing = await cli(['batch', 'submit', 'workflows/none.toml']);
    assert.equal(missing.code, 5, missing.stderr);
    const flag = await cli(['batch', 'submit', 'workflows/dag.toml', '--parallel-limit', '0']);
    assert.equal(flag.code, 2, flag.stderr);
    assert.equal((await recorded()).length, before);
  });

  it('a failing batch with rollback undoes completed operations in reverse order (exit 1, rolled_back)', async () => {
    rmSync(orderLog, { force: true });
    const file = write('rb.json', JSON.stringify({ name: 'rb', defaults: { retries: 0 }, operations: [
      script('one', 'echo one >> order.log', { undo: 'echo undo-one >> order.log' }),
      script('two', 'echo two >> order.log', { dependencies: ['one'], undo: 'echo undo-two >> order.log' }),
      script('bad', 'echo bad >> order.log; echo broken >&2; exit 4', { dependencies: ['two'] }),
    ] }));
    const r = await cli(['batch', 'submit', file]);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.deepEqual(order(), ['one', 'two', 'bad', 'undo-two', 'undo-one']);
    assert.match(r.stdout, /✗ bad failed: .*exited with 4/);
    assert.match(r.stdout, /broken/);
    assert.match(r.stdout, /rolled back/);
    const id = /\((wf_[0-9A-Z]+)\)/.exec(r.stdout)![1]!;
    const st = await cli(['workflow', 'status', id, '--out', 'json']);
    assert.equal(st.json().status, 'rolled_back');
    assert.deepEqual(st.json().operations.map((o: { id: string; status: string }) => [o.id, o.status]), [['one', 'rolled_back'], ['two', 'rolled_back'], ['bad', 'failed']]);
  });

  it('resume of a failed batch after fixing the cause runs the rest; --check shows the checkpoint and remaining steps', async () => {
    rmSync(orderLog, { force: true });
    rmSync(join(ws, 'fixed.flag'), { force: true });
    const file = write('fix.toml', [
      'name = "fixme"', 'rollback_enabled = false', '[defaults]', 'retries = 0',
      '[[operations]]', 'id = "prep"', 'type = "script"', 'target = { run = "echo prep >> order.log" }',
      '[[operations]]', 'id = "needs-flag"', 'type = "script"', 'dependencies = ["prep"]', 'target = { run = "test -f fixed.flag && echo fixed >> order.log" }',
      '[[operations]]', 'id = "after-fix"', 'type = "script"', 'dependencies = ["needs-flag"]', 'target = { run = "echo after >> order.log" }',
    ].join('\n') + '\n');
    const r = await cli(['batch', 'submit', file, '--out', 'json']);
    assert.equal(r.code, 1, r.stderr);
    const id = r.json().workflow_id as string;
    assert.equal(r.json().status, 'failed');
    const check = await cli(['workflow', 'resume', id, '--check']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /from checkpoint #1 \(1 completed: prep\)/);
    assert.match(check.stdout, /1\. needs-flag\s+run again \(was failed\)\n\s+2\. after-fix\s+run again \(was skipped\)/);
    writeFileSync(join(ws, 'fixed.flag'), '');
    const again = await cli(['workflow', 'retry', id, '--out', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json().status, 'completed');
    assert.deepEqual(order(), ['prep', 'fixed', 'after']);
    const done = await cli(['workflow', 'resume', id]);
    assert.notEqual(done.code, 0);
    assert.match(done.stderr, /cannot resume workflow .*: it is completed/);
  });

  it('status, logs (--step), list filters, stats, monitor of a finished run', async () => {
    const file = write('talk.yaml', 'name: talk\noperations:\n  - { id: hello, type: script, target: { run: "echo hello from $PROVISIONING_OPERATION_ID" } }\n  - { id: bye, type: script, dependencies: [hello], target: { run: "echo bye" } }\n');
    const r = await cli(['batch', 'submit', file, '--out', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const id = r.json().workflow_id as string;
    const st = await cli(['workflow', 'status', id]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /last checkpoint\s+#2 operation/);
    assert.match(st.stdout, /ID\s+TYPE\s+STATUS\s+ATTEMPT\s+DURATION\s+ERROR\nhello\s+script\s+completed\s+1/);
    const logs = await cli(['workflow', 'logs', id, '--step', 'hello']);
    assert.match(logs.stdout, /hello {2}hello from hello/);
    assert.doesNotMatch(logs.stdout, /bye/);
    const badStep = await cli(['workflow', 'logs', id, '--step', 'nope']);
    assert.equal(badStep.code, 5);
    const failed = (await cli(['workflow', 'list', '--status', 'failed,rolled_back', '--out', 'json'])).json() as { status: string }[];
    assert.ok(failed.length >= 1 && failed.every((w) => w.status === 'failed' || w.status === 'rolled_back'), JSON.stringify(failed));
    const batches = await cli(['batch', 'list', '--limit', '2', '--out', 'json']);
    assert.equal(batches.json().length, 2);
    assert.equal((await cli(['list', 'workflows', '--type', 'server', '--out', 'json'])).json().length, 0);
    assert.equal((await cli(['workflow', 'list', '--status', 'bogus'])).code, 2);
    assert.equal((await cli(['workflow', 'list', '--from', 'yesterday'])).code, 2);
    const stats = (await cli(['batch', 'stats', '--out', 'json'])).json();
    assert.equal(stats.total, (await recorded()).length);
    assert.ok(stats.by_status.completed >= 5 && stats.by_status.rolled_back >= 1);
    assert.ok(stats.success_rate > 0 && stats.success_rate < 1);
    const mon = await cli(['batch', 'monitor', id, '--out', 'json']);
    assert.equal(mon.code, 0, mon.stderr);
    // NDJSON: every line one object — the events, then the summary
    const all = mon.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; event_type?: string; status?: string });
    const events = all.filter((l) => l.type === 'event');
    assert.equal(events.length, all.length - 1);
    const summary = all.at(-1)!;
    assert.ok(events.some((e) => e.event_type === 'WorkflowStatusChanged'));
    assert.equal(summary.type, 'summary');
    assert.equal(summary.status, 'completed');
    const plainMon = await cli(['workflow', 'monitor', id]);
    assert.equal(plainMon.code, 0);
    assert.match(plainMon.stderr, /workflow talk: running → completed/);
    const rolled = failed.find((w) => w.status === 'rolled_back') as { id: string } | undefined;
    assert.equal((await cli(['workflow', 'monitor', rolled!.id])).code, 1);
    assert.equal((await cli(['workflow', 'status', 'wf_01NOPE'])).code, 5);
    assert.equal((await cli(['batch', 'status', 'wf_01NOPE', '--out', 'json'])).json().error.code, 'NOT_FOUND');
  });

  it('cancel and rollback confirm; --check lists what they would do in order; cleanup counts then deletes', async () => {
    const file = write('undo.yaml', 'name: undo\noperations:\n  - { id: x, type: script, target: { run: "echo x >> order.log", undo: "echo undo-x >> order.log" } }\n  - { id: y, type: script, dependencies: [x], target: { run: "echo y >> order.log", undo: "echo undo-y >> order.log" } }\n  - { id: z, type: script, dependencies: [y], rollback: false, target: { run: "true" } }\n');
    const id = (await cli(['batch', 'submit', file, '--out', 'json'])).json().workflow_id as string;
    const plan = await cli(['workflow', 'rollback', id, '--force', '--check']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /1\. z\s+kept \(rollback = false\)\n\s+2\. y\s+undo\n\s+3\. x\s+undo/);
    const noForce = await cli(['workflow', 'rollback', id, '--yes']);
    assert.notEqual(noForce.code, 0);
    assert.match(noForce.stderr, /pass --force/);
    rmSync(orderLog, { force: true });
    const unconfirmed = await cli(['workflow', 'rollback', id, '--force']);
    assert.equal(unconfirmed.code, 7, unconfirmed.stderr);
    assert.deepEqual(order(), []);
    const rb = await cli(['workflow', 'rollback', id, '--force', '--yes', '--out', 'json']);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(rb.json().status, 'rolled_back');
    assert.deepEqual(order(), ['undo-y', 'undo-x']);
    const cancelDone = await cli(['workflow', 'cancel', id, '--yes']);
    assert.notEqual(cancelDone.code, 0);
    assert.match(cancelDone.stderr, /cannot cancel workflow .*: it is rolled_back/);

    const total = (await recorded()).length;
    const count = await cli(['workflow', 'cleanup', '--older-than', '0s', '--check', '--out', 'json']);
    const n = count.json().count as number;
    assert.ok(n >= 5, JSON.stringify(count.json()));
    assert.equal((await recorded()).length, total);
    assert.equal((await cli(['workflow', 'cleanup', '--older-than', '0s'])).code, 7);
    assert.equal((await cli(['workflow', 'cleanup', '--status', 'running', '--yes'])).code, 2);
    const del = await cli(['workflow', 'cleanup', '--older-than', '0s', '--yes', '--out', 'json']);
    assert.equal(del.json().deleted, n);
    const left = await recorded();
    assert.equal(left.length, total - n);
    assert.ok(left.every((w) => w.status !== 'completed'));
  });

  it('Ctrl-C during a direct run cancels it: exit 130, status cancelled, the running step stopped', async () => {
    rmSync(join(ws, 'started.flag'), { force: true });
    const file = write('slow.json', JSON.stringify({ name: 'slow', operations: [script('first', 'touch started.flag; sleep 60; echo late >> order.log'), script('next', 'echo next >> order.log', { dependencies: ['first'] })] }));
    rmSync(orderLog, { force: true });
    const child = spawn(process.execPath, [BIN, 'batch', 'submit', file, '--out', 'json'], { cwd: ws, env: { PATH: process.env.PATH ?? '', HOME: home, PROVISIONING_HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));
    const deadline = Date.now() + 60_000;
    while (!existsSync(join(ws, 'started.flag'))) {
      if (Date.now() > deadline) { child.kill('SIGKILL'); assert.fail(`the first step never started:\n${stderr}`); }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
    if (code === 'timeout') { child.kill('SIGKILL'); assert.fail(`no exit after Ctrl-C:\n${stderr}`); }
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted: cancelling the workflow/);
    const out = JSON.parse(stdout) as { workflow_id: string; status: string; operations: { id: string; status: string }[] };
    assert.equal(out.status, 'cancelled');
    assert.deepEqual(out.operations.map((o) => [o.id, o.status]), [['first', 'cancelled'], ['next', 'cancelled']]);
    assert.equal((await cli(['workflow', 'status', out.workflow_id, '--out', 'json'])).json().status, 'cancelled');
    assert.deepEqual(order(), []);
  });
});
