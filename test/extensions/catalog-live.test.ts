// Opt-in: runs catalog taskservs for real, following the taskserv contract of models.md §5.3
// (install → templates → configure → start → readiness → smoke, every step twice to prove
// idempotency, then check/stop/uninstall), inside a Debian root file system prepared with
//   debootstrap --variant=minbase --include=python3,ca-certificates,procps bookworm <dir>
// and named by PROV_CATALOG_ROOTFS (needs root and access to Debian's archive). A chroot shares the
// host's network, so the settings move every port away from services the host may run.
// The engine's own runs on real servers are tested with the taskserv issue.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deepMerge, isTable, loadCatalog, render, sampleContext, sampleSettings, type Table } from './catalog-support.js';

const ROOTFS = process.env.PROV_CATALOG_ROOTFS ?? '';
const skip = !ROOTFS ? 'set PROV_CATALOG_ROOTFS to a debootstrapped Debian 12 root file system to run catalog taskservs for real'
  : process.getuid?.() !== 0 ? 'needs root (chroot)' : false;
const catalog = loadCatalog();

const RUNS: { name: string; settings: Table }[] = [
  { name: 'redis', settings: { port: 16391, password: 'live-"secret\'$x' } },
  { name: 'nginx', settings: { port: 18089, ipv6: false } },
  { name: 'haproxy', settings: { port: 18090, stats_port: 18404, backend_check_path: '', backends: [{ name: 'stats', address: '127.0.0.1', port: 18404 }] } },  // a TCP-checked backend that is surely up
  { name: 'postgres', settings: { port: 15432, password: 'live-"secret\'$x', databases: ['shop'] } },
  { name: 'etcd', settings: { client_port: 12379, peer_port: 12380 } },
  { name: 'node-exporter', settings: { port: 19100 } },
  { name: 'containerd', settings: { metrics_port: 11338, systemd_cgroup: false } },
];

function chroot(script: string, env: Record<string, string> = {}) {
  return spawnSync('chroot', [ROOTFS, '/bin/sh', '-eu', '-c', script], {
    encoding: 'utf8',
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...env },
    timeout: 600_000,
  });
}

const tcpOpen = (port: number) => new Promise<boolean>((res) => {
  const s = connect({ port, host: '127.0.0.1' }, () => { s.end(); res(true); });
  s.on('error', () => res(false));
});

async function retry(attempts: number, fn: () => Promise<string | undefined>): Promise<void> {
  let last: string | undefined;
  for (let i = 0; i < attempts; i++) {
    last = await fn();
    if (last === undefined) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.fail(last);
}

/** One check of models.md §5.3, run from the host (http, tcp) or inside the root file system (command, file). */
async function runCheck(c: Table, ctx: Table): Promise<string | undefined> {
  const r = (v: unknown) => render(String(v), ctx);
  switch (c.kind) {
    case 'tcp': return (await tcpOpen(Number(r(c.port)))) ? undefined : `tcp ${r(c.port)} closed`;
    case 'http': {
      const res = await fetch(r(c.url)).catch((e: Error) => e);
      if (res instanceof Error) return `${r(c.url)}: ${res.message}`;
      const body = await res.text();
      if (c.expect_status !== undefined && res.status !== c.expect_status) return `${r(c.url)}: status ${res.status}`;
      if (typeof c.expect_body === 'string' && !new RegExp(r(c.expect_body), 'm').test(body)) return `${r(c.url)}: body ${body}`;
      return undefined;
    }
    case 'command': {
      const env = Object.fromEntries(Object.entries((c.env ?? {}) as Table).map(([k, v]) => [k, r(v)]));
      const out = chroot(r(c.command), env);
      if (out.status !== ((c.expect_exit as number | undefined) ?? 0)) return `${r(c.command)}: exit ${out.status}\n${out.stdout}${out.stderr}`;
      if (typeof c.expect_output === 'string' && !out.stdout.split('\n').some((l) => new RegExp(r(c.expect_output)).test(l))) return `${r(c.command)}: output ${out.stdout}`;
      return undefined;
    }
    case 'file': return existsSync(join(ROOTFS, r(c.path))) ? undefined : `${r(c.path)} missing`;
  }
  return `unknown check kind ${String(c.kind)}`;
}

describe('catalog taskservs for real in a Debian root file system', { skip }, () => {
  before(() => {
    writeFileSync(join(ROOTFS, 'etc/resolv.conf'), readFileSync('/etc/resolv.conf'));
    if (!existsSync(join(ROOTFS, 'proc/self'))) assert.equal(spawnSync('mount', ['-t', 'proc', 'proc', join(ROOTFS, 'proc')]).status, 0);
  });
  after(() => { spawnSync('umount', ['-l', join(ROOTFS, 'proc')]); });

  for (const run of RUNS) {
    it(`${run.name}: install, configure, start, readiness and smoke; idempotent; check codes; uninstall`, { timeout: 900_000 }, async () => {
      const ext = catalog.find((e) => e.kind === 'taskserv' && e.name === run.name)!;
      const m = ext.manifest;
      const settings = deepMerge(sampleSettings(m.settings as Table, false), run.settings);
      const ctx = sampleContext(ext, settings);
      const stepDir = `/var/lib/provisioning/taskservs/${ext.name}`;
      mkdirSync(join(ROOTFS, stepDir), { recursive: true });
      writeFileSync(join(ROOTFS, 'tmp/prov-settings.json'), JSON.stringify(settings), { mode: 0o600 });
      const env = { PROV_SETTINGS: '/tmp/prov-settings.json', PROV_TASKSERV: ext.name, PROV_VERSION: String((m.extension as Table).version), PROV_SERVER: 'web-01' };
      const scripts = m.scripts as Record<string, Table>;
      const step = (name: string) => {
        const file = `${stepDir}/${name}.sh`;
        writeFileSync(join(ROOTFS, file), render(readFileSync(join(ext.dir, scripts[name]!.run as string), 'utf8'), ctx), { mode: 0o700 });
        return chroot(`PROV_STEP=${name} /bin/sh -eu ${file}`, env);
      };
      const ok = (name: string) => { const r = step(name); assert.equal(r.status, 0, `${name}: ${r.stdout}\n${r.stderr}`); return r; };
      const templates = () => {
        for (const t of m.templates as Table[]) {
          const target = join(ROOTFS, render(String(t.target), ctx));
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, render(readFileSync(join(ext.dir, String(t.source)), 'utf8'), ctx), { mode: parseInt(String(t.mode ?? '0644'), 8) });
          const owner = `${String(t.owner ?? 'root')}:${String(t.group ?? t.owner ?? 'root')}`;
          assert.equal(chroot(`chown ${owner} ${render(String(t.target), ctx)}`).status, 0);
        }
      };
      const checks = async () => {
        for (const c of [...(m.readiness as Table[]), ...(m.smoke as Table[])]) await retry(isTable(c) && c.retries ? Number(c.retries) : 20, () => runCheck(c, ctx));
      };

      ok('uninstall');   // from a clean slate, whatever an earlier run left; also proves uninstall of nothing succeeds
      assert.equal(step('check').status, 10, 'check before install: not installed');
      for (let pass = 0; pass < 2; pass++) {   // the second pass proves every step idempotent
        ok('install'); templates(); ok('configure'); ok('start');
        await checks();
      }
      const check = ok('check');
      assert.match(check.stdout.trim().split('\n').at(-1)!, /^\{"version":"\d+\.\d+[.\d]*","running":true\}$/);
      assert.equal(chroot(`PROV_STEP=check /bin/sh -eu ${stepDir}/check.sh`, { ...env, PROV_SETTINGS: '' }).status, 0);
      writeFileSync(join(ROOTFS, 'tmp/prov-settings.json'), JSON.stringify({ ...settings, port: 1 }));
      assert.equal(step('check').status, 12, 'changed settings: configuration differs');
      writeFileSync(join(ROOTFS, 'tmp/prov-settings.json'), JSON.stringify(settings));
      ok('stop'); ok('stop');
      assert.equal(step('check').status, 12, 'stopped: not matching');
      ok('start');
      await checks();
      ok('uninstall'); ok('uninstall');
      assert.equal(step('check').status, 10, 'after uninstall: not installed');
    });
  }
});
