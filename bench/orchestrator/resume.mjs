// bench/orchestrator: time from restart to resumed work after kill -9. A child engine
// (worker.mjs) runs a workflow of 200 operations of ~20 ms each on a SQLite file; once at least 50
// have completed (seen in the store's events) it is killed with SIGKILL and a new child is started
// on the same file. Measured: from spawning the new child until the store records its first
// completed operation (the event's timestamp), and until it prints that its engine runs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WorkflowControl } from '../../dist/src/engine/control.js';
import { SqliteWorkflowStore } from '../../dist/src/store/sqlite/workflows.js';
import { workflowOf } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const OPS = 200;
const OP_MS = 20;
const CAPACITY = 10;
const KILL_AFTER = 50;
const DEADLINE_MS = 30_000;

function child(file) {
  const p = spawn(process.execPath, [join(here, 'worker.mjs'), file, String(OP_MS), String(CAPACITY)], { stdio: ['ignore', 'pipe', 'inherit'] });
  p.started = new Promise((res, rej) => {
    let out = '';
    p.stdout.on('data', (d) => { out += d; const m = /imported (\d+) started (\d+)/.exec(out); if (m) res({ imported: Number(m[1]), started: Number(m[2]) }); });
    p.once('exit', (code, sig) => rej(new Error(`worker exited (${code ?? sig}) before its engine started`)));
  });
  p.started.catch(() => {});
  p.exited = new Promise((res) => p.once('exit', res));
  return p;
}

/** Poll the store's events after `after` until `pred` holds for the completions seen so far. */
async function watch(store, wfId, after, pred) {
  const until = Date.now() + DEADLINE_MS;
  const done = [];
  let seq = after;
  while (Date.now() < until) {
    for (const e of await store.events(seq, 1000, [wfId])) {
      seq = e.seq;
      if (e.event_type === 'OperationStatusChanged' && e.data.status === 'completed') done.push(e);
    }
    if (pred(done)) return { done, seq };
    await sleep(2);
  }
  throw new Error(`no progress within ${DEADLINE_MS} ms: ${done.length} completions after seq ${after}`);
}

/** One kill -9 and restart; ms from the new process's spawn to: its modules loaded, its engine running, the dead instance's operations queued again, the first new lease, the first completion. */
export async function resumeOnce() {
  const tmp = mkdtempSync(join(tmpdir(), 'prov-bench-resume-'));
  const file = join(tmp, 'state.db');
  const store = new SqliteWorkflowStore(file);
  const procs = [];
  try {
    const { workflow, operations } = workflowOf(OPS, CAPACITY, tmp);
    await new WorkflowControl(store, 'local:bench').submit(workflow, operations);
    const a = child(file);
    procs.push(a);
    const before = await watch(store, workflow.id, 0, (d) => d.length >= KILL_AFTER);
    a.kill('SIGKILL');
    await a.exited;
    // what the dead instance finished: everything it committed before dying
    const { done: killedAt, seq } = await watch(store, workflow.id, before.seq, () => true);
    const completedBeforeKill = before.done.length + killedAt.length;
    const runningAtKill = (await store.getOperations(workflow.id)).filter((o) => o.status === 'running').length;
    const spawnedAt = Date.now();
    const b = child(file);
    procs.push(b);
    const { done } = await watch(store, workflow.id, seq, (d) => d.length >= 1);
    const marks = await b.started;
    const firstMs = Date.parse(done[0].timestamp) - spawnedAt;
    // the steps in between, from the new instance's events: leases of the dead one released (queued again), first new lease
    const after = await store.events(seq, 1000, [workflow.id]);
    const at = (status) => Date.parse(after.find((e) => e.event_type === 'OperationStatusChanged' && e.data.status === status).timestamp) - spawnedAt;
    await watch(store, workflow.id, seq, (d) => d.length >= OPS - completedBeforeKill);
    const w = await store.getWorkflow(workflow.id);
    const ops = await store.getOperations(workflow.id);
    if (ops.some((o) => o.status !== 'completed')) throw new Error(`after the restart: ${ops.filter((o) => o.status !== 'completed').map((o) => `${o.id} ${o.status}`).join(', ')}`);
    for (let i = 0; w.status !== 'completed' && i < 500; i++) { await sleep(10); Object.assign(w, await store.getWorkflow(workflow.id)); }
    if (w.status !== 'completed') throw new Error(`workflow ended ${w.status}`);
    b.kill('SIGTERM');
    await b.exited;
    return { firstMs, importedMs: marks.imported - spawnedAt, engineStartMs: marks.started - spawnedAt, requeuedMs: at('queued'), claimedMs: at('running'), completedBeforeKill, runningAtKill };
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await store.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (let i = 0; i < Number(process.argv[2] ?? 1); i++) console.log(JSON.stringify(await resumeOnce()));
}
