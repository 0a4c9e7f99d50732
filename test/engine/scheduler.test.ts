import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProvError } from '../../src/errors/index.js';
import { runGraph, type Step } from '../../src/engine/scheduler.js';

/** A step that finishes when the test says so, so overlap is observed, not timed. */
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('scheduler', () => {
  it('runs every step after its dependencies and never more than `parallel` at once (random DAGs)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(
        fc.constant(n),
        fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 20 }),
        fc.integer({ min: 1, max: 4 }),
      )),
      async ([n, edges, parallel]) => {
        // edges only from lower to higher keys: acyclic
        const steps: Step<null>[] = Array.from({ length: n }, (_, i) => ({ key: i + 1, item: null, depends_on: [...new Set(edges.filter(([a, b]) => a < b && b === i).map(([a]) => a + 1))] }));
        const finished: number[] = [];
        let running = 0;
        let peak = 0;
        const out = await runGraph(steps, {
          parallel,
          run: async (s) => {
            for (const d of s.depends_on) assert.ok(finished.includes(d), `step ${s.key} started before ${d} finished`);
            running++;
            peak = Math.max(peak, running);
            await tick();
            await tick();
            running--;
            finished.push(s.key);
          },
        });
        assert.equal(finished.length, n);
        assert.ok(peak <= parallel, `peak ${peak} > parallel ${parallel}`);
        assert.ok([...out.values()].every((o) => o.status === 'done'));
      },
    ), { numRuns: 60 });
  });

  it('uses the parallelism it is given', async () => {
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const steps = [1, 2, 3, 4].map((key) => ({ key, depends_on: [], item: null }));
    const done = runGraph(steps, { parallel: 3, run: () => { running++; peak = Math.max(peak, running); return new Promise<void>((r) => release.push(() => { running--; r(); })); } });
    while (release.length < 3) await tick();
    assert.equal(peak, 3);
    while (release.length) { release.shift()!(); await tick(); await tick(); }
    await done;
    assert.equal(peak, 3);
  });

  it('a failure skips its dependents, and independent steps still run', async () => {
    const ran: number[] = [];
    const steps: Step<null>[] = [
      { key: 1, depends_on: [], item: null },
      { key: 2, depends_on: [1], item: null },
      { key: 3, depends_on: [2], item: null },
      { key: 4, depends_on: [], item: null },
    ];
    const out = await runGraph(steps, { parallel: 1, run: async (s) => { ran.push(s.key); if (s.key === 1) throw new ProvError('PROVIDER_ERROR', 'quota exceeded'); } });
    assert.deepEqual(ran.sort(), [1, 4]);
    assert.equal(out.get(1)!.status, 'failed');
    assert.equal((out.get(1) as { error: ProvError }).error.code, 'PROVIDER_ERROR');
    assert.deepEqual(out.get(2), { status: 'skipped', reason: 'step 1 did not complete' });
    assert.equal(out.get(3)!.status, 'skipped');
    assert.equal(out.get(4)!.status, 'done');
  });

  it('a plain Error becomes a ProvError outcome', async () => {
    const out = await runGraph([{ key: 1, depends_on: [], item: null }], { parallel: 1, run: async () => { throw new Error('boom'); } });
    const o = out.get(1)!;
    assert.equal(o.status, 'failed');
    assert.ok(o.status === 'failed' && o.error instanceof ProvError && o.error.message === 'boom');
  });

  it('aborting stops scheduling; running steps see the signal', async () => {
    const ac = new AbortController();
    let sawAbort = false;
    const steps = [1, 2, 3].map((key) => ({ key, depends_on: [], item: null }));
    const out = await runGraph(steps, {
      parallel: 1, signal: ac.signal,
      run: async (_s, signal) => {
        ac.abort();
        await tick();
        sawAbort = signal.aborted;
      },
    });
    assert.ok(sawAbort);
    assert.equal(out.get(1)!.status, 'done');
    assert.deepEqual(out.get(2), { status: 'skipped', reason: 'the run was interrupted' });
    assert.deepEqual(out.get(3), { status: 'skipped', reason: 'the run was interrupted' });
  });

  it('steps on unknown or cyclic dependencies are skipped with the reason, never hang', async () => {
    const out = await runGraph([
      { key: 1, depends_on: [9], item: null },
      { key: 2, depends_on: [3], item: null },
      { key: 3, depends_on: [2], item: null },
      { key: 4, depends_on: [], item: null },
    ], { parallel: 2, run: async () => undefined });
    assert.deepEqual(out.get(1), { status: 'skipped', reason: 'depends on unknown step 9' });
    assert.deepEqual(out.get(2), { status: 'skipped', reason: 'its dependencies form a cycle' });
    assert.deepEqual(out.get(3), { status: 'skipped', reason: 'its dependencies form a cycle' });
    assert.equal(out.get(4)!.status, 'done');
  });
});

describe('scheduler: keepGoing', () => {
  it('runs dependents of a failed step when asked (a teardown goes on past failures)', async () => {
    const ran: number[] = [];
    const out = await runGraph([
      { key: 1, depends_on: [], item: null },
      { key: 2, depends_on: [1], item: null },
      { key: 3, depends_on: [2], item: null },
    ], { parallel: 2, keepGoing: true, run: async (s) => { ran.push(s.key); if (s.key === 2) throw new Error('stop failed'); } });
    assert.deepEqual(ran, [1, 2, 3]);
    assert.deepEqual([...out.values()].map((o) => o.status), ['done', 'failed', 'done']);
  });
});
