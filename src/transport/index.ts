/**
 * Entry point: a provider's `connect(server)` answer (models.md §5.4) → a Transport. One
 * Transports per run holds the SSH pool, so every step on a host shares one connection.
 */
import type Docker from 'dockerode';
import { ProvError } from '../errors/index.js';
import { ExecTransport } from './exec/index.js';
import { SshPool, type SshSettings } from './ssh/index.js';
import type { Transport } from './types.js';

export type { Command, ExecOptions, ExecResult, Transport, UploadOptions } from './types.js';
export { SshPool, SshTransport, sshSettingsFromConfig, type SshSettings, type SshTarget } from './ssh/index.js';
export { ExecTransport } from './exec/index.js';
export { ensureKeyPair, publicKeyLine, workspaceKeyFile } from './ssh/keys.js';

/** Same shape as the provider interface's Connection. */
export interface ConnectTarget {
  transport: 'ssh' | 'exec';
  host?: string;
  port?: number;
  user?: string;
  /** a key for this server only */
  private_key?: string;
  container?: string;
}

export class Transports {
  readonly ssh: SshPool;

  /** `engine` is asked for only when a server is reached by container exec. */
  constructor(settings: SshSettings, private readonly engine?: () => Promise<Docker>) {
    this.ssh = new SshPool(settings);
  }

  async open(to: ConnectTarget): Promise<Transport> {
    if (to.transport === 'ssh') {
      if (!to.host) throw new ProvError('INVALID_ARGUMENT', 'an SSH connection needs a host address', { hint: 'the provider returned no address for this server: is it running?' });
      return this.ssh.get({ host: to.host, port: to.port, user: to.user, privateKey: to.private_key });
    }
    if (!to.container) throw new ProvError('INVALID_ARGUMENT', 'a container exec connection needs a container id');
    if (!this.engine) throw new ProvError('UNAVAILABLE', `no container engine configured to reach container ${to.container}`, { hint: 'set providers.local.socket (or DOCKER_HOST)' });
    return new ExecTransport(await this.engine(), to.container, { user: to.user, commandTimeoutMs: this.ssh.settings.commandTimeoutMs });
  }

  /** The container engine behind exec transports (an interactive shell attaches to it directly). */
  docker(): Promise<Docker> {
    if (!this.engine) return Promise.reject(new ProvError('UNAVAILABLE', 'no container engine configured', { hint: 'set providers.local.socket (or DOCKER_HOST)' }));
    return this.engine();
  }

  closeAll(): Promise<void> {
    return this.ssh.closeAll();
  }
}
