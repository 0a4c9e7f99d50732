/**
 * One interface for running steps on a server, whatever reaches it: SSH (src/transport/ssh)
 * or container exec through the Docker Engine API (src/transport/exec). Taskserv scripts
 * (models.md §5.3) run the same over either.
 */

/** An argv (quoted for the remote shell by the transport, never joined by hand), or a script's text. */
export type Command = string[] | { script: string; /** default `/bin/sh -eu` */ shell?: string[] };

export interface ExecOptions {
  /** variables for the command; they travel on stdin, never in argv (see remote.ts) */
  env?: Record<string, string>;
  /** fed to the command's stdin, then closed */
  stdin?: string | Buffer;
  /** kill the command's whole process group and throw TIMEOUT after this long */
  timeoutMs?: number;
  /** run as this user (through sudo) */
  user?: string;
  /** escalate to root with `sudo -n` when the login user is not root (default: the transport's setting) */
  sudo?: boolean;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** aborting kills the command like a timeout and throws INTERRUPTED */
  signal?: AbortSignal;
}

export interface ExecResult {
  /** exit status; 128+n when the command died from signal n */
  code: number;
  /** signal name when the remote shell itself was killed */
  signal?: string;
  /** last lines of output (TAIL_LINES), for error reports */
  stdout_tail: string[];
  stderr_tail: string[];
  duration_ms: number;
}

export interface UploadOptions {
  /** file mode, default 0o644 */
  mode?: number;
  /** `user` or `user:group`, default the transport's user */
  owner?: string;
}

export interface Transport {
  readonly kind: 'ssh' | 'exec';
  /** what the transport reaches, for messages: `root@127.0.0.1:2201`, `container abc123` */
  readonly target: string;
  exec(command: Command, opts?: ExecOptions): Promise<ExecResult>;
  /** write a file atomically (temp file + rename), creating parent directories */
  upload(path: string, content: Buffer | string, opts?: UploadOptions): Promise<void>;
  close(): Promise<void>;
}

/** models.md §5.3: a failure report shows the last 20 lines of output. */
export const TAIL_LINES = 20;
