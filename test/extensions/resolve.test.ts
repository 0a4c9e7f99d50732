import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveTaskservs, type TaskservDeps, type WantedTaskserv } from '../../src/extensions/resolve.js';

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
