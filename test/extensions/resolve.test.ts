import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { resolveTaskservs, type DepEntry, type TaskservDeps, type WantedTaskserv } from '../../src/extensions/resolve.js';

const ts = (name: string, version: string, deps: Partial<TaskservDeps> = {}): TaskservDeps =>
  ({ name, version, layer: 'core layer', requires: {}, optional: {}, conflicts: {}, provides: [], ...deps });
const catalog = new Map([
  ts('containerd', '1.7.0'),
  ts('etcd', '3.5.0'),
  ts('kubernetes', '1.30.0', { requires: { containerd: { version: '>=1.6', scope: 'server' }, etcd: { version: '^3.5', scope: 'server' }, os: { version: '>=1.0', scope: 'server' } } }),
  ts('redis', '7.0.15', { conflicts: { keydb: '*' }, provides: ['kv-store'] }),
  ts('keydb', '6.3.0', { provides: ['kv-store'] }),
  ts('node-exporter', '1.6.0'),
  ts('nginx', '1.22.0', { optional: { 'node-exporter': '>=1.0' } }),
  ts('app', '1.0.0', { requires: { 'kv-store': { version: '*', scope: 'infra' } } }),
  ts('loop-a', '1.0.0', { requires: { 'loop-b': { version: '*', scope: 'server' } } }),
  ts('loop-b', '1.0.0', { requires: { 'loop-a': { version: '*', scope: 'server' } } }),
].map((t) => [t.name, t]));

const want = (names: (string | [string, string])[], server = 0): WantedTaskserv[] => names.map((n, i) => {
  const [name, range] = Array.isArray(n) ? n : [n, undefined];
  const source = `servers[${server}].taskservs[${i}]`;
  return { name, source, at: ['servers', server, 'taskservs', i], ranges: range ? [{ range, source }] : [] };
});
const one = (names: (string | [string, string])[]) => resolveTaskservs([{ hostname: 'node-01', path: 'servers[0]', at: ['servers', 0], taskservs: want(names) }], catalog);

describe('taskserv dependency resolution', () => {
  it('adds server-scope requirements first and says why', () => {
    const r = one(['kubernetes']);
    assert.deepEqual(r.issues, []);
    assert.deepEqual(r.servers.get('node-01')!.map((t) => [t.name, t.reason]), [
      ['containerd', 'required by kubernetes'], ['etcd', 'required by kubernetes'], ['kubernetes', 'declared']]);
  });

  it('keeps declaration order where nothing constrains it, and puts present optional deps first', () => {
    const r = one(['nginx', 'redis', 'node-exporter']);
    assert.deepEqual(r.servers.get('node-01')!.map((t) => t.name), ['node-exporter', 'nginx', 'redis']);
    assert.deepEqual(one(['nginx']).servers.get('node-01')!.map((t) => t.name), ['nginx']);
  });

  it('reports conflicts with both sources', () => {
    const r = one(['redis', 'keydb']);
    assert.equal(r.issues[0]?.code, 'DEF_CONFLICT');
    assert.match(r.issues[0]!.message, /redis \(servers\[0\]\.taskservs\[0\]\) conflicts with keydb 6\.3\.0 \(servers\[0\]\.taskservs\[1\]\) on node-01/);
  });

  it('reports a version that does not satisfy a range, naming the layer and the requirer', () => {
    const r = one([['redis', '^6']]);
    assert.equal(r.issues[0]?.code, 'DEF_VERSION');
    assert.match(r.issues[0]!.message, /redis 7\.0\.15 \(core layer\) does not satisfy \^6 required by servers\[0\]\.taskservs\[0\]/);
    assert.equal(one([['redis', 'not a range']]).issues[0]?.code, 'DEF_VERSION');
  });

  it('reports unknown taskservs with a suggestion and duplicates', () => {
    const r = one(['rediss', 'redis', 'redis']);
    assert.deepEqual(r.issues.map((i) => [i.code, i.path]), [['DEF_REFERENCE', 'servers[0].taskservs[0]'], ['DEF_DUPLICATE', 'servers[0].taskservs[2]']]);
    assert.match(r.issues[0]!.hint!, /did you mean 'redis'/);
  });

  it('reports a cycle with the whole loop', () => {
    const r = one(['loop-a']);
    assert.equal(r.issues[0]?.code, 'DEF_CYCLE');
    assert.match(r.issues[0]!.message, /(loop-a → loop-b → loop-a|loop-b → loop-a → loop-b)/);
  });

  it('checks infra-scope requirements across servers, by capability', () => {
    const ok = resolveTaskservs([
      { hostname: 'web-01', path: 'servers[0]', at: ['servers', 0], taskservs: want(['app']) },
      { hostname: 'cache-01', path: 'servers[1]', at: ['servers', 1], taskservs: want(['redis'], 1) },
    ], catalog);
    assert.deepEqual(ok.issues, []);
    assert.deepEqual(ok.infraEdges, [{ server: 'web-01', taskserv: 'app', needs: [{ server: 'cache-01', taskserv: 'redis' }] }]);
    const missing = resolveTaskservs([{ hostname: 'web-01', path: 'servers[0]', at: ['servers', 0], taskservs: want(['app']) }], catalog);
    assert.match(missing.issues[0]!.message, /requires 'kv-store' somewhere in the infra/);
  });
});

describe('taskserv dependency resolution (property)', () => {
  // A random catalog whose requires edges only point to lower indices (a DAG), declared in random order.
  const catalogArb = fc.integer({ min: 2, max: 12 }).chain((n) => fc.tuple(
    fc.constant(n),
    fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: n * 2 }),
    fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: 1 }),
  ));

  it('installs every requirement before what requires it, and nothing twice (random DAGs)', () => {
    fc.assert(fc.property(catalogArb, ([n, pairs, declared]) => {
      const req = new Map<number, Set<number>>();
      for (const [a, b] of pairs) if (a > b) { if (!req.has(a)) req.set(a, new Set()); req.get(a)!.add(b); }
      const cat = new Map(Array.from({ length: n }, (_, i) => {
        const requires = Object.fromEntries([...(req.get(i) ?? [])].map((j) => [`t${j}`, { version: '*', scope: 'server' as const }]));
        return [`t${i}`, ts(`t${i}`, '1.0.0', { requires })] as const;
      }));
      const r = resolveTaskservs([{ hostname: 'h', path: 'servers[0]', at: ['servers', 0], taskservs: want(declared.map((i) => `t${i}`)) }], cat);
      assert.deepEqual(r.issues, []);
      const order = r.servers.get('h')!.map((t) => t.name);
      assert.equal(new Set(order).size, order.length);
      const pos = new Map(order.map((x, i) => [x, i]));
      for (const name of order) {
        for (const dep of req.get(Number(name.slice(1))) ?? []) {
          assert.ok(pos.has(`t${dep}`), `t${dep} (required by ${name}) missing`);
          assert.ok(pos.get(`t${dep}`)! < pos.get(name)!, `t${dep} must come before ${name}`);
        }
      }
      for (const i of declared) assert.ok(pos.has(`t${i}`));
    }), { numRuns: 200 });
  });

  it('reports a cycle whenever requirements loop (random DAG plus a back edge)', () => {
    fc.assert(fc.property(catalogArb, fc.nat(), ([n, pairs, declared], k) => {
      const a = declared[k % declared.length]!;
      const b = (a + 1 + (k % (n - 1))) % n; // some other taskserv
      const requires = new Map<number, Record<string, DepEntry>>();
      const add = (x: number, y: number) => { requires.set(x, { ...(requires.get(x) ?? {}), [`t${y}`]: { version: '*', scope: 'server' } }); };
      for (const [x, y] of pairs) if (x > y) add(x, y);
      add(a, b);
      add(b, a);
      const cat = new Map(Array.from({ length: n }, (_, i) => [`t${i}`, ts(`t${i}`, '1.0.0', { requires: requires.get(i) ?? {} })] as const));
      const r = resolveTaskservs([{ hostname: 'h', path: 'servers[0]', at: ['servers', 0], taskservs: want([`t${a}`]) }], cat);
      const cycle = r.issues.find((i) => i.code === 'DEF_CYCLE');
      assert.ok(cycle, 'the cycle is reported');
      const loop = cycle.message.split(': ').pop()!.split(' → ');
      assert.equal(loop[0], loop[loop.length - 1]);
    }), { numRuns: 200 });
  });
});
