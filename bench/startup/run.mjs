// bench/startup: median wall time of `provisioning --version` (and `help`) against `node -e 0`,
// interleaved in the same run so machine noise hits both. Writes docs/performance.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, median, writeSection } from '../lib/report.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'provisioning.js');
const runs = Number(process.env.BENCH_RUNS ?? 40);
const home = mkdtempSync(join(tmpdir(), 'prov-bench-'));
const env = { ...process.env, PROVISIONING_HOME: home };

const cases = {
  'node -e 0': [process.execPath, ['-e', '0']],
  'provisioning --version': [process.execPath, [bin, '--version']],
  'provisioning help': [process.execPath, [bin, 'help']],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));

function once(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

for (const [cmd, args] of Object.values(cases)) once(cmd, args); // warm the file cache
for (let i = 0; i < runs; i++) for (const [name, [cmd, args]] of Object.entries(cases)) times[name].push(once(cmd, args));

const base = median(times['node -e 0']);
const rows = Object.entries(times).map(([name, xs]) => ({ name, median_ms: median(xs), ratio: median(xs) / base }));
console.table(rows.map((r) => ({ ...r, median_ms: r.median_ms.toFixed(1), ratio: r.ratio.toFixed(2) })));

const table = ['| command | median (ms) | ratio to `node -e 0` |', '|---|---:|---:|',
  ...rows.map((r) => `| \`${r.name}\` | ${r.median_ms.toFixed(1)} | ${r.ratio.toFixed(2)} |`)].join('\n');
writeSection(root, 'startup', `## Start-up (\`npm run bench:startup\`)

${runs} interleaved runs of each command, median wall time of the whole process (spawn to exit).
Goal: \`provisioning --version\` ≤ 1.5 × \`node -e 0\`.

${table}

Machine: ${machine()}. Measured ${new Date().toISOString().slice(0, 10)}.`);
const ratio = rows.find((r) => r.name === 'provisioning --version').ratio;
console.log(`--version / node -e 0 = ${ratio.toFixed(2)} (goal ≤ 1.5)`);
