/**
 * SSH transport on `ssh2`: key or agent auth, one connection per user@host:port shared by every
 * step (SshPool), streamed output, SFTP upload, timeouts that kill the remote process group,
 * host keys checked against known_hosts, and an optional bastion reached with forwardOut.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { ProvError } from '../../errors/index.js';
import { parseDuration } from '../../config/schema.js';
import { expandHome } from '../../config/paths.js';
import {
  DEFAULT_SHELL, escalation, placeArgv, remoteTemp, shellLine, supervise,
} from '../remote.js';
import type { Command, ExecOptions, ExecResult, Transport, UploadOptions } from '../types.js';
import { workspaceKeyFile } from './keys.js';
import { preferredAlgorithms, verifyHostKey, type HostKeyChecking } from './known-hosts.js';

export interface SshSettings {
  /** private key file; when it is missing the agent alone is tried */
  privateKey?: string;
  /** ssh-agent socket (SSH_AUTH_SOCK when ssh.agent is true) */
  agentSocket?: string;
  knownHosts: string;
  hostKeyChecking: HostKeyChecking;
  connectTimeoutMs: number;
  keepaliveMs: number;
  commandTimeoutMs: number;
  /** `user@host:port` jump host */
  bastion?: string;
  sudo: boolean;
  /** login user when a target names none */
  defaultUser: string;
  /** set when privateKey is the workspace key (keys.ts), which server creation generates */
  workspaceKey?: true;
}

export interface SshTarget {
  host: string;
  port?: number;
  user?: string;
  /** a key for this host only (a static server's `ssh.private_key`); default the settings' key */
  privateKey?: string;
}

interface Endpoint { host: string; port: number; user: string; privateKey?: string }

/** Settings from the merged config (config.md §3.7). */
export function sshSettingsFromConfig(get: (key: string) => unknown, env: Record<string, string | undefined>): SshSettings {
  const str = (k: string): string => String(get(k) ?? '');
  const ms = (k: string, def: string): number => parseDuration(get(k) ?? def) ?? parseDuration(def)!;
  const home = env.HOME ?? homedir();
  let privateKey = str('ssh.private_key') ? expandHome(str('ssh.private_key'), env) : join(home, '.ssh', 'id_ed25519');
  // the documented default is id_ed25519, then id_rsa
  if (privateKey === join(home, '.ssh', 'id_ed25519') && !existsSync(privateKey) && existsSync(join(home, '.ssh', 'id_rsa'))) privateKey = join(home, '.ssh', 'id_rsa');
  // neither default key exists: the workspace's own key (generated when a server is created)
  const workspaceKey = privateKey === join(home, '.ssh', 'id_ed25519') && !existsSync(privateKey) && Boolean(str('paths.state'));
  if (workspaceKey) privateKey = workspaceKeyFile(str('paths.state'));
  return {
    ...(workspaceKey ? { workspaceKey: true as const } : {}),
    privateKey,
    agentSocket: get('ssh.agent') !== false && env.SSH_AUTH_SOCK ? env.SSH_AUTH_SOCK : undefined,
    knownHosts: expandHome(str('ssh.known_hosts') || join(str('paths.state') || '.provisioning', 'known_hosts'), env),
    hostKeyChecking: (str('ssh.host_key_checking') || 'accept_new') as HostKeyChecking,
    connectTimeoutMs: ms('ssh.connect_timeout', '10s'),
    keepaliveMs: ms('ssh.keepalive', '15s'),
    commandTimeoutMs: ms('ssh.command_timeout', '30m'),
    bastion: str('ssh.bastion') || undefined,
    sudo: get('ssh.sudo') !== false,
    defaultUser: str('ssh.user') || 'root',
  };
}

function parseBastion(spec: string, defaultUser: string): Endpoint {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new ProvError('CONFIG_INVALID', `ssh.bastion ${JSON.stringify(spec)} is not user@host:port`, { location: { resource: 'ssh.bastion' } });
  return { user: m[1] ?? defaultUser, host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3] ?? 22) };
}

const label = (ep: Endpoint): string => `${ep.user}@${ep.host}:${ep.port}`;

/** Private key and/or agent, or AUTH_REQUIRED saying what is missing. */
function credentials(s: SshSettings, ep: Endpoint): Pick<ConnectConfig, 'privateKey' | 'agent'> {
  const out: Pick<ConnectConfig, 'privateKey' | 'agent'> = {};
  if (s.agentSocket) out.agent = s.agentSocket;
  if (s.privateKey && existsSync(s.privateKey)) {
    const key = readFileSync(s.privateKey);
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error) {
      if (!out.agent) {
        throw new ProvError('AUTH_REQUIRED', `cannot use SSH key ${s.privateKey} for ${label(ep)}: ${parsed.message}`, {
          hint: 'a passphrase-protected key needs ssh-agent (ssh-add the key, keep ssh.agent = true); otherwise point ssh.private_key at an OpenSSH private key',
          location: { file: s.privateKey },
        });
      }
    } else out.privateKey = key;
  } else if (!out.agent) {
    throw new ProvError('AUTH_REQUIRED', `SSH key ${s.privateKey ?? '(none)'} does not exist and no ssh-agent is available (connecting to ${label(ep)})`, {
      hint: `create one (ssh-keygen -t ed25519 -f ${s.privateKey ?? '~/.ssh/id_ed25519'}), set ssh.private_key to an existing key, or start ssh-agent and set SSH_AUTH_SOCK`,
      location: { resource: 'ssh.private_key' }, details: { host: ep.host, port: ep.port, user: ep.user, key_file: s.privateKey },
    });
  }
  return out;
}

/** Open and authenticate one connection (over `sock` when going through a bastion). */
function connect(s: SshSettings, ep: Endpoint, sock?: NodeJS.ReadableStream & NodeJS.WritableStream): Promise<Client> {
  const creds = credentials(s, ep);
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let refused: ProvError | undefined;
    const serverHostKey = s.hostKeyChecking === 'off' ? undefined : preferredAlgorithms(s.knownHosts, ep.host, ep.port);
    // the first error before 'ready' decides; later ones (a timeout's "connection lost", a dropped
    // connection) must still have a listener, and surface through 'close' on the transport
    let settled = false;
    client.once('ready', () => { settled = true; resolve(client); });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (settled) return;
      settled = true;
      client.destroy();
      reject(refused ?? connectError(err, s, ep, creds));
    });
    client.connect({
      host: ep.host, port: ep.port, username: ep.user, ...creds,
      ...(sock ? { sock: sock as unknown as ConnectConfig['sock'] } : {}),
      readyTimeout: s.connectTimeoutMs,
      keepaliveInterval: s.keepaliveMs, keepaliveCountMax: 3,
      ...(serverHostKey ? { algorithms: { serverHostKey: serverHostKey as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] } } : {}),
      hostVerifier: (key: Buffer) => {
        refused = verifyHostKey(s.knownHosts, s.hostKeyChecking, ep.host, ep.port, key);
        return refused === undefined;
      },
    });
  });
}

function connectError(err: Error & { level?: string; code?: string }, s: SshSettings, ep: Endpoint, used: Pick<ConnectConfig, 'privateKey' | 'agent'>): ProvError {
  const details = { host: ep.host, port: ep.port, user: ep.user, key_file: s.privateKey, cause: err.message };
  if (err.level === 'client-authentication') {
    const offered = [used.privateKey ? `the SSH key ${s.privateKey}` : '', used.agent ? 'the keys of ssh-agent' : ''].filter(Boolean).join(' and ');
    return new ProvError('AUTH_REQUIRED', `${label(ep)} refused ${offered}`, {
      hint: `add the public key (${s.privateKey ?? 'key'}.pub) to ~${ep.user}/.ssh/authorized_keys on ${ep.host}, or set ssh.user / ssh.private_key to a pair the server accepts`,
      details,
    });
  }
  const why = err.level === 'client-timeout' ? `no SSH handshake within ${s.connectTimeoutMs / 1000}s`
    : err.code === 'ECONNREFUSED' ? 'connection refused'
      : err.code ? `${err.code}: ${err.message}` : err.message;
  return new ProvError('UNAVAILABLE', `cannot reach ${label(ep)} over SSH: ${why}`, {
    hint: `check that the server is running and sshd listens on port ${ep.port} (ssh.port), that ${ep.host} is the right address, and any firewall in between; ssh.connect_timeout sets how long to wait`,
    details,
  });
}

/** Channels open at once on one connection: below sshd's default MaxSessions (10), one spare for a kill. */
const MAX_CHANNELS = 8;

/** One connection shared by every step on the host. */
export class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  readonly target: string;
  private sftp?: Promise<SFTPWrapper>;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(private readonly client: Client, readonly endpoint: Endpoint, private readonly settings: SshSettings, private readonly onClose: () => void = () => undefined) {
    this.target = label(endpoint);
    client.once('close', () => { this.closed = true; this.onClose(); });
  }

  get isOpen(): boolean { return !this.closed; }

  async exec(command: Command, opts: ExecOptions = {}): Promise<ExecResult> {
    if (Array.isArray(command)) return this.run(command, opts);
    const path = remoteTemp('script') + '.sh';
    await this.writeTemp(path, command.script, 0o700);
    // a script run as another user must be readable by that user
    if (opts.user && opts.user !== this.endpoint.user) await this.run(['chown', '--', opts.user, path], { sudo: true });
    return this.run([...(command.shell ?? DEFAULT_SHELL), path], opts, path);
  }

  async upload(path: string, content: Buffer | string, opts: UploadOptions = {}): Promise<void> {
    const tmp = remoteTemp('upload');
    await this.writeTemp(tmp, content, 0o600);
    const res = await this.run(placeArgv(tmp, path, opts.mode ?? 0o644, opts.owner), {});
    if (res.code !== 0) {
      throw new ProvError('COMMAND_FAILED', `upload of ${path} to ${this.target} failed (exit ${res.code})`, {
        hint: res.stderr_tail.join('\n') || 'check that the login user may write there, or enable ssh.sudo', details: { path, stderr_tail: res.stderr_tail },
      });
    }
  }

  /** A TCP stream to `to` opened from this host (this transport is the bastion). */
  forward(to: Endpoint): Promise<ClientChannel> {
    return new Promise((resolve, reject) => this.client.forwardOut('127.0.0.1', 0, to.host, to.port, (err, stream) => (err
      ? reject(new ProvError('UNAVAILABLE', `bastion ${this.target} cannot reach ${to.host}:${to.port}: ${err.message}`, { hint: 'check ssh.bastion, and that the bastion allows TCP forwarding and can reach the server' }))
      : resolve(stream))));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => { this.client.once('close', () => resolve()); this.client.end(); });
  }

  private async writeTemp(path: string, content: Buffer | string, mode: number): Promise<void> {
    this.sftp ??= new Promise((resolve, reject) => this.client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))));
    const sftp = await this.sftp;
    await new Promise<void>((resolve, reject) => sftp.writeFile(path, content, { mode }, (err) => (err ? reject(new ProvError('COMMAND_FAILED', `SFTP write of ${path} on ${this.target} failed: ${err.message}`)) : resolve())));
  }

  /**
   * Open an exec channel. The exit listener is attached inside ssh2's callback, synchronously:
   * a fast command's exit-status can arrive in the same packet as the exec reply and is emitted
   * before any `await` continuation would run (the command then looked "lost").
   */
  private async channel(line: string): Promise<{ ch: ClientChannel; done: Promise<{ code: number; signal?: string } | 'lost'> }> {
    if (this.closed) throw new ProvError('UNAVAILABLE', `SSH connection to ${this.target} is closed`, { hint: 'get a new transport from the pool' });
    try {
      return await new Promise((resolve, reject) => this.client.exec(line, (err, ch) => {
        if (err) { reject(err); return; }
        const done = new Promise<{ code: number; signal?: string } | 'lost'>((settle) => {
          let status: { code: number; signal?: string } | undefined;
          ch.on('exit', (c: number | null, sig?: string) => { status = typeof c === 'number' ? { code: c } : { code: 128, signal: sig }; });
          ch.on('close', () => settle(status ?? 'lost'));
        });
        resolve({ ch, done });
      }));
    } catch (err) {
      throw new ProvError('UNAVAILABLE', `cannot open a session on ${this.target}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async acquire(): Promise<void> {
    while (this.active >= MAX_CHANNELS) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  private async run(argv: string[], opts: ExecOptions, cleanup?: string): Promise<ExecResult> {
    await this.acquire();
    try {
      return await this.supervised(argv, opts, cleanup);
    } finally {
      this.release();
    }
  }

  private supervised(argv: string[], opts: ExecOptions, cleanup?: string): Promise<ExecResult> {
    return supervise({
        target: this.target, argv, opts, cleanup,
        timeoutMs: opts.timeoutMs ?? this.settings.commandTimeoutMs,
        prefix: escalation(this.endpoint.user, opts, this.settings.sudo),
        // outside the channel limit: the commands holding it may be the ones to kill
        helper: (kill) => this.supervised(kill, { timeoutMs: 10_000, sudo: false }),
        start: async (wrapped) => {
          const { ch, done } = await this.channel(shellLine(wrapped));
          return { stdout: ch, stderr: ch.stderr, stdin: ch, done, abandon: () => ch.close() };
        },
    });
  }
}

/** One live connection per user@host:port (through the bastion when set), shared by all steps. */
export class SshPool {
  private readonly conns = new Map<string, Promise<SshTransport>>();
  /** TCP connections opened so far (bastion included) */
  connects = 0;

  constructor(readonly settings: SshSettings) {}

  get(target: SshTarget): Promise<SshTransport> {
    const ep: Endpoint = { host: target.host, port: target.port ?? 22, user: target.user || this.settings.defaultUser, ...(target.privateKey ? { privateKey: target.privateKey } : {}) };
    return this.open(ep, this.settings.bastion ? parseBastion(this.settings.bastion, ep.user) : undefined);
  }

  private open(ep: Endpoint, via?: Endpoint): Promise<SshTransport> {
    const own = ep.privateKey ? ` key ${ep.privateKey}` : '';
    const key = (via ? `${label(ep)} via ${label(via)}` : label(ep)) + own;
    const cached = this.conns.get(key);
    if (cached) return cached.then((t) => (t.isOpen ? t : (this.conns.delete(key), this.open(ep, via))));
    const p = (async () => {
      let sock: (NodeJS.ReadableStream & NodeJS.WritableStream) | undefined;
      if (via) {
        const jump = await this.open(via);
        sock = await jump.forward(ep);
      }
      this.connects++;
      const settings = ep.privateKey ? { ...this.settings, privateKey: ep.privateKey } : this.settings;
      const client = await connect(settings, ep, sock);
      return new SshTransport(client, ep, settings, () => { if (this.conns.get(key) === p) this.conns.delete(key); });
    })();
    this.conns.set(key, p);
    p.catch(() => this.conns.delete(key));
    return p;
  }

  async closeAll(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((p) => p.then((t) => t.close(), () => undefined)));
  }
}
