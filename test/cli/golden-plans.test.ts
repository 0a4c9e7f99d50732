import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ROOT, runCli, tempHome } from '../fixtures/cli.js';

/**
 * Golden plans: the JSON plan of representative infras is compared with a file under
 * test/fixtures/golden/. After an intended change, regenerate with UPDATE_GOLDEN=1.
 */
const GOLDEN = join(ROOT, 'test', 'fixtures', 'golden');

function golden(name: string, actual: unknown): void {
  const file = join(GOLDEN, `${name}.json`);
  const text = JSON.stringify(actual, null, 2) + '\n';
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.CI && !existsSync(file)) assert.fail(`golden file ${file} is missing; run the tests once with UPDATE_GOLDEN=1 and commit it`);
    writeFileSync(file, text);
    return;
  }
  assert.deepEqual(actual, JSON.parse(readFileSync(file, 'utf8')), `plan differs from ${file} (UPDATE_GOLDEN=1 regenerates it after an intended change)`);
}

describe('golden plans', () => {
  const home = tempHome();
  const shop = join(home, 'shop');
  const demo = join(home, 'demo');
  before(async () => {
    assert.equal((await runCli(['workspace', 'init', 'shop', shop, '--template', 'minimal'], { home })).code, 0);
    for (const [infra, file] of [['shop', 'settings.toml'], ['shop-ts', 'settings.ts']] as const) {
      mkdirSync(join(shop, 'infra', infra), { recursive: true });
      const src = readFileSync(join(ROOT, 'test', 'fixtures', 'defs', 'shop', file), 'utf8');
      // The example names itself "shop"; the TS copy lives in its own directory.
      writeFileSync(join(shop, 'infra', infra, file), infra === 'shop' ? src : src.replace(/name: "shop",/, 'name: "shop-ts",'));
    }
    writeFileSync(join(shop, 'config', 'prod.toml'), '# production overlay\n');
    assert.equal((await runCli(['workspace', 'init', 'demo', demo, '--template', 'local'], { home })).code, 0);
  });

  const plan = async (cwd: string, args: string[]) => {
    const r = await runCli([...args, '--check', '--out', 'json'], { home, cwd });
    assert.equal(r.code, 0, r.stderr);
    return r.json();
  };

  it('shop (spec/models.md §8): infra create', async () => {
    const p = await plan(shop, ['infra', 'create', '--infra', 'shop', '--environment', 'prod']);
    golden('shop-infra-create', p);
    // The example's own words: web-stack places postgres on db-01 (sharing its installation),
    // nodejs-app on both web servers after it, and haproxy on web-01 last.
    const cluster = p.changes.filter((c: { reason: string }) => /cluster storefront/.test(c.reason)).map((c: { name: string; server: string }) => `${c.name}@${c.server}`);
    assert.deepEqual(cluster, ['nodejs-app@web-01', 'nodejs-app@web-02', 'haproxy@web-01']);
    assert.ok(!JSON.stringify(p).includes('postgres-admin'), 'no secret reference in the plan');
  });

  it('shop in TypeScript plans exactly like shop in TOML', async () => {
    const toml = await plan(shop, ['infra', 'create', '--infra', 'shop', '--environment', 'prod']);
    const ts = await plan(shop, ['infra', 'create', '--infra', 'shop-ts', '--environment', 'prod']);
    const strip = (p: { infra: string; changes: { id: string }[] }) => ({ ...p, infra: '', changes: p.changes.map((c) => ({ ...c, id: c.id.replace(/:shop(-ts)?\//, ':/') })) });
    assert.deepEqual(strip(ts), strip(toml));
  });

  it('local template: server create and taskserv create kubernetes', async () => {
    golden('local-server-create', await plan(demo, ['server', 'create']));
    golden('local-taskserv-create-kubernetes', await plan(demo, ['taskserv', 'create', 'kubernetes', '--servers', 'web-01']));
  });
});
