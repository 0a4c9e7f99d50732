import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { topoOrder } from '../../src/graph/topo.js';

/** A random DAG: edges only from a higher to a lower node index, so no cycle by construction. */
const dag = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.tuple(fc.constant(n), fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: n * 3 })).map(([size, pairs]) => ({
    nodes: Array.from({ length: size }, (_, i) => `n${i}`),
    edges: pairs.filter(([a, b]) => a !== b).map(([a, b]) => (a > b ? [a, b] : [b, a]) as [number, number]),
  })));

const depsOf = (edges: [number, number][]) => (n: string) => edges.filter(([a]) => `n${a}` === n).map(([, b]) => `n${b}`);

describe('topological order', () => {
  it('respects every edge of random DAGs (property)', () => {
    fc.assert(fc.property(dag, fc.func(fc.integer()), ({ nodes, edges }, seed) => {
      // Shuffle the declaration order so the tie-break is exercised too.
      const declared = [...nodes].sort((x, y) => seed(x) - seed(y) || x.localeCompare(y));
      const r = topoOrder(declared, depsOf(edges));
      assert.ok(r.ok);
      const pos = new Map(r.order.map((n, i) => [n, i]));
      assert.equal(r.order.length, nodes.length);
      for (const [a, b] of edges) assert.ok(pos.get(`n${b}`)! < pos.get(`n${a}`)!, `n${b} must precede n${a}`);
    }), { numRuns: 300 });
  });

  it('finds a real cycle whenever one is added (property)', () => {
    fc.assert(fc.property(dag, fc.nat(), fc.nat(), ({ nodes, edges }, i, j) => {
      const n = nodes.length;
      const a = i % n;
      const b = j % n;
      // A back edge from low to high closes a cycle whenever a path high → low exists; force one.
      const withCycle: [number, number][] = [...edges, [Math.max(a, b), Math.min(a, b)], [Math.min(a, b), Math.max(a, b)]];
      if (a === b) withCycle.push([a, a]);
      const r = topoOrder(nodes, depsOf(withCycle));
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.ok(r.cycle.length >= 2);
      assert.equal(r.cycle[0], r.cycle[r.cycle.length - 1]);
      const deps = depsOf(withCycle);
      for (let k = 0; k + 1 < r.cycle.length; k++) assert.ok(deps(r.cycle[k]!).includes(r.cycle[k + 1]!), `${r.cycle[k]} → ${r.cycle[k + 1]} is not an edge`);
    }), { numRuns: 300 });
  });

  it('breaks ties by declaration order', () => {
    const r = topoOrder(['c', 'a', 'b'], (n) => (n === 'a' ? ['b'] : []));
    assert.deepEqual(r, { ok: true, order: ['c', 'b', 'a'] });
  });

  it('reports a self-loop and a two-node cycle in full', () => {
    assert.deepEqual(topoOrder(['a'], () => ['a']), { ok: false, cycle: ['a', 'a'] });
    const r = topoOrder(['a', 'b'], (n) => (n === 'a' ? ['b'] : ['a']));
    assert.deepEqual(r, { ok: false, cycle: ['a', 'b', 'a'] });
  });
});
