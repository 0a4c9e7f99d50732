import type { Labels, ResolvedServer } from '../model/index.js';

/**
 * The provider interface of spec/models.md §5.4. Core providers (src/providers/<name>) and,
 * later, extension providers (their manifest's `entry` module) implement it; the engine only
 * talks to this shape.
 */

/** An offline finding of `validate` (no API call is ever made there). */
export interface Issue {
  severity: 'error' | 'warning';
  code: string;
  message: string;
  /** the server or config key it is about: `servers.web-01.plan`, `providers.aws.zone` */
  path?: string;
  hint?: string;
}

export interface Plan { name: string; cores: number; memory_mb: number; disk_gb?: number }

export interface Catalog { zones: string[]; plans: Plan[]; images: string[] }

export interface Price { hourly: number; monthly: number; currency: string }

export interface OperationContext {
  /** every tag the created objects get: the server's labels plus the system tags of §7 */
  tags: Labels;
  /** public keys (OpenSSH one-line form) installed for the login user */
  ssh_public_keys: string[];
  /** wait until the server is running (the default); false returns once the provider accepted it */
  wait?: boolean;
  signal?: AbortSignal;
  progress?: (message: string) => void;
}

export type ServerStatus = 'creating' | 'running' | 'stopped' | 'error' | 'deleting';

export interface Observed {
  provider_id: string;
  status: ServerStatus;
  zone: string;
  plan?: string;
  cores: number;
  memory_mb: number;
  disk_gb: number;
  image: string;
  addresses: { public_ipv4: string[]; public_ipv6: string[]; private: { network: string; ip: string }[] };
  tags: Labels;
  /** where the server's sshd is reached when that is not a public address (a local container's published port) */
  ssh_endpoint?: { host: string; port: number };
}

export interface FindRef { provider_id?: string; tags: Labels }
export interface IdRef { provider_id: string }

export interface Connection {
  transport: 'ssh' | 'exec';
  host?: string;
  port?: number;
  user?: string;
  /** a key for this server only (a static server's `ssh.private_key`) */
  private_key?: string;
  container?: string;
}

export interface Provider {
  readonly name: string;
  validate(config: object, servers: ResolvedServer[]): Promise<Issue[]>;
  catalog(config: object): Promise<Catalog>;
  price?(server: ResolvedServer): Price | undefined;
  create(server: ResolvedServer, ctx: OperationContext): Promise<Observed>;
  find(ref: FindRef): Promise<Observed | null>;
  list(tags: Labels): Promise<Observed[]>;
  update?(ref: IdRef, change: Partial<ResolvedServer>): Promise<Observed>;
  power(ref: IdRef, action: 'start' | 'stop' | 'restart'): Promise<void>;
  delete(ref: IdRef, opts: { keep_storage: boolean }): Promise<void>;
  connect(server: Observed): Connection;
}

/** System tag keys of spec/models.md §7. */
export const TAG = {
  workspace: 'provisioning.io/workspace',
  infra: 'provisioning.io/infra',
  name: 'provisioning.io/name',
  id: 'provisioning.io/id',
} as const;

/** The system tags of a server: what `find` matches after a crash mid-create. */
export function systemTags(workspace: string, infra: string, hostname: string): Labels {
  return {
    [TAG.workspace]: workspace,
    [TAG.infra]: infra,
    [TAG.name]: hostname,
    [TAG.id]: `server:${infra}/${hostname}`,
  };
}

/** True when `have` carries every tag of `want` with the same value. */
export function hasTags(have: Labels, want: Labels): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}
