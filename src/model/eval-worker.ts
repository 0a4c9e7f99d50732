import { parentPort, workerData } from 'node:worker_threads';
import { DEFINITION_BRAND, type DefinitionContext, type DefinitionKind } from '../lib/define.js';

/**
 * Runs inside a worker thread: imports a compiled TypeScript definition, checks that the
 * default export is `defineInfra`/`defineWorkflow`, calls it with the context and checks that
 * the result is plain data before it crosses back (structured cloning would silently turn class
 * instances into tables). The parent enforces the time limit by terminating the worker.
 */

export interface EvalRequest { entryUrl: string; kind: DefinitionKind; context: DefinitionContext }
export type EvalResponse =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'threw'; message: string; stack?: string }
  | { ok: false; reason: 'export'; message: string }
  | { ok: false; reason: 'data'; at: (string | number)[]; got: string };

class NotData extends Error {
  constructor(readonly at: (string | number)[], readonly got: string) { super(got); }
}

/** A copy holding only JSON-like data; `undefined` properties are dropped (absent). */
function plain(v: unknown, at: (string | number)[]): unknown {
  switch (typeof v) {
    case 'string': case 'boolean': return v;
    case 'number':
      if (Number.isNaN(v)) throw new NotData(at, 'NaN');
      if (!Number.isFinite(v)) throw new NotData(at, String(v));
      return v;
    case 'function': throw new NotData(at, `a function${v.name ? ` (${v.name})` : ''}`);
    case 'bigint': throw new NotData(at, 'a bigint');
    case 'symbol': throw new NotData(at, 'a symbol');
    case 'undefined': throw new NotData(at, 'undefined');
  }
  if (v === null) return null;
  if (Array.isArray(v)) return v.map((x, i) => plain(x, [...at, i]));
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    throw new NotData(at, `an instance of ${(proto?.constructor?.name as string | undefined) ?? 'a class'}`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as object)) if (x !== undefined) out[k] = plain(x, [...at, k]);
  return out;
}

function describeExport(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (v === undefined) return 'nothing (no default export)';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const proto = Object.getPrototypeOf(v);
  return proto && proto !== Object.prototype ? `an instance of ${proto.constructor?.name ?? 'a class'}` : 'a plain object';
}

async function evaluate(req: EvalRequest): Promise<EvalResponse> {
  process.setSourceMapsEnabled(true);
  const fn = req.kind === 'infra' ? 'defineInfra' : 'defineWorkflow';
  let value: unknown;
  try {
    const mod = (await import(req.entryUrl)) as { default?: unknown };
    const def = mod.default;
    const brand = def && typeof def === 'object' ? (def as Record<symbol, unknown>)[DEFINITION_BRAND] : undefined;
    if (brand !== req.kind) {
      const got = brand ? `define${brand === 'infra' ? 'Infra' : 'Workflow'}(…)` : describeExport(def);
      return { ok: false, reason: 'export', message: `the default export must be ${fn}(…), got ${got}` };
    }
    value = (def as { value: unknown }).value;
    if (typeof value === 'function') value = await (value as (ctx: DefinitionContext) => unknown)(Object.freeze({ ...req.context }));
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { ok: false, reason: 'threw', message: err.message, stack: err.stack };
  }
  try {
    return { ok: true, value: plain(value, []) };
  } catch (e) {
    if (e instanceof NotData) return { ok: false, reason: 'data', at: e.at, got: e.got };
    throw e;
  }
}

evaluate(workerData as EvalRequest).then((r) => parentPort!.postMessage(r));
