/**
 * Ordering a dependency graph: topological order with declaration order as the tie-break,
 * and cycles reported as the full loop (`a → b → a`). Shared by the taskserv resolver,
 * clusters and the workflow engine's DAG.
 */

export type TopoResult<T> = { ok: true; order: T[] } | { ok: false; cycle: T[] };

/**
 * `nodes` in declaration order; `deps(n)` lists what must come before `n` (unknown nodes are
 * ignored). Depth-first, in declaration order, emitting a node after its dependencies: every
 * dependency lands just before its first dependent and everything else keeps its declared place.
 * Iterative, O(V+E), so long chains of workflow operations cannot overflow the stack.
 */
export function topoOrder<T>(nodes: readonly T[], deps: (n: T) => Iterable<T>): TopoResult<T> {
  const known = new Set(nodes);
  const state = new Map<T, 1 | 2>(); // 1 = on the current path, 2 = emitted
  const order: T[] = [];
  for (const root of nodes) {
    if (state.has(root)) continue;
    const path: T[] = [root];
    const pending: Iterator<T>[] = [deps(root)[Symbol.iterator]()];
    state.set(root, 1);
    while (path.length) {
      const step = pending[pending.length - 1]!.next();
      if (step.done) {
        const done = path.pop()!;
        pending.pop();
        state.set(done, 2);
        order.push(done);
        continue;
      }
      const d = step.value;
      if (!known.has(d)) continue;
      const s = state.get(d);
      if (s === 1) return { ok: false, cycle: [...path.slice(path.indexOf(d)), d] };
      if (s === 2) continue;
      state.set(d, 1);
      path.push(d);
      pending.push(deps(d)[Symbol.iterator]());
    }
  }
  return { ok: true, order };
}

/**
 * Each elementary cycle reachable by DFS, once, as the list of its nodes in edge order
 * ("a depends on b depends on a" → [a, b]). Linear in nodes + edges.
 */
export function findCycles(nodes: string[], edges: Map<string, string[]>): string[][] {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      const s = state.get(m);
      if (s === 1) cycles.push(stack.slice(stack.indexOf(m)));
      else if (s === undefined) visit(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of nodes) if (!state.has(n)) visit(n);
  return cycles;
}

export const formatCycle = (cycle: readonly string[]): string => cycle.join(' → ');
