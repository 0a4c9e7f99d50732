// bench/plan: an infra of 1,000 servers × 5 taskservs, planned end to end by
// `provisioning server create --check --out json` (a fresh process each run: config, definitions,
// catalog, resolution, plan, JSON). Reports median wall time and peak RSS; goal ≤ 1 s and ≤ 200 MB.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, median, writeSection } from '../lib/report.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'provisioning.js');
const runs = Number(process.env.BENCH_RUNS ?? 7);
const servers = Number(process.env.BENCH_SERVERS ?? 1000);
const home = mkdtempSync(join(tmpdir(), 'prov-bench-plan-'));
const ws = join(home, 'big');
const env = { ...process.env, PROVISIONING_HOME: home, HOME: home };
const TASKSERVS = ['containerd', 'etcd', 'node-exporter', 'redis', 'nginx'];

const prov = (args, opts = {}) => spawnSync(process.execPath, [bin, ...args], { env, cwd: ws, encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
const init = spawnSync(process.execPath, [bin, 'workspace', 'init', 'big', ws, '--template', 'minimal'], { env, encoding: 'utf8' });
if (init.status !== 0) throw new Error(init.stderr);

let toml = 'provider = "local"\n';
let ts = "import { defineInfra } from 'provisioning';\n\nexport default defineInfra({\n  provider: 'local',\n  servers: Array.from({ length: " + servers + " }, (_, i) => ({\n    hostname: `node-${String(i).padStart(4, '0')}`, cores: 2, memory: '2GiB', labels: { role: i % 2 ? 'web' : 'cache' },\n    taskservs: " + JSON.stringify(TASKSERVS) + ",\n  })),\n});\n";
for (let i = 0; i < servers; i++) {
  toml += `\n[[servers]]\nhostname = "node-${String(i).padStart(4, '0')}"\ncores = 2\nmemory = "2GiB"\nlabels = { role = "${i % 2 ? 'web' : 'cache'}" }\ntaskservs = ${JSON.stringify(TASKSERVS)}\n`;
}
for (const [name, file, text] of [['toml', 'settings.toml', toml], ['ts', 'settings.ts', ts]]) {
  mkdirSync(join(ws, 'infra', name), { recursive: true });
  writeFileSync(join(ws, 'infra', name, file), text);
}

const hasTime = existsSync('/usr/bin/time');
function once(infra) {
  const args = ['server', 'create', '--check', '--out', 'json', '--infra', infra];
  const t = process.hrtime.bigint();
  const r = hasTime
    ? spawnSync('/usr/bin/time', ['-f', '%M %U %S', process.execPath, bin, ...args], { env, cwd: ws, encoding: 'utf8', maxBuffer: 1 << 28 })
    : prov(args);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr.slice(0, 2000)}`);
  const plan = JSON.parse(r.stdout);
  if (plan.changes.length !== servers) throw new Error(`expected ${servers} changes, got ${plan.changes.length}`);
  const [rssKb, user, sys] = hasTime ? r.stderr.trim().split('\n').pop().split(' ').map(Number) : [NaN, NaN, NaN];
  return { ms, rssMb: rssKb / 1024, cpuMs: (user + sys) * 1000 };
}

once('toml');
once('ts'); // the first TypeScript load type-checks and fills the definition cache
const results = {};
for (const infra of ['toml', 'ts']) {
  const xs = [];
  for (let i = 0; i < runs; i++) xs.push(once(infra));
  results[infra] = { ms: median(xs.map((x) => x.ms)), cpuMs: median(xs.map((x) => x.cpuMs)), rssMb: Math.max(...xs.map((x) => x.rssMb)) };
}
const startup = median(Array.from({ length: runs }, () => { const t = process.hrtime.bigint(); prov(['--version']); return Number(process.hrtime.bigint() - t) / 1e6; }));
console.table(results);

const row = (k, label) => `| ${label} | ${results[k].ms.toFixed(0)} | ${Number.isNaN(results[k].cpuMs) ? 'n/a' : results[k].cpuMs.toFixed(0)} | ${Number.isNaN(results[k].rssMb) ? 'n/a' : results[k].rssMb.toFixed(0)} | ${(results[k].ms / startup).toFixed(1)} |`;
writeSection(root, 'plan', `## Plan of 1,000 servers × 5 taskservs (\`npm run bench:plan\`)

\`provisioning server create --check --out json\` on an infra of ${servers} servers with ${TASKSERVS.length} taskservs each
(${TASKSERVS.join(', ')}), a fresh process per run (config layers, definitions, extension catalog, dependency
resolution, plan, JSON of ${servers} changes). Median of ${runs} runs; peak RSS is the maximum over the runs. CPU time (user + system, all threads)
is less sensitive than wall time to other work on the machine.
Goal: ≤ 1 s and ≤ 200 MB.

| definition | median wall (ms) | median CPU user+sys (ms) | peak RSS (MB) | wall × \`provisioning --version\` |
|---|---:|---:|---:|---:|
${row('toml', 'settings.toml')}
${row('ts', 'settings.ts (definition cache warm)')}

\`provisioning --version\` took ${startup.toFixed(0)} ms in the same run. Machine: ${machine()}. Measured ${new Date().toISOString().slice(0, 10)}.`);
