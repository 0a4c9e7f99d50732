import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { ExtensionCatalog, pathProblem, type ManifestValidator } from '../../src/extensions/layers.js';

type M = { version: string; run?: string };
/** A stand-in validator: the real one is the model's manifest schema; here only layering is under test. */
const validate: ManifestValidator<M> = (_kind, text, _file, dir) => {
  const doc = parse(text) as { extension?: { version?: string }; scripts?: { install?: { run?: string } } };
  if (!doc.extension?.version) return { problem: 'missing [extension].version' };
  const run = doc.scripts?.install?.run;
  if (run) { const p = pathProblem(dir, run); if (p) return { problem: p }; }
  return { manifest: { version: doc.extension.version, run } };
};

function ext(root: string, kind: string, name: string, body: string): string {
  const dir = join(root, `${kind}s`, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'extension.toml'), body);
  return dir;
}

describe('extension layers', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'prov-layers-'));
  const core = join(tmp, 'core');
  const ws = join(tmp, 'ws');
  const infra = join(tmp, 'infra');
  ext(core, 'taskserv', 'redis', '[extension]\nversion = "1.0.0"\n');
  ext(ws, 'taskserv', 'redis', '[extension]\nversion = "2.0.0"\n');
  ext(core, 'taskserv', 'nginx', '[extension]\nversion = "1.0.0"\n');
  ext(infra, 'taskserv', 'nginx', 'not = [valid toml');
  ext(core, 'taskserv', 'etcd', '[extension]\nname = "etcd"\n');
  const esc = ext(ws, 'taskserv', 'escape', '[extension]\nversion = "1.0.0"\n[scripts.install]\nrun = "../../../../etc/passwd"\n');
  const link = ext(ws, 'taskserv', 'linky', '[extension]\nversion = "1.0.0"\n[scripts.install]\nrun = "install.sh"\n');
  symlinkSync('/etc/hostname', join(link, 'install.sh'));
  void esc;
  const cat = new ExtensionCatalog<M>([{ layer: 'core', dir: core }, { layer: 'workspace', dir: ws }, { layer: 'infra', dir: infra }], validate);

  it('lets the most specific layer win as a whole', () => {
    assert.equal(cat.get('taskserv', 'redis')?.version, '2.0.0');
    assert.equal(cat.winner('taskserv', 'redis')?.layer, 'workspace');
    const why = cat.explain('taskserv', 'redis');
    assert.deepEqual(why.map((w) => w.layer), ['workspace', 'core']);
    assert.match(why[0]!.verdict, /wins: workspace is the most specific layer/);
    assert.match(why[1]!.verdict, /loses to the workspace layer/);
  });

  it('makes a broken manifest unusable with a reason, without breaking discovery', () => {
    assert.equal(cat.get('taskserv', 'nginx'), undefined);
    assert.match(cat.winner('taskserv', 'nginx')!.problem!, /manifest could not be read/);
    assert.match(cat.winner('taskserv', 'etcd')!.problem!, /missing \[extension\]\.version/);
    assert.deepEqual(cat.names('taskserv'), ['escape', 'etcd', 'linky', 'nginx', 'redis']);
  });

  it('refuses manifest paths that escape the extension directory, also through symlinks', () => {
    assert.match(cat.winner('taskserv', 'escape')!.problem!, /escapes the extension directory/);
    assert.match(cat.winner('taskserv', 'linky')!.problem!, /links outside the extension directory/);
    assert.match(pathProblem(core, '/etc/passwd')!, /is absolute/);
  });
});
