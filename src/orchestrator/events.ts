/**
 * Stored events in `seq` order, as they are appended — by this process or by another one on the
 * same store: `store.onEvents` says a newer seq exists, the pump reads everything after the last
 * seq it saw and hands it on. Jobs that must not interleave with the fan-out (a subscription's
 * replay) run on the same chain, so a connection never sees a live event before its replay ends.
 */
import type { WorkflowStore } from '../store/workflows.js';
import type { Event } from '../workflow/types.js';

const PAGE = 1000;

export class EventPump {
  /** the last seq handed on */
  last = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private readonly sinks = new Set<(events: Event[]) => void | Promise<void>>();

  constructor(private readonly store: WorkflowStore) {}

  async start(): Promise<void> {
    this.last = (await this.store.eventBounds()).latest;
    this.unsubscribe = this.store.onEvents(() => { void this.serial(() => this.drain()); });
  }

  stop(): void {
    this.unsubscribe?.();
  }

  sink(fn: (events: Event[]) => void | Promise<void>): () => void {
    this.sinks.add(fn);
    return () => this.sinks.delete(fn);
  }

  /** Run `fn` between two fan-outs. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const batch = await this.store.events(this.last, PAGE);
      if (batch.length === 0) return;
      this.last = batch.at(-1)!.seq;
      for (const s of this.sinks) await s(batch);
      if (batch.length < PAGE) return;
    }
  }
}
