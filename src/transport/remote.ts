/**
 * What both transports send to the remote shell. User data never goes through a local shell:
 * argv elements are quoted with shell-quote for the one remote `sh -c`, and the scripts below
 * are constant text that receive everything else as positional parameters.
 *
 * Environment values travel on stdin, not in argv (`ps` and /proc/<pid>/cmdline are readable
 * by every user) and not in a file (no secret on disk, no extra round trip): the wrapper reads
 * exactly N lines of `export NAME='value'` from stdin, evaluates them, then hands the rest of
 * stdin to the command. `read` consumes a pipe byte by byte, so the command's own stdin starts
 * right after those lines.
 *
 * The command runs under `setsid` in its own process group, whose id the wrapper writes to a
 * pid file; a timeout kills that whole group (the command and everything it started) from a
 * second channel.
 */
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { quote } from 'shell-quote';
import { ProvError } from '../errors/index.js';
import { TAIL_LINES, type ExecOptions, type ExecResult } from './types.js';

const WRAPPER = `__prov_f=$1 __prov_n=$2 __prov_c=$3; shift 3
__prov_s=
while [ "$__prov_n" -gt 0 ]; do IFS= read -r __prov_l || break; __prov_s="$__prov_s$__prov_l
"; __prov_n=$((__prov_n - 1)); done
eval "$__prov_s"; unset __prov_s __prov_l __prov_n
exec 3<&0
if command -v setsid >/dev/null 2>&1; then setsid "$@" <&3 3<&- & else "$@" <&3 3<&- & fi
__prov_p=$!; exec 3<&-; echo "$__prov_p" > "$__prov_f"
wait "$__prov_p"; __prov_r=$?
rm -f -- "$__prov_f"; [ -z "$__prov_c" ] || rm -f -- "$__prov_c"
exit "$__prov_r"`;

/** Kill the process group named in the pid file (waiting briefly for the wrapper to write it). */
const KILL = `for i in 1 2 3 4 5 6 7 8 9 10; do [ -s "$1" ] && break; sleep 0.1; done
p=$(cat -- "$1" 2>/dev/null) || exit 0
kill -s KILL -- "-$p" 2>/dev/null || kill -s KILL "$p" 2>/dev/null
rm -f -- "$1"; exit 0`;

/** Move an uploaded temp file into place: parent dirs, mode and owner set before the rename. */
const PLACE = `s=$1 d=$2 m=$3 o=$4
dir=$(dirname -- "$d"); t="$dir/.prov-upload.$$"; rc=0
mkdir -p -- "$dir" && (umask 077 && cp -- "$s" "$t") && chmod "$m" "$t" && { [ -z "$o" ] || chown -- "$o" "$t"; } && mv -f -- "$t" "$d" || rc=1
rm -f -- "$s" "$t"; exit $rc`;

/** A valid shell name that cannot overwrite the wrapper's own variables. */
const NAME = /^(?!__prov_)[A-Za-z_][A-Za-z0-9_]*$/;

export const DEFAULT_SHELL = ['/bin/sh', '-eu'];

/** A fresh remote temp path (the pid file, an uploaded script, an upload before placing). */
export const remoteTemp = (what: string): string => `/tmp/.prov-${what}-${randomUUID()}`;

/** `export NAME='value'` lines and how many lines they span (values may hold newlines). */
export function envScript(env: Record<string, string> | undefined): { text: string; lines: number } {
  let text = '';
  for (const [name, value] of Object.entries(env ?? {})) {
    if (!NAME.test(name)) throw new ProvError('INVALID_ARGUMENT', `invalid environment variable name ${JSON.stringify(name)}`, { hint: 'names are letters, digits and _, not starting with a digit nor with __prov_' });
    text += `export ${name}=${quote([String(value)])}\n`;
  }
  return { text, lines: (text.match(/\n/g) ?? []).length };
}

/** The argv that escalates (`sudo -n [-u user] --`) or nothing. */
export function escalation(loginUser: string, opts: Pick<ExecOptions, 'user' | 'sudo'>, sudoDefault: boolean): string[] {
  if (opts.user && opts.user !== loginUser) return ['sudo', '-n', '-u', opts.user, '--'];
  if ((opts.sudo ?? sudoDefault) && loginUser !== 'root' && !opts.user) return ['sudo', '-n', '--'];
  return [];
}

/** argv of the wrapped command: run `argv` with `envLines` lines of exports first read from stdin. */
export function wrappedArgv(argv: string[], o: { pidFile: string; envLines: number; cleanup?: string; prefix: string[] }): string[] {
  if (argv.length === 0) throw new ProvError('INVALID_ARGUMENT', 'empty command');
  return [...o.prefix, 'sh', '-c', WRAPPER, 'prov-exec', o.pidFile, String(o.envLines), o.cleanup ?? '', ...argv];
}

export const killArgv = (pidFile: string, prefix: string[]): string[] => [...prefix, 'sh', '-c', KILL, 'prov-kill', pidFile];

export const placeArgv = (tmp: string, path: string, mode: number, owner: string | undefined): string[] =>
  ['sh', '-c', PLACE, 'prov-upload', tmp, path, mode.toString(8).padStart(4, '0'), owner ?? ''];

/** One string for a remote login shell (SSH exec requests are a single string). */
export const shellLine = (argv: string[]): string => quote(argv);

/** The last lines of a stream, decoded across chunk boundaries. */
export class Tail {
  private readonly decoder = new StringDecoder('utf8');
  private lines: string[] = [];
  private partial = '';

  constructor(private readonly max = TAIL_LINES) {}

  push(chunk: Buffer): void {
    const parts = (this.partial + this.decoder.write(chunk)).split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts.map((l) => l.replace(/\r$/, '')));
    if (this.lines.length > this.max) this.lines = this.lines.slice(-this.max);
  }

  done(): string[] {
    const rest = this.partial + this.decoder.end();
    const all = rest ? [...this.lines, rest] : this.lines;
    return all.slice(-this.max);
  }
}

/** A started remote process, as each transport exposes it. */
export interface RemoteProcess {
  stdout: Readable;
  stderr: Readable;
  stdin: Writable;
  /** settles when the process is gone: its status, or `lost` when the connection dropped */
  done: Promise<{ code: number; signal?: string } | 'lost'>;
  /** stop waiting (after the kill had its chance) */
  abandon(): void;
}

export interface Supervised {
  target: string;
  argv: string[];
  opts: ExecOptions;
  timeoutMs: number;
  /** escalation prefix, also used for the kill */
  prefix: string[];
  /** remove this file when the command ends (an uploaded script) */
  cleanup?: string;
  start(wrapped: string[]): Promise<RemoteProcess>;
  /** run a helper command (the kill) on the same target */
  helper(argv: string[]): Promise<unknown>;
}

/**
 * Run one wrapped command: env then stdin on its stdin, output into tails and callbacks, and on
 * timeout or abort kill its process group from a second command, then throw TIMEOUT/INTERRUPTED.
 */
export async function supervise(s: Supervised): Promise<ExecResult> {
  const started = Date.now();
  const env = envScript(s.opts.env);
  const pidFile = remoteTemp('pid');
  const proc = await s.start(wrappedArgv(s.argv, { pidFile, envLines: env.lines, cleanup: s.cleanup, prefix: s.prefix }));
  const out = new Tail();
  const err = new Tail();
  proc.stdout.on('data', (d: Buffer) => { out.push(d); s.opts.onStdout?.(d); });
  proc.stderr.on('data', (d: Buffer) => { err.push(d); s.opts.onStderr?.(d); });
  proc.stdin.end(s.opts.stdin === undefined ? env.text : Buffer.concat([Buffer.from(env.text), Buffer.from(s.opts.stdin)]));

  let stopped: 'TIMEOUT' | 'INTERRUPTED' | undefined;
  const stop = (kind: 'TIMEOUT' | 'INTERRUPTED'): void => {
    if (stopped) return;
    stopped = kind;
    s.helper(killArgv(pidFile, s.prefix)).catch(() => undefined)
      .finally(() => setTimeout(() => proc.abandon(), 2000).unref());
  };
  const timer = setTimeout(() => stop('TIMEOUT'), s.timeoutMs);
  const onAbort = (): void => stop('INTERRUPTED');
  if (s.opts.signal?.aborted) onAbort();
  s.opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const status = await proc.done;
    const details = { stdout_tail: out.done(), stderr_tail: err.done(), duration_ms: Date.now() - started };
    const what = shellLine(s.argv).slice(0, 200);
    if (stopped === 'TIMEOUT') {
      throw new ProvError('TIMEOUT', `command timed out after ${s.timeoutMs / 1000}s on ${s.target}: ${what}`, {
        hint: 'its process group was killed; raise the step\'s timeout (or ssh.command_timeout) if it needs longer', details: { ...details, timeout_ms: s.timeoutMs },
      });
    }
    if (stopped) throw new ProvError('INTERRUPTED', `command cancelled on ${s.target}: ${what}`, { hint: 'its process group was killed', details });
    if (status === 'lost') throw new ProvError('UNAVAILABLE', `connection to ${s.target} was lost while running: ${what}`, { details });
    return { ...status, ...details };
  } finally {
    clearTimeout(timer);
    s.opts.signal?.removeEventListener('abort', onAbort);
  }
}
