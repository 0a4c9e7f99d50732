/**
 * The state store: what the platform recorded about the resources it manages, the history
 * of applied changes, and the locks that keep two mutating runs from interleaving. One
 * interface; SQLite (the workspace's `.provisioning/state.db`) implements it now, PostgreSQL
 * later. The engine and the commands only see this interface.
 */

export type ResourceKind = 'server' | 'volume' | 'network' | 'taskserv' | 'cluster';

/** spec/models.md §7. */
export interface ResourceState {
  id: string;
  kind: ResourceKind;
  workspace: string;
  infra: string;
  name: string;
  parent?: string;
  provider?: string;
  provider_id?: string;
  addresses?: { public_ipv4?: string[]; public_ipv6?: string[]; private?: { network: string; ip: string }[]; fqdn?: string };
  status: string;
  version?: string;
  tags: Record<string, string>;
  checksum: string;
  applied: Record<string, unknown>;
  secret_digests?: Record<string, { ciphertext: string; hmac: string }>;
  observed?: { at: string; data: Record<string, unknown> };
  generation: number;
  last_workflow_id?: string;
  created_at: string;
  updated_at: string;
  deleted_at?: string;
}

export interface AppliedChange {
  seq: number;
  resource_id: string;
  action: 'create' | 'update' | 'replace' | 'delete' | 'observe';
  generation: number;
  checksum: string;
  workflow_id?: string;
  command: string;
  diff: Record<string, { from: unknown; to: unknown }>;
  at: string;
}

export interface LockRecord {
  /** `infra:<workspace>/<infra>` or `workspace:<workspace>` */
  scope: string;
  /** `pid:<n>@<host>` for a run, `user:<name>` for a manual maintenance lock */
  holder: string;
  pid?: number;
  host: string;
  command: string;
  reason: string;
  acquired_at: string;
  expires_at?: string;
}

export interface StateStore {
  listResources(filter: { workspace: string; infra?: string; kind?: ResourceKind; includeDeleted?: boolean }): Promise<ResourceState[]>;
  getResource(id: string): Promise<ResourceState | undefined>;
  /** Write records and their change entries in one transaction. */
  applyChanges(changes: { record: ResourceState; action: AppliedChange['action']; diff?: AppliedChange['diff']; command: string; workflow_id?: string }[]): Promise<void>;
  history(filter: { resource_id?: string; limit?: number }): Promise<AppliedChange[]>;
  /** Take a lock; a stale one (expired, or its process gone) is taken over and returned as `replaced`. */
  tryLock(lock: LockRecord): Promise<{ acquired: true; replaced?: LockRecord } | { acquired: false; held: LockRecord }>;
  releaseLock(scope: string, holder?: string): Promise<boolean>;
  locks(): Promise<LockRecord[]>;
  close(): Promise<void>;
}
