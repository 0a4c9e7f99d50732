// bench/fleet: N Debian containers with sshd (N = 1, 10, 30); the reference service (app directory,
// config rendered from a template, a small HTTP service, verified over HTTP on the server) applied
// once from scratch and once more when converged, by Provisioning (`taskserv create` through the
// static provider over SSH) and by Ansible (an equivalent playbook, ANSIBLE_PIPELINING=True,
// forks = N), each on its own fresh containers, interleaved in the same run. Wall time of each
// whole command (a fresh process each); medians and ratios go to docs/performance.md.
//   BENCH_SIZES=1,10,30        sizes
//   BENCH_REPS=1:5,10:3,30:2   repetitions per size
//   BENCH_FACTS=1,10           sizes where a converged Ansible run with its default fact gathering is added
//   BENCH_PROFILE=1            after the measured runs, one more Provisioning run per size (not in the
//                              medians) with --cpu-prof and an SSH trace: where its time goes
//   BENCH_KEEP=1               keep the temp dir (profiles, traces, outputs)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, median, writeSection } from '../lib/report.mjs';
import { createFleet, removeFleet, startEngine } from './fleet.mjs';
import { summariseCpuProfile, summariseTrace } from './profile.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const bin = join(root, 'bin', 'provisioning.js');
const sizes = (process.env.BENCH_SIZES ?? '1,10,30').split(',').map(Number);
const reps = Object.fromEntries((process.env.BENCH_REPS ?? '1:5,10:3,30:2').split(',').map((x) => x.split(':').map(Number)));
const factSizes = new Set((process.env.BENCH_FACTS ?? '1,10').split(',').filter(Boolean).map(Number));
const profiling = process.env.BENCH_PROFILE !== '0';
const TASKSERV = 'refapp';
const log = (...a) => console.error(`[fleet ${new Date().toISOString().slice(11, 19)}]`, ...a);
const loadAtStart = loadavg()[0];

const tmp = mkdtempSync(join(tmpdir(), 'prov-bench-fleet-'));
const runId = `${process.pid}-${Date.now().toString(36)}`;
const key = join(tmp, 'id_ed25519');
spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'prov-bench-fleet', '-f', key], { stdio: 'inherit' });
const publicKey = readFileSync(`${key}.pub`, 'utf8').trim();

// Ansible from Debian's archive, as the other real parts are installed: only when missing.
if (spawnSync('sh', ['-c', 'command -v ansible-playbook']).status !== 0) {
  log('installing ansible-core (apt-get)…');
  const r = spawnSync('sh', ['-c', 'apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends ansible-core'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('apt-get install ansible-core failed');
}
// What was measured: the commit, and whether src/ differed from it (others may be editing the same tree).
const commit = process.env.BENCH_COMMIT ?? (() => {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src', 'extensions'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  return head ? `${head}${dirty ? ' with uncommitted changes in src/ or extensions/' : ''}` : 'unknown';
})();
const ansibleVersion = spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].trim();

const { docker, image } = await startEngine(root, log);
let cleaning = false;
async function cleanup() {
  if (cleaning) return;
  cleaning = true;
  const n = await removeFleet(docker, runId);
  if (n) log(`removed ${n} containers`);
  if (process.env.BENCH_KEEP !== '1') rmSync(tmp, { recursive: true, force: true });
  else log(`kept ${tmp}`);
}
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { cleanup().finally(() => process.exit(130)); });

/** CPU time (ms) the fleet's containers have used so far: cgroup v1 cpuacct, else v2 cpu.stat; NaN if neither. */
function fleetCpuMs(fleet) {
  let sum = 0;
  for (const m of fleet) {
    const v1 = `/sys/fs/cgroup/cpuacct/libpod_parent/libpod-${m.id}/cpuacct.usage`;
    const v2 = `/sys/fs/cgroup/unified/libpod_parent/libpod-${m.id}/cpu.stat`;
    if (existsSync(v1)) sum += Number(readFileSync(v1, 'utf8')) / 1e6;
    else if (existsSync(v2)) sum += Number(/usage_usec (\d+)/.exec(readFileSync(v2, 'utf8'))[1]) / 1e3;
    else return NaN;
  }
  return sum;
}

/**
 * Run a command, timing the whole process; /usr/bin/time adds the CPU time of it and its children
 * (the controller's), the containers' cgroups the CPU time spent on the servers meanwhile.
 */
function timed(fleet, cmd, args, opts) {
  const out = join(tmp, 'time.out');
  const cpu0 = fleetCpuMs(fleet);
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', '-o', out, cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const serverCpuMs = fleetCpuMs(fleet) - cpu0;
  const [user, sys, rssKb] = readFileSync(out, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { ...r, ms, cpuMs: (user + sys) * 1000, serverCpuMs, rssMb: rssKb / 1024 };
}

function fail(what, r) {
  throw new Error(`${what} exited ${r.status}:\n${(r.stdout ?? '').slice(-4000)}\n${(r.stderr ?? '').slice(-4000)}`);
}

/**
 * What each server serves, and the service's pid and config mtime: read through the engine (not by
 * either tool), to check that the apply worked and that the converged re-apply touched nothing.
 */
async function observe(fleet) {
  const script = 'printf "%s %s\\n" "$(cat /run/refapp.pid 2>/dev/null)" "$(stat -c %Y /srv/refapp/app.conf 2>/dev/null)"; curl -fsS --max-time 5 http://127.0.0.1:8080/app.conf';
  return Promise.all(fleet.map(async (m) => {
    const exec = await docker.getContainer(m.id).exec({ Cmd: ['/bin/sh', '-c', script], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    const chunks = [];
    await new Promise((res, rej) => { stream.on('data', (d) => chunks.push(d)); stream.on('end', res); stream.on('error', rej); });
    // Multiplexed stream: 8-byte frame headers; keep the payloads.
    const buf = Buffer.concat(chunks);
    let out = '';
    for (let i = 0; i + 8 <= buf.length;) { const len = buf.readUInt32BE(i + 4); out += buf.subarray(i + 8, i + 8 + len).toString(); i += 8 + len; }
    const [stamp, ...page] = out.split('\n');
    return { name: m.name, stamp, page: page.join('\n') };
  }));
}

function assertServed(tool, seen) {
  for (const s of seen) {
    if (!new RegExp(`^host = ${s.name}$`, 'm').test(s.page)) throw new Error(`${tool}: ${s.name} does not serve its rendered config:\n${s.page}`);
  }
}
function assertUntouched(tool, before, after) {
  for (let i = 0; i < before.length; i++) {
    if (before[i].stamp !== after[i].stamp) throw new Error(`${tool}: the converged re-apply restarted the service or rewrote the config on ${before[i].name} (pid/mtime ${before[i].stamp} → ${after[i].stamp})`);
  }
}

// ---- Ansible ----------------------------------------------------------------------------------
async function ansibleRun(n, withFacts) {
  const dir = mkdtempSync(join(tmp, `ansible-${n}-`));
  const fleet = await createFleet(docker, { image, n, prefix: 'fleet', runId, publicKey });
  try {
    writeFileSync(join(dir, 'inventory.ini'), ['[fleet]', ...fleet.map((m) => `${m.name} ansible_host=127.0.0.1 ansible_port=${m.port}`),
      '', '[fleet:vars]', 'ansible_user=root', `ansible_ssh_private_key_file=${key}`,
      // Set, as most inventories do: saves the interpreter discovery round trip.
      'ansible_python_interpreter=/usr/bin/python3', ''].join('\n'));
    const env = (gathering) => ({
      ...process.env, ANSIBLE_PIPELINING: 'True', ANSIBLE_FORKS: String(n), ANSIBLE_HOST_KEY_CHECKING: 'False',
      ANSIBLE_GATHERING: gathering, ANSIBLE_RETRY_FILES_ENABLED: 'False', ANSIBLE_NOCOLOR: '1',
      ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'), ANSIBLE_SSH_CONTROL_PATH_DIR: join(dir, 'cp'), HOME: dir,
    });
    const play = (gathering, expectChanged) => {
      const r = timed(fleet, 'ansible-playbook', ['-i', join(dir, 'inventory.ini'), join(here, 'ansible', 'playbook.yml')], { env: env(gathering), cwd: dir });
      if (r.status !== 0) fail(`ansible-playbook (N=${n})`, r);
      const recap = [...r.stdout.matchAll(/^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)];
      if (recap.length !== n || recap.some((x) => Number(x[3]) !== expectChanged || x[4] !== '0' || x[5] !== '0')) {
        throw new Error(`ansible-playbook (N=${n}): expected changed=${expectChanged} on ${n} hosts, recap:\n${recap.map((x) => x[0]).join('\n')}`);
      }
      return r;
    };
    // Fact gathering off for the compared runs (the playbook uses no facts), so Ansible is measured
    // at its fastest for this playbook.
    const first = play('explicit', 3);
    const seen = await observe(fleet);
    assertServed('ansible', seen);
    const again = play('explicit', 0);
    assertUntouched('ansible', seen, await observe(fleet));
    // Ansible's default (gather_facts on): one more converged run; its difference from `again` is the facts' cost.
    const facts = withFacts ? play('implicit', 0) : undefined;
    return { first, again, facts };
  } finally {
    await removeFleet(docker, runId);
  }
}

// ---- Provisioning -----------------------------------------------------------------------------
async function provRun(n, { profile = false } = {}) {
  const home = mkdtempSync(join(tmp, `prov-${n}-${profile ? 'profile-' : ''}`));
  const ws = join(home, 'ws');
  const env = {
    ...process.env, PROVISIONING_HOME: home, HOME: home, NO_COLOR: '1',
    // As many servers at once as Ansible's forks.
    PROVISIONING_EXECUTION__PARALLEL_LIMIT: String(Math.max(n, 1)),
  };
  const nodeArgs = (prof) => [
    ...(prof ? ['--cpu-prof', '--cpu-prof-dir', join(home, 'prof', prof), '--import', join(here, 'ssh-trace.mjs')] : []),
  ];
  const init = spawnSync(process.execPath, [bin, 'workspace', 'init', 'fleet', ws, '--template', 'minimal'], { env, encoding: 'utf8' });
  if (init.status !== 0) fail('workspace init', init);
  // The reference taskserv as a workspace-layer extension.
  cpSync(join(here, 'workspace', 'extensions'), join(ws, 'extensions'), { recursive: true });
  const fleet = await createFleet(docker, { image, n, prefix: 'fleet', runId, publicKey });
  const prov = (args, prof) => timed(fleet, process.execPath, [...nodeArgs(prof), bin, ...args], { env: { ...env, PROV_BENCH_TRACE: prof ? join(home, `${prof}.trace.jsonl`) : '' }, cwd: ws });
  try {
    mkdirSync(join(ws, 'infra', 'fleet'), { recursive: true });
    writeFileSync(join(ws, 'infra', 'fleet', 'settings.toml'), ['provider = "static"', '',
      ...fleet.flatMap((m) => ['[[servers]]', `hostname = "${m.name}"`, `taskservs = ["${TASKSERV}"]`, '[servers.provider_settings]', 'address = "127.0.0.1"',
        '[servers.ssh]', `port = ${m.port}`, `private_key = "${key}"`, '']),
    ].join('\n'));
    // Record the machines (verify over SSH, pin host keys): timed, but reported apart from the apply.
    const record = prov(['server', 'create', '--infra', 'fleet', '--yes', '--out', 'json']);
    if (record.status !== 0) fail(`server create (N=${n})`, record);
    const apply = (prof) => {
      const r = prov(['taskserv', 'create', TASKSERV, '--infra', 'fleet', '--yes', '--out', 'json'], prof);
      if (r.status !== 0) fail(`taskserv create (N=${n})`, r);
      const notes = JSON.parse(r.stdout).results.map((x) => x.note);
      return { ...r, notes };
    };
    const first = apply(profile ? 'first' : undefined);
    if (!first.notes.every((x) => /^installed/.test(x))) throw new Error(`provisioning (N=${n}): first apply did not install everywhere: ${first.notes.join('; ')}`);
    const seen = await observe(fleet);
    assertServed('provisioning', seen);
    const again = apply(profile ? 'again' : undefined);
    if (!again.notes.every((x) => /^unchanged/.test(x))) throw new Error(`provisioning (N=${n}): converged re-apply changed something: ${again.notes.join('; ')}`);
    assertUntouched('provisioning', seen, await observe(fleet));
    if (!profile) return { record, first, again };
    const summary = (k) => ({ wallMs: (k === 'first' ? first : again).ms, trace: summariseTrace(join(home, `${k}.trace.jsonl`)), cpu: summariseCpuProfile(join(home, 'prof', k)) });
    return { first: summary('first'), again: summary('again') };
  } finally {
    await removeFleet(docker, runId);
  }
}

// ---- the run ----------------------------------------------------------------------------------
const results = {};
const profiles = {};
try {
  // Warm the file cache for both tools (not measured).
  spawnSync(process.execPath, [bin, '--version'], { stdio: 'ignore' });
  spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' });
  for (const n of sizes) {
    const r = { ansible: [], prov: [] };
    const k = reps[n] ?? 3;
    for (let i = 0; i < k; i++) {
      // Alternate which tool goes first, so neither always meets the machine in the same state.
      for (const tool of i % 2 ? ['ansible', 'prov'] : ['prov', 'ansible']) {
        log(`N=${n} rep ${i + 1}/${k}: ${tool}…`);
        const x = tool === 'ansible' ? await ansibleRun(n, factSizes.has(n)) : await provRun(n);
        r[tool].push(x);
        log(`N=${n} rep ${i + 1}/${k}: ${tool} first ${x.first.ms.toFixed(0)} ms, converged ${x.again.ms.toFixed(0)} ms${x.facts ? `, converged with facts ${x.facts.ms.toFixed(0)} ms` : ''}${x.record ? ` (server create ${x.record.ms.toFixed(0)} ms)` : ''}`);
      }
    }
    results[n] = r;
  }
  if (profiling) {
    for (const n of sizes) {
      log(`N=${n}: profiled Provisioning run (not in the medians)…`);
      // A failure here must not lose the measured runs: the report goes without this profile.
      profiles[n] = await provRun(n, { profile: true }).catch((err) => { log(`profile of N=${n} failed: ${err.message}`); return undefined; });
    }
  }
} finally {
  await cleanup();
}

// ---- report -----------------------------------------------------------------------------------
const s = (ms) => (Number.isNaN(ms) ? 'n/a' : (ms / 1000).toFixed(2));
const ratio = (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? 'n/a' : `${(a / b).toFixed(1)}×`);
const med = (xs, f) => (xs.length ? median(xs.map(f)) : NaN);
const M = {};
for (const n of sizes) {
  const { ansible, prov } = results[n];
  M[n] = {
    pf: med(prov, (x) => x.first.ms), pa: med(prov, (x) => x.again.ms), pr: med(prov, (x) => x.record.ms),
    af: med(ansible, (x) => x.first.ms), aa: med(ansible, (x) => x.again.ms), afacts: med(ansible.filter((x) => x.facts), (x) => x.facts.ms),
    pfc: med(prov, (x) => x.first.cpuMs), pac: med(prov, (x) => x.again.cpuMs), afc: med(ansible, (x) => x.first.cpuMs), aac: med(ansible, (x) => x.again.cpuMs),
    pfs: med(prov, (x) => x.first.serverCpuMs), pas: med(prov, (x) => x.again.serverCpuMs), afs: med(ansible, (x) => x.first.serverCpuMs), aas: med(ansible, (x) => x.again.serverCpuMs),
    reps: prov.length,
  };
}
console.table(Object.fromEntries(sizes.map((n) => [n, Object.fromEntries(Object.entries(M[n]).map(([k, v]) => [k, Math.round(v)]))])));

const rows = sizes.map((n) => { const m = M[n]; return `| ${n} | ${m.reps} | ${s(m.pf)} | ${s(m.af)} | **${ratio(m.af, m.pf)}** | ${s(m.pa)} | ${s(m.aa)} | **${ratio(m.aa, m.pa)}** | ${s(m.afacts)} | ${s(m.pr)} |`; });
const cpuRows = sizes.map((n) => { const m = M[n]; return `| ${n} | ${s(m.pfc)} | ${s(m.afc)} | ${s(m.pac)} | ${s(m.aac)} | ${s(m.pfs)} | ${s(m.afs)} | ${s(m.pas)} | ${s(m.aas)} |`; });
const goal = (n, a, p, want) => { const m = M[n]; if (!m) return 'not measured'; const v = m[a] / m[p]; return Number.isNaN(v) ? 'n/a' : `${v.toFixed(1)}× (${v >= want ? 'met' : 'missed'})`; };
const goals = [10, 30].filter((n) => M[n]).map((n) => `N = ${n}: first apply ${goal(n, 'af', 'pf', 10)}, converged ${goal(n, 'aa', 'pa', 20)}`);
const flat = (k) => (M[1] && M[30] ? `${(M[30][k] / M[1][k]).toFixed(1)}×` : 'n/a');

let profileText = '';
if (profiling && Object.values(profiles).some(Boolean)) {
  const prow = (n, k) => {
    const p = profiles[n][k];
    const areas = p.cpu ? p.cpu.areas.slice(0, 4).map(([a, ms]) => `${a} ${ms.toFixed(0)}`).join(', ') : 'n/a';
    return `| ${n} | ${k === 'first' ? 'first' : 'converged'} | ${s(p.wallMs)} | ${p.trace.beforeSshMs.toFixed(0)} | ${p.trace.connectMs.toFixed(0)} | ${p.trace.exec} + ${p.trace.upload} | ${p.trace.perServerMs.toFixed(0)} | ${p.trace.sshPhaseMs.toFixed(0)} | ${p.trace.afterSshMs.toFixed(0)} | ${p.cpu ? p.cpu.busyMs.toFixed(0) : 'n/a'} | ${areas} |`;
  };
  profileText = `
**Where Provisioning's time goes** — one more run per N with \`--cpu-prof\` and an SSH trace
(\`bench/fleet/ssh-trace.mjs\`), not in the medians above. "Before SSH": from process start to the
first SSH connection (start-up, config, definitions, catalog, plan, lock, state). Round trips per
server: commands run (each an SSH channel running the transport's wrapper) + uploads (each an SFTP
write plus one command that places the file). "Per server": the sum of those round trips' durations,
median over servers. Controller CPU by area from the V8 profile (ms; idle excluded).

| N | run | wall (s) | before SSH (ms) | SSH connect, median (ms) | round trips per server | per server (ms) | SSH phase (ms) | after SSH (ms) | controller CPU (ms) | largest CPU areas (ms) |
|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
${sizes.filter((n) => profiles[n]).flatMap((n) => [prow(n, 'first'), prow(n, 'again')]).join('\n')}
`;
}


if (!sizes.every((n) => results[n].prov.length)) { log('no Provisioning runs: docs/performance.md left alone'); process.exit(0); }
writeSection(root, 'fleet', `## Fleet: Provisioning vs Ansible (\`npm run bench:fleet\`)

N Debian 12 containers with sshd and python3 (\`${image}\`, the local provider's base image), ports
published on 127.0.0.1. The reference service is applied once from scratch ("first") and once more
when converged, by each tool on its own fresh containers, interleaved in the same run (the tool
that goes first alternates). The service: an app
directory, a config file rendered from a template, python3's \`http.server\` serving it (started in
the background with a pid file), verified over HTTP on the server.

- **Provisioning**: the workspace-layer taskserv \`bench/fleet/workspace/extensions/taskservs/refapp\`
  (install, template, configure, start, check, tcp readiness, http smoke check on the server) applied
  by \`provisioning taskserv create refapp --infra fleet --yes\` on a \`static\` infra over SSH, N servers
  at once (\`execution.parallel_limit\` = N). The machines are recorded first by
  \`server create\` (its time is the last column, not part of the ratios).
- **Ansible**: the equivalent \`bench/fleet/ansible/playbook.yml\` (file, template, shell, wait_for,
  uri) with ${ansibleVersion}, \`ANSIBLE_PIPELINING=True\`, forks = N, host key checking off,
  \`ansible_python_interpreter\` set (no discovery round trip), SSH ControlPersist as by default.
  **Fact gathering is off** in the compared runs (\`ANSIBLE_GATHERING=explicit\`; the playbook uses
  no facts): Ansible at its fastest here. Its default gathers facts: the "facts on" column is one more
  converged run with the default on the same containers (measured at N ∈ {${[...factSizes].join(', ')}}).

Wall time of the whole command (a fresh process), median over the repetitions (fewer at N = 30,
where Ansible alone takes minutes). After each apply the bench reads every server through the
engine: the served page must be the config rendered for that server, and the converged re-apply
must leave the service's pid and the config's mtime unchanged (and Ansible's recap must say
changed=0; Provisioning's results must all be "unchanged (check passed)").

| N | reps | Provisioning first (s) | Ansible first (s) | ratio | Provisioning converged (s) | Ansible converged (s) | ratio | Ansible converged, facts on (s) | Provisioning \`server create\` (s) |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

Goals: first apply ≥ 10× faster than Ansible and converged re-apply ≥ 20× faster at N = 10 and
N = 30, time nearly flat in N. This run: ${goals.join('; ')}. From N = 1 to N = 30 Provisioning's
first apply grew ${flat('pf')} and its converged re-apply ${flat('pa')} (Ansible: ${flat('af')}, ${flat('aa')}).

CPU time, median (s): "controller" is the command and all its children (Ansible's forks and \`ssh\`
processes included), "servers" the containers' cgroups during the command. The servers share the
machine's cores with the controller, so server-side work slows both tools as N grows.

| N | controller, Provisioning first | controller, Ansible first | controller, Provisioning converged | controller, Ansible converged | servers, Provisioning first | servers, Ansible first | servers, Provisioning converged | servers, Ansible converged |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${cpuRows.join('\n')}
${profileText}
Provisioning at commit ${commit}. Machine: ${machine()} (${loadAtStart.toFixed(1)} when it started). Measured ${new Date().toISOString().slice(0, 10)}.`);
