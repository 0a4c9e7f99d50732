// bench/fleet profiling aid (BENCH_PROFILE=1), loaded with `node --import` into the measured CLI:
// one JSON line per SSH connect, exec and upload (start offset, duration, port, command) appended
// to $PROV_BENCH_TRACE, so a run shows how many round trips each server costs and where they wait.
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SshPool, SshTransport } from '../../dist/src/transport/ssh/index.js';

const file = process.env.PROV_BENCH_TRACE;
const log = (o) => appendFileSync(file, `${JSON.stringify(o)}\n`);
log({ ev: 'boot', t: performance.now(), pid: process.pid });
process.on('exit', () => log({ ev: 'exit', t: performance.now() }));

for (const m of ['exec', 'upload']) {
  const orig = SshTransport.prototype[m];
  SshTransport.prototype[m] = async function (what, ...rest) {
    const t = performance.now();
    try {
      return await orig.call(this, what, ...rest);
    } finally {
      log({ ev: m, port: this.endpoint.port, t, ms: performance.now() - t, what: m === 'upload' ? what : Array.isArray(what) ? what.join(' ').slice(0, 60) : 'script' });
    }
  };
}
const get = SshPool.prototype.get;
SshPool.prototype.get = function (target) {
  const t = performance.now();
  const p = get.call(this, target);
  p.then(() => log({ ev: 'connect', port: target.port, t, ms: performance.now() - t }), () => undefined);
  return p;
};
