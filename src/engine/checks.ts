/**
 * Readiness and smoke checks of models.md §5.3, run on the server through its transport (the
 * default) or from the engine's host (`from = "controller"`). Each check is retried until it
 * passes or its attempts run out; the last failure is what the report shows.
 */
import { ProvError } from '../errors/index.js';
import { parseDuration, type Check } from '../model/index.js';
import type { ExecResult, Transport } from '../transport/index.js';

export interface CheckOutcome {
  ok: boolean;
  /** what was tried, for the report: `tcp 127.0.0.1:6379`, the command line */
  command: string;
  /** why the last attempt failed */
  detail?: string;
  exit_code?: number;
  stdout_tail?: string[];
  stderr_tail?: string[];
  attempts: number;
}

const DEFAULTS = {
  readiness: { timeout: 5, interval: 2, retries: 30 },
  smoke: { timeout: 30, interval: 5, retries: 3 },
};

/** Default name of a check: `<kind>-<index>` (1-based), as reports and step names use it. */
export const checkName = (c: Check, index: number): string => c.name ?? `${c.kind}-${index + 1}`;

const seconds = (v: string | number | undefined, fallback: number): number => (v === undefined ? fallback : parseDuration(v) ?? fallback);

// Probes that run on the server: python3 when it is there (the catalog installs it), else bash's /dev/tcp.
const TCP_PROBE = `h=$1 p=$2 t=$3
if command -v python3 >/dev/null 2>&1; then
  exec python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()' "$h" "$p" "$t"
elif command -v bash >/dev/null 2>&1; then
  exec timeout "$t" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p"
else
  echo "neither python3 nor bash on the server to probe a TCP port" >&2; exit 2
fi`;

const HTTP_PROBE = `import json, ssl, sys, urllib.request
a = json.loads(sys.argv[1])
req = urllib.request.Request(a["url"], method=a["method"], headers=a["headers"], data=a["body"].encode() if a["body"] is not None else None)
ctx = ssl._create_unverified_context() if a["insecure"] else None
try:
    r = urllib.request.urlopen(req, timeout=a["timeout"], context=ctx)
    status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
print(status)
sys.stdout.write(body.decode("utf-8", "replace"))`;

const FILE_PROBE = `p=$1 want=$2 re=$3
if [ "$want" = no ]; then [ ! -e "$p" ] && exit 0; echo "$p exists" >&2; exit 1; fi
[ -e "$p" ] || { echo "$p does not exist" >&2; exit 1; }
[ -z "$re" ] || grep -Eq -- "$re" "$p" || { echo "$p does not match $re" >&2; exit 1; }`;

function statusOk(status: number, expect: number | number[] | undefined): boolean {
  if (expect === undefined) return status >= 200 && status < 400;
  return Array.isArray(expect) ? expect.includes(status) : status === expect;
}

/** One attempt of a check; `t` is undefined only for controller-side checks. */
async function attempt(c: Check, t: Transport | undefined, timeoutS: number, signal?: AbortSignal): Promise<Omit<CheckOutcome, 'attempts'>> {
  const onServer = (c.from ?? 'server') === 'server';
  const exec = async (argv: string[], env?: Record<string, string>): Promise<{ r: ExecResult; out: string }> => {
    let out = '';
    const r = await t!.exec(argv, { timeoutMs: (timeoutS + 5) * 1000, onStdout: (b) => { out += b.toString('utf8'); }, ...(env ? { env } : {}), ...(signal ? { signal } : {}) });
    return { r, out };
  };
  const failed = (command: string, r: ExecResult, detail: string) => ({ ok: false, command, detail, exit_code: r.code, stdout_tail: r.stdout_tail, stderr_tail: r.stderr_tail });
  switch (c.kind) {
    case 'tcp': {
      const host = c.host ?? '127.0.0.1';
      const command = `tcp ${host}:${c.port}`;
      if (onServer) {
        const { r } = await exec(['sh', '-c', TCP_PROBE, 'prov-tcp', host, String(c.port), String(timeoutS)]);
        return r.code === 0 ? { ok: true, command } : failed(command, r, `port ${c.port} on ${host} does not accept connections`);
      }
      const { connect } = await import('node:net');
      const ok = await new Promise<boolean>((res) => {
        const s = connect({ host, port: Number(c.port), timeout: timeoutS * 1000 }, () => { s.end(); res(true); });
        s.on('error', () => res(false)).on('timeout', () => { s.destroy(); res(false); });
      });
      return ok ? { ok, command } : { ok, command, detail: `port ${c.port} on ${host} does not accept connections (from the controller)` };
    }
    case 'http': {
      const method = c.method ?? 'GET';
      const command = `${method} ${c.url}`;
      let status: number;
      let body: string;
      if (onServer) {
        const args = JSON.stringify({ url: c.url, method, headers: c.headers ?? {}, body: c.body ?? null, insecure: c.insecure ?? false, timeout: timeoutS });
        const { r, out } = await exec(['python3', '-c', HTTP_PROBE, args]);
        if (r.code !== 0) return failed(command, r, 'the request failed');
        const nl = out.indexOf('\n');
        status = Number(out.slice(0, nl));
        body = out.slice(nl + 1);
      } else {
        try {
          const res = await fetch(c.url, { method, headers: c.headers, body: c.body, signal: AbortSignal.timeout(timeoutS * 1000) });
          status = res.status;
          body = await res.text();
        } catch (err) {
          return { ok: false, command, detail: `the request failed: ${(err as Error).message}` };
        }
      }
      if (!statusOk(status, c.expect_status)) return { ok: false, command, detail: `status ${status}, expected ${c.expect_status ?? '200–399'}`, stdout_tail: body.split('\n').slice(-20) };
      if (c.expect_body !== undefined && !new RegExp(c.expect_body, 'm').test(body)) return { ok: false, command, detail: `the body does not match /${c.expect_body}/`, stdout_tail: body.split('\n').slice(-20) };
      return { ok: true, command };
    }
    case 'command': {
      const command = c.command;
      if (!onServer) throw new ProvError('DEFINITION_INVALID', `a command check runs on the server; from = "controller" is for http and tcp checks`, { hint: 'remove `from` from the check' });
      const { r, out } = await exec(['sh', '-c', c.command], c.env);
      const want = c.expect_exit ?? 0;
      if (r.code !== want) return failed(command, r, `exit code ${r.code}, expected ${want}`);
      if (c.expect_output !== undefined) {
        const re = new RegExp(c.expect_output);
        if (!out.split('\n').some((l) => re.test(l))) return failed(command, r, `no output line matches /${c.expect_output}/`);
      }
      return { ok: true, command };
    }
    case 'file': {
      const command = `file ${c.path}`;
      const { r } = await exec(['sh', '-c', FILE_PROBE, 'prov-file', c.path, c.exists === false ? 'no' : 'yes', c.contains ?? '']);
      return r.code === 0 ? { ok: true, command } : failed(command, r, r.stderr_tail.join(' ') || 'file check failed');
    }
  }
}

/** Run one check with its attempts; resolves with the outcome, never throws for a failing check. */
export async function runCheck(c: Check, phase: 'readiness' | 'smoke', t: Transport | undefined, signal?: AbortSignal): Promise<CheckOutcome> {
  const d = DEFAULTS[phase];
  const timeoutS = seconds(c.timeout, d.timeout);
  const intervalS = seconds(c.interval, d.interval);
  const retries = c.retries ?? d.retries;
  let last: Omit<CheckOutcome, 'attempts'> = { ok: false, command: '' };
  for (let i = 1; i <= retries; i++) {
    last = await attempt(c, t, timeoutS, signal);
    if (last.ok || signal?.aborted) return { ...last, attempts: i };
    if (i < retries) await new Promise((r) => setTimeout(r, intervalS * 1000));
  }
  return { ...last, attempts: retries };
}
