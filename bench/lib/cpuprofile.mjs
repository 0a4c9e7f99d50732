// The first `.cpuprofile` of a `node --cpu-prof` directory, with its nodes by id and each node's
// parent, for the benchmarks' summaries of where CPU time goes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function loadCpuProfile(dir) {
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f))[0];
  if (!file) return undefined;
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return { p, nodes, parent };
}
