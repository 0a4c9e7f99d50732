// bench/orchestrator: where one profiled throughput run spends its time. CPU: the V8 profile of
// `node --cpu-prof`, only the samples inside the measured window, by area (the first rule that
// matches the sample's stack wins). PostgreSQL: time per statement from the client's side.
import { loadCpuProfile } from '../lib/cpuprofile.mjs';

// [label, test on the leaf frame, test on any frame of the stack]
const AREAS = [
  ['ULID ids (ulidx: one crypto.getRandomValues call per character)', null, (f) => /node_modules\/ulidx\//.test(f.url)],
  ['checkpoint per completion (machine.checkpoint: sort, JSON, sha256 of all the workflow\'s operations)', null, (f) => f.functionName === 'checkpoint' && /workflow\/machine\.js/.test(f.url)],
  ['garbage collector', (f) => f.functionName === '(garbage collector)', null],
  ['JSON.parse of row documents', (f) => f.functionName === 'parse' && !f.url, null],
  ['JSON.stringify of row documents', (f) => f.functionName === 'stringify' && !f.url, null],
  ['SQLite statements and commits (better-sqlite3)', null, (f) => /node_modules\/better-sqlite3\//.test(f.url)],
  ['pg client (protocol, parsing rows)', null, (f) => /node_modules\/(pg|pg-protocol|pg-types|pg-pool)\//.test(f.url)],
  ['store (building rows and statements)', null, (f) => /dist\/src\/store\//.test(f.url)],
  ['state machine (settle, claim, advance)', null, (f) => /dist\/src\/workflow\//.test(f.url)],
  ['engine loop (worker.ts, control.ts)', null, (f) => /dist\/src\/engine\//.test(f.url)],
];

/** CPU ms by area inside [fromUs, toUs] (the profile's monotonic clock, as process.hrtime). */
export function summariseCpuProfile(dir, fromUs, toUs) {
  const loaded = loadCpuProfile(dir);
  if (!loaded) return undefined;
  const { p, nodes, parent } = loaded;
  const memo = new Map();
  const area = (id) => {
    if (memo.has(id)) return memo.get(id);
    const leaf = nodes.get(id).callFrame;
    const stack = [];
    for (let x = id; x !== undefined; x = parent.get(x)) stack.push(nodes.get(x).callFrame);
    const label = leaf.functionName === '(idle)' ? 'idle'
      : AREAS.find(([, onLeaf, onStack]) => (onLeaf ? onLeaf(leaf) : stack.some(onStack)))?.[0] ?? 'other (node internals, bench)';
    memo.set(id, label);
    return label;
  };
  const by = {};
  let t = p.startTime;
  p.samples.forEach((s, i) => {
    t += p.timeDeltas[i];
    if (t < fromUs || t > toUs) return;
    const a = area(s);
    by[a] = (by[a] ?? 0) + p.timeDeltas[i] / 1000;
  });
  const idle = by.idle ?? 0;
  delete by.idle;
  return { windowMs: (toUs - fromUs) / 1000, idleMs: idle, busyMs: Object.values(by).reduce((a, b) => a + b, 0), areas: Object.entries(by).sort((a, b) => b[1] - a[1]) };
}

/** Wrap pg's Client.query: time from call to result per statement (its first words), while `on()` is true. */
export function timeQueries(pg, on) {
  const stats = new Map();
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (...args) {
    const res = query.apply(this, args);
    if (!on() || typeof args[0] !== 'string' || !res?.then) return res;
    const key = args[0].replace(/\s+/g, ' ').trim().slice(0, 60);
    const t = process.hrtime.bigint();
    const add = () => {
      const s = stats.get(key) ?? { n: 0, ms: 0 };
      s.n++;
      s.ms += Number(process.hrtime.bigint() - t) / 1e6;
      stats.set(key, s);
    };
    res.then(add, add);
    return res;
  };
  return () => [...stats].map(([sql, s]) => ({ sql, ...s })).sort((a, b) => b.ms - a.ms);
}
