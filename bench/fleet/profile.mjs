// bench/fleet: summaries of one profiled Provisioning command — the SSH trace of ssh-trace.mjs
// (round trips per server, when the first one starts, how long they wait) and the V8 CPU profile
// of `node --cpu-prof` (where the controller's CPU goes, by package or source area).
import { readFileSync } from 'node:fs';
import { loadCpuProfile } from '../lib/cpuprofile.mjs';
import { median } from '../lib/report.mjs';

/** Per-run SSH summary: ms before the first SSH connect, connect time, operations per server. */
export function summariseTrace(file) {
  const ev = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const boot = ev.find((e) => e.ev === 'boot')?.t ?? 0;
  const exit = ev.find((e) => e.ev === 'exit')?.t;
  const ops = ev.filter((e) => e.port !== undefined);
  const ports = [...new Set(ops.map((e) => e.port))];
  const per = ports.map((p) => {
    const mine = ops.filter((e) => e.port === p);
    const connect = mine.find((e) => e.ev === 'connect');
    const work = mine.filter((e) => e.ev !== 'connect');
    return {
      connectMs: connect?.ms ?? 0, exec: work.filter((e) => e.ev === 'exec').length, upload: work.filter((e) => e.ev === 'upload').length,
      busyMs: work.reduce((a, e) => a + e.ms, 0), end: Math.max(...mine.map((e) => e.t + e.ms)),
    };
  });
  const firstSsh = Math.min(...ops.map((e) => e.t)) - boot;
  const lastEnd = Math.max(...per.map((x) => x.end)) - boot;
  return {
    servers: ports.length, beforeSshMs: firstSsh, connectMs: median(per.map((x) => x.connectMs)),
    exec: median(per.map((x) => x.exec)), upload: median(per.map((x) => x.upload)), perServerMs: median(per.map((x) => x.busyMs)),
    sshPhaseMs: lastEnd - firstSsh, afterSshMs: exit !== undefined ? exit - boot - lastEnd : NaN,
  };
}

const AREAS = [
  [/node_modules\/(dockerode|docker-modem|@grpc|protobufjs|@balena|long|lodash\.camelcase)\//, 'dockerode + gRPC (container engine client)'],
  [/node_modules\/(ssh2|bcrypt-pbkdf|asn1|cpu-features)\//, 'ssh2 (SSH protocol, crypto)'],
  [/node_modules\/nunjucks\/|dist\/src\/engine\/render\.js/, 'nunjucks (rendering scripts and templates)'],
  [/node_modules\/better-sqlite3\/|dist\/src\/store\//, 'state store (SQLite)'],
  [/node_modules\/@aws-sdk|node_modules\/@smithy/, 'AWS SDK'],
  [/dist\/src\/transport\//, 'transport (wrappers, SFTP, pool)'],
  [/dist\/src\/(config|model|infra|extensions|workspace|plan|graph)\//, 'config, definitions, catalog, plan'],
  [/dist\/src\/(engine|cli)\//, 'engine + CLI'],
];

/** CPU time of one `--cpu-prof` profile by area, ms (idle excluded; module compilation counted apart). */
export function summariseCpuProfile(dir) {
  const loaded = loadCpuProfile(dir);
  if (!loaded) return undefined;
  const { p, nodes, parent } = loaded;
  const memo = new Map();
  const area = (id) => {
    if (memo.has(id)) return memo.get(id);
    let label;
    const leaf = nodes.get(id).callFrame;
    if (leaf.functionName === '(idle)') label = 'idle';
    else if (leaf.functionName === '(garbage collector)') label = 'garbage collector';
    else {
      for (let x = id; x !== undefined && !label; x = parent.get(x)) {
        const { url, functionName } = nodes.get(x).callFrame;
        const hit = AREAS.find(([re]) => re.test(url));
        if (hit) label = hit[1];
        else if (functionName === 'compileSourceTextModule' || /^node:internal\/modules/.test(url)) label = 'module loading (node)';
      }
      label ??= 'other (node internals, program)';
    }
    memo.set(id, label);
    return label;
  };
  const by = {};
  p.samples.forEach((s, i) => { const a = area(s); by[a] = (by[a] ?? 0) + p.timeDeltas[i] / 1000; });
  const wall = (p.endTime - p.startTime) / 1000;
  return { wallMs: wall, busyMs: wall - (by.idle ?? 0), areas: Object.entries(by).filter(([k]) => k !== 'idle').sort((a, b) => b[1] - a[1]) };
}
