import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { userDirs } from '../../src/config/paths.js';
import type { ProvError } from '../../src/errors/index.js';
import { entryPath, nameOfPath, readRegistry, registryFile, storedPath, updateRegistry } from '../../src/workspace/registry.js';

function home() {
  const dir = mkdtempSync(join(tmpdir(), 'prov-reg-'));
  const env = { PROVISIONING_HOME: dir, HOME: dir };
  return { dir, env, dirs: userDirs(env) };
}

describe('workspace registry', () => {
  it('round-trips entries, the active name and last_used through workspaces.toml', async () => {
    const h = home();
    await updateRegistry(h.dirs, (r) => {
      r.workspaces.shop = { path: '~/work/shop', last_used: '2025-06-03T17:40:02Z', default_infra: 'shop', default_environment: 'prod' };
      r.workspaces.demo = { path: '/srv/demo' };
      r.active = 'shop';
    });
    const reg = readRegistry(h.dirs);
    assert.equal(reg.active, 'shop');
    assert.deepEqual(reg.workspaces.shop, { path: '~/work/shop', last_used: '2025-06-03T17:40:02Z', default_infra: 'shop', default_environment: 'prod' });
    assert.deepEqual(reg.workspaces.demo, { path: '/srv/demo' });
    const text = readFileSync(registryFile(h.dirs), 'utf8');
    assert.match(text, /last_used = 2025-06-03T17:40:02Z/);
    assert.ok(text.indexOf('[workspaces.demo]') < text.indexOf('[workspaces.shop]'), 'entries are sorted by name');
  });

  it('stores paths below HOME with ~ and finds an entry by its directory', async () => {
    const h = home();
    const ws = join(h.dir, 'work', 'shop');
    mkdirSync(ws, { recursive: true });
    assert.equal(storedPath(ws, h.env), '~/work/shop');
    assert.equal(storedPath('/srv/elsewhere', h.env), '/srv/elsewhere');
    await updateRegistry(h.dirs, (r) => { r.workspaces.shop = { path: storedPath(ws, h.env) }; });
    const reg = readRegistry(h.dirs);
    assert.equal(entryPath(reg.workspaces.shop!, h.env), ws);
    assert.equal(nameOfPath(reg, join(ws, '.'), h.env), 'shop');
    assert.equal(nameOfPath(reg, h.dir, h.env), undefined);
  });

  it('reports a damaged file with file and line, and never rewrites it', async () => {
    const h = home();
    mkdirSync(h.dirs.configHome, { recursive: true });
    const damaged = 'version = 1\nactive = "shop"\n\n[workspaces.shop\npath = "~/shop"\n';
    writeFileSync(registryFile(h.dirs), damaged);
    assert.throws(() => readRegistry(h.dirs), (e: ProvError) => {
      assert.equal(e.code, 'REGISTRY_INVALID');
      assert.equal(e.exitCode, 3);
      assert.equal(e.location?.file, registryFile(h.dirs));
      assert.equal(e.location?.line, 4);
      return true;
    });
    await assert.rejects(updateRegistry(h.dirs, (r) => { r.workspaces.x = { path: '/x' }; }), (e: ProvError) => e.code === 'REGISTRY_INVALID');
    assert.equal(readFileSync(registryFile(h.dirs), 'utf8'), damaged);
  });

  it('rejects an active name without an entry', () => {
    const h = home();
    mkdirSync(h.dirs.configHome, { recursive: true });
    writeFileSync(registryFile(h.dirs), 'version = 1\nactive = "gone"\n');
    assert.throws(() => readRegistry(h.dirs), /active workspace 'gone' has no \[workspaces.gone\] entry/);
  });

  it('writes nothing when the change function throws', async () => {
    const h = home();
    await updateRegistry(h.dirs, (r) => { r.workspaces.a = { path: '/a' }; });
    const before = readFileSync(registryFile(h.dirs), 'utf8');
    await assert.rejects(updateRegistry(h.dirs, (r) => { r.workspaces.b = { path: '/b' }; throw new Error('no'); }), /no/);
    assert.equal(readFileSync(registryFile(h.dirs), 'utf8'), before);
  });
});
