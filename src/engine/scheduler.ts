/**
 * The scheduler: runs a graph of steps (a plan's changes, later a workflow's tasks) with at most
 * `parallel` at once, each after the steps it depends on. A failed step skips what depends on
 * it, and independent steps go on (as Terraform does), so one run reports every outcome. Aborting
 * stops scheduling; running steps see the signal and finish or fail on their own.
 */
import { asProvError, type ProvError } from '../errors/index.js';

export interface Step<T> {
  key: number;
  depends_on: number[];
  item: T;
}

export type Outcome =
  | { status: 'done'; ms: number }
  | { status: 'failed'; ms: number; error: ProvError }
  | { status: 'skipped'; reason: string };

export interface ScheduleOptions<T> {
  parallel: number;
  /** run dependents of a failed step anyway (a teardown goes on past failures) */
  keepGoing?: boolean;
  signal?: AbortSignal;
  run(step: Step<T>, signal: AbortSignal): Promise<void>;
  onStart?(step: Step<T>): void;
  onEnd?(step: Step<T>, outcome: Outcome): void;
}

export async function runGraph<T>(steps: Step<T>[], o: ScheduleOptions<T>): Promise<Map<number, Outcome>> {
  const outcomes = new Map<number, Outcome>();
  const known = new Set(steps.map((s) => s.key));
  const waiting = steps.filter((s) => s.depends_on.every((d) => known.has(d)));
  for (const s of steps) if (!waiting.includes(s)) outcomes.set(s.key, { status: 'skipped', reason: `depends on unknown step ${s.depends_on.find((d) => !known.has(d))}` });
  const inner = new AbortController();
  const onAbort = () => inner.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const running = new Map<number, Promise<void>>();
  const limit = Math.max(1, o.parallel);

  const finish = (s: Step<T>, outcome: Outcome) => {
    outcomes.set(s.key, outcome);
    o.onEnd?.(s, outcome);
  };

  try {
    while (waiting.length > 0 || running.size > 0) {
      // skip everything whose dependency did not complete
      for (let i = waiting.length - 1; i >= 0; i--) {
        const s = waiting[i]!;
        const bad = o.keepGoing ? undefined : s.depends_on.find((d) => { const r = outcomes.get(d); return r !== undefined && r.status !== 'done'; });
        if (bad !== undefined) {
          waiting.splice(i, 1);
          finish(s, { status: 'skipped', reason: `step ${bad} did not complete` });
        } else if (inner.signal.aborted) {
          waiting.splice(i, 1);
          finish(s, { status: 'skipped', reason: 'the run was interrupted' });
        }
      }
      for (let i = 0; i < waiting.length && running.size < limit;) {
        const s = waiting[i]!;
        if (!s.depends_on.every((d) => (o.keepGoing ? outcomes.has(d) : outcomes.get(d)?.status === 'done'))) { i++; continue; }
        waiting.splice(i, 1);
        o.onStart?.(s);
        const t0 = Date.now();
        running.set(s.key, o.run(s, inner.signal).then(
          () => finish(s, { status: 'done', ms: Date.now() - t0 }),
          (err: unknown) => finish(s, { status: 'failed', ms: Date.now() - t0, error: asProvError(err) }),
        ).finally(() => running.delete(s.key)));
      }
      if (running.size === 0) {
        // nothing runs and nothing can start: the rest waits on steps that never finish (a cycle)
        for (const s of waiting.splice(0)) finish(s, { status: 'skipped', reason: 'its dependencies form a cycle' });
        break;
      }
      await Promise.race(running.values());
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  return outcomes;
}
