import type { LoadOptions } from '../config/index.js';
import type { Globals, Io } from './context.js';

/** Keys the global flags set at the CLI layer (spec/config.md §6). */
function flagKeys(g: Globals): LoadOptions['cli']['flags'] {
  const out: LoadOptions['cli']['flags'] = [];
  if (g.out) out.push({ key: 'output.format', value: g.out, flag: '--out' });
  if (g.check) out.push({ key: 'execution.check', value: true, flag: '--check' });
  if (g.wait) out.push({ key: 'execution.wait', value: true, flag: '--wait' });
  if (g.timeout) out.push({ key: 'execution.wait_timeout', value: g.timeout, flag: '--timeout' });
  if (g.orchestrated) out.push({ key: 'execution.mode', value: 'orchestrated', flag: '--orchestrated' });
  if (g.direct) out.push({ key: 'execution.mode', value: 'direct', flag: '--direct' });
  if (g.debug) out.push({ key: 'logging.level', value: 'debug', flag: '--debug' });
  if (g.color === false) out.push({ key: 'output.color', value: 'never', flag: '--no-color' });
  return out;
}

/** The one place that turns a command line into configuration load options. */
export function loadOptionsFor(globals: Globals, io: Io, extra: Partial<LoadOptions> = {}): LoadOptions {
  return {
    cwd: io.cwd, env: io.env,
    select: { workspace: globals.workspace, infra: globals.infra, environment: globals.environment },
    cli: { set: globals.set, flags: flagKeys(globals) },
    ...extra,
  };
}
