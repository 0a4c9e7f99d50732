/**
 * Container exec transport: commands run inside a container through the Docker Engine API
 * (dockerode), so Docker and Podman's compatible socket behave the same. Uses the same wrapper
 * as SSH (remote.ts): env on stdin, process group killed on timeout; files arrive with putArchive.
 */
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import { ProvError } from '../../errors/index.js';
import { DEFAULT_SHELL, placeArgv, remoteTemp, supervise } from '../remote.js';
import type { Command, ExecOptions, ExecResult, Transport, UploadOptions } from '../types.js';

export interface ExecTransportOptions {
  /** user commands run as unless ExecOptions.user says otherwise (default: the image's) */
  user?: string;
  /** default 30 minutes, like ssh.command_timeout */
  commandTimeoutMs?: number;
}

type Status = { code: number; signal?: string } | 'lost';

export class ExecTransport implements Transport {
  readonly kind = 'exec' as const;
  readonly target: string;

  constructor(private readonly docker: Docker, readonly container: string, private readonly options: ExecTransportOptions = {}) {
    this.target = `container ${container.length > 12 && /^[0-9a-f]+$/.test(container) ? container.slice(0, 12) : container}`;
  }

  async exec(command: Command, opts: ExecOptions = {}): Promise<ExecResult> {
    if (Array.isArray(command)) return this.run(command, opts);
    const path = remoteTemp('script') + '.sh';
    await this.put(path, command.script, 0o700, opts.user ?? this.options.user);
    return this.run([...(command.shell ?? DEFAULT_SHELL), path], opts, path);
  }

  async upload(path: string, content: Buffer | string, opts: UploadOptions = {}): Promise<void> {
    const tmp = remoteTemp('upload');
    await this.put(tmp, content, 0o600);
    const res = await this.run(placeArgv(tmp, path, opts.mode ?? 0o644, opts.owner), { user: 'root' });
    if (res.code !== 0) {
      throw new ProvError('COMMAND_FAILED', `upload of ${path} to ${this.target} failed (exit ${res.code})`, {
        hint: res.stderr_tail.join('\n') || undefined, details: { path, stderr_tail: res.stderr_tail },
      });
    }
  }

  /** Nothing to release: every exec is its own API call. */
  async close(): Promise<void> {}

  /** Write one file into /tmp with putArchive (tar headers carry mode and owner). */
  private async put(path: string, content: Buffer | string, mode: number, owner?: string): Promise<void> {
    const tar = pack();
    const body = Buffer.from(content);
    tar.entry({ name: path.slice('/tmp/'.length), mode, size: body.length, uid: 0, gid: 0 }, body);
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const c of tar) chunks.push(c as Buffer);
    await this.api(() => this.docker.getContainer(this.container).putArchive(Buffer.concat(chunks), { path: '/tmp' }));
    if (owner && owner !== 'root') {
      const res = await this.run(['chown', '--', owner, path], { user: 'root' });
      if (res.code !== 0) throw new ProvError('COMMAND_FAILED', `chown ${owner} ${path} in ${this.target} failed`, { hint: res.stderr_tail.join('\n') || undefined });
    }
  }

  private run(argv: string[], opts: ExecOptions, cleanup?: string): Promise<ExecResult> {
    const user = opts.user ?? this.options.user;
    return supervise({
      target: this.target, argv, opts, cleanup, prefix: [],
      timeoutMs: opts.timeoutMs ?? this.options.commandTimeoutMs ?? 30 * 60_000,
      helper: (kill) => this.run(kill, { timeoutMs: 10_000, user: 'root' }),
      start: async (wrapped) => {
        const exec = await this.api(() => this.docker.getContainer(this.container).exec({
          Cmd: wrapped, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false, ...(user ? { User: user } : {}),
        }));
        const stream = await this.api(() => exec.start({ hijack: true, stdin: true }));
        const stdout = new PassThrough();
        const stderr = new PassThrough();
        this.docker.modem.demuxStream(stream, stdout, stderr);
        const done = new Promise<Status>((resolve) => {
          let settled = false;
          const finish = (lost: boolean): void => {
            if (settled) return;
            settled = true;
            stdout.end();
            stderr.end();
            if (lost) { resolve('lost'); return; }
            exec.inspect().then((info) => resolve(typeof info.ExitCode === 'number' ? { code: info.ExitCode } : 'lost'), () => resolve('lost'));
          };
          stream.on('end', () => finish(false));
          stream.on('close', () => finish(false));
          // EPIPE: the command exited (or closed its stdin) before our stdin write was flushed —
          // its own status decides, via 'close' and inspect; other socket errors mean the engine went away
          stream.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') finish(true); });
        });
        return { stdout, stderr, stdin: stream, done, abandon: () => (stream as unknown as { destroy(): void }).destroy() };
      },
    });
  }

  /** Engine errors as ProvErrors: a missing container is NOT_FOUND, anything else UNAVAILABLE. */
  private async api<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const e = err as { statusCode?: number; message?: string; code?: string };
      if (e.statusCode === 404) {
        throw new ProvError('NOT_FOUND', `${this.target} does not exist in the container engine`, { hint: 'the server may have been deleted outside provisioning: `provisioning server list --refresh` shows drift', cause: err });
      }
      if (e.statusCode === 409) {
        throw new ProvError('UNAVAILABLE', `${this.target} is not running`, { hint: 'start it: `provisioning server start <name>`', cause: err });
      }
      throw new ProvError('UNAVAILABLE', `container engine call for ${this.target} failed: ${e.code ?? e.message ?? String(err)}`, {
        hint: 'check that the engine is running (`bash scripts/engine.sh` starts one) and providers.local.socket points at it', cause: err,
      });
    }
  }
}
