import { readFileSync } from 'node:fs';
import type { Io } from './context.js';

/**
 * Entry point. Kept tiny on purpose: `--version` answers before anything else is loaded,
 * and everything else (parser, command table, handlers) is imported on demand.
 */

let cachedVersion: string | undefined;
export function cliVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cachedVersion;
}

export async function main(argv: string[], io?: Io): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    (io?.stdout ?? process.stdout).write(`provisioning ${cliVersion()}\n`);
    return 0;
  }
  if (argv[0] === '__complete') {
    const { complete } = await import('./completion.js');
    (io?.stdout ?? process.stdout).write(complete(argv.slice(1).filter((w, i) => !(i === 0 && w === '--'))).join('\n') + '\n');
    return 0;
  }
  const { dispatch } = await import('./dispatch.js');
  return dispatch(argv, io ?? processIo());
}

function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
    stdinIsTTY: Boolean(process.stdin.isTTY),
    env: process.env,
    cwd: process.cwd(),
  };
}
