import * as z from 'zod';
import { Cidr, Duration, EnvName, Id, Labels, Name, SemverRange, size, type IssueParams } from './scalars.js';

/**
 * The definition schemas of spec/models.md §2–§4, §5.5 and §6, each defined once; the
 * TypeScript types are inferred from them. Objects are strict (unknown keys are errors) except
 * the free-form `settings`/`provider_settings` tables, which the extension's field schema checks.
 * Cross-object rules (unique hostnames, references …) live in rules.ts.
 */

const FreeTable = z.record(z.string(), z.unknown()).meta({ description: 'a table' });
const Port = z.int().min(1).max(65535);
const IPV4_RE = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
export const ABS_PATH_RE = /^\/.*/;
const PORT_RANGE_RE = /^\d{1,5}(-\d{1,5})?$/;

let zoneCache: Map<string, boolean> | undefined;
function isTimeZone(tz: string): boolean {
  zoneCache ??= new Map();
  let ok = zoneCache.get(tz);
  if (ok === undefined) {
    try { new Intl.DateTimeFormat('en', { timeZone: tz }); ok = true; } catch { ok = false; }
    zoneCache.set(tz, ok);
  }
  return ok;
}

export const FirewallRule = z.strictObject({
  direction: z.enum(['in', 'out']).optional(),
  protocol: z.enum(['tcp', 'udp', 'icmp']).optional(),
  port: z.union([Port, z.string().regex(PORT_RANGE_RE)]).meta({ description: 'a port (22) or a range ("8000-8100")' }).optional(),
  source: Cidr.optional(),
  destination: Cidr.optional(),
  action: z.enum(['allow', 'deny']).optional(),
  description: z.string().optional(),
}).superRefine((r, ctx) => {
  if ((r.protocol ?? 'tcp') !== 'icmp' && r.port === undefined) {
    ctx.addIssue({ code: 'custom', message: '', path: ['port'], params: { def: 'DEF_REQUIRED', expected: `a port for protocol ${r.protocol ?? 'tcp'}` } satisfies IssueParams });
  }
});

export const SshSettings = z.strictObject({
  user: z.string().min(1).optional(),
  port: Port.optional(),
  private_key: z.string().optional(),
  bastion: z.string().optional(),
});

export const StorageVolume = z.strictObject({
  name: Name,
  size: size('GiB', { min: 1024 }),
  type: z.string().optional(),
  mount: z.string().regex(ABS_PATH_RE).meta({ description: 'an absolute path' }).optional(),
  filesystem: z.enum(['ext4', 'xfs']).optional(),
  encrypted: z.boolean().optional(),
  keep_on_delete: z.boolean().optional(),
});

export const ServerNetwork = z.strictObject({
  public_ipv4: z.boolean().optional(),
  public_ipv6: z.boolean().optional(),
  private: z.array(z.strictObject({
    network: Name,
    ip: z.string().regex(IPV4_RE).meta({ description: 'an IPv4 address' }).optional(),
  })).optional(),
  firewall: z.array(FirewallRule).optional(),
});

export const PrivateNetwork = z.strictObject({ name: Name, cidr: Cidr, zone: z.string().optional() });

export const NetworkSettings = z.strictObject({
  domain: z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)
    .meta({ description: 'a DNS domain such as "shop.internal"' }).optional(),
  private_networks: z.array(PrivateNetwork).optional(),
  firewall: z.array(FirewallRule).optional(),
  hosts_file: z.boolean().optional(),
});

export const TaskservRefObject = z.strictObject({
  name: Name,
  version: SemverRange.optional(),
  profile: z.string().min(1).optional(),
  settings: FreeTable.optional(),
  enabled: z.boolean().optional(),
});
export const TaskservRef = z.union([Name, TaskservRefObject])
  .meta({ description: 'a taskserv name or a table { name, version?, profile?, settings?, enabled? }' });

const serverShape = {
  hostname: Name,
  title: z.string().optional(),
  provider: Name.optional(),
  zone: z.string().min(1).optional(),
  plan: z.string().min(1).optional(),
  cores: z.int().min(1).max(512).meta({ description: 'an integer 1–512' }).optional(),
  memory: size('MiB', { min: 256, max: 4 * 1048576 }).optional(),
  disk: size('GiB', { min: 5 * 1024, max: 64 * 1048576 }).optional(),
  image: z.string().min(1).optional(),
  labels: Labels.optional(),
  storage: z.array(StorageVolume).optional(),
  network: ServerNetwork.optional(),
  ssh: SshSettings.optional(),
  taskservs: z.array(TaskservRef).optional(),
  protected: z.boolean().optional(),
  time_zone: z.string().refine(isTimeZone, { params: { def: 'DEF_ENUM', expected: 'an IANA time zone such as "Europe/Berlin" or "UTC"' } satisfies IssueParams }).optional(),
  user_data: z.string().optional(),
  running_timeout: Duration.optional(),
  provider_settings: FreeTable.optional(),
};

export const Server = z.strictObject(serverShape);
export const ServerDefaults = z.strictObject(serverShape).omit({ hostname: true }).partial();

export const Placement = z.union([
  z.strictObject({ servers: z.array(Name).min(1) }),
  z.strictObject({ labels: Labels, count: z.int().min(1).optional() }),
  z.strictObject({ all: z.literal(true) }),
]).meta({ description: 'a placement { servers = [...] }, { labels = {...}, count? } or { all = true }' });

export const ClusterComponent = z.strictObject({
  name: Id,
  taskserv: Name,
  version: SemverRange.optional(),
  placement: Placement,
  after: z.array(Id).optional(),
  settings: FreeTable.optional(),
  optional: z.boolean().optional(),
});

/** Components of an infra's cluster entry: merged by name over the extension's, so partial. */
export const ClusterComponentOverride = ClusterComponent.partial().required({ name: true });

export const ClusterDefinition = z.strictObject({
  name: Name,
  extension: Name.optional(),
  version: SemverRange.optional(),
  description: z.string().optional(),
  settings: FreeTable.optional(),
  components: z.array(ClusterComponentOverride).optional(),
  parallel: z.boolean().optional(),
  rollback_on_failure: z.boolean().optional(),
});

export const InfraSettings = z.strictObject({
  name: Name.optional(),
  description: z.string().optional(),
  environment: EnvName.optional(),
  provider: Name.optional(),
  labels: Labels.optional(),
  defaults: ServerDefaults.optional(),
  provider_defaults: z.record(Name, ServerDefaults).optional(),
  network: NetworkSettings.optional(),
  ssh: SshSettings.optional(),
  taskserv_defaults: z.record(Name, z.strictObject({ version: SemverRange.optional(), settings: FreeTable.optional() })).optional(),
  servers: z.array(Server),
  clusters: z.array(ClusterDefinition).optional(),
});

// ── batch workflows (§6) ──────────────────────────────────────────────────────────

const ServerList = z.union([z.literal('*'), z.array(Name)]).meta({ description: 'a list of hostnames or "*"' });
export const ServerTarget = z.union([
  z.literal('*'), Name, z.array(Name).min(1),
  z.strictObject({ servers: z.union([z.literal('*'), Name, z.array(Name).min(1)]), infra: Name.optional() }),
]).meta({ description: 'a hostname, a list of hostnames, "*" or { servers, infra? }' });
export const TaskservTarget = z.union([
  Name,
  z.strictObject({ taskserv: Name, servers: ServerList.optional(), version: SemverRange.optional(), infra: Name.optional() }),
]).meta({ description: 'a taskserv name or { taskserv, servers?, version?, infra? }' });
export const ClusterTarget = z.union([Name, z.strictObject({ cluster: Name, infra: Name.optional() })])
  .meta({ description: 'a cluster name or { cluster, infra? }' });
export const ScriptTarget = z.strictObject({
  run: z.string().min(1),
  on: z.union([z.literal('local'), z.strictObject({ servers: ServerList })]).optional(),
  shell: z.string().min(1).optional(),
  env: z.record(z.string(), z.string()).optional(),
  undo: z.string().optional(),
  /** safe to run again when the engine running it died mid-way (otherwise the workflow stops for a decision) */
  idempotent: z.boolean().optional(),
});

export const OPERATION_TYPES = ['server_create', 'server_update', 'server_delete', 'taskserv_create', 'taskserv_update',
  'taskserv_delete', 'cluster_create', 'cluster_delete', 'script'] as const;

const operationShape = {
  id: Id,
  provider: Name.optional(),
  dependencies: z.array(Id).optional(),
  after: z.array(Id).optional(),
  retries: z.int().min(0).max(20).optional(),
  retry_delay: Duration.optional(),
  timeout: Duration.optional(),
  continue_on_error: z.boolean().optional(),
  rollback: z.boolean().optional(),
  description: z.string().optional(),
};

export const Operation = z.discriminatedUnion('type', [
  z.strictObject({ ...operationShape, type: z.enum(['server_create', 'server_update', 'server_delete']), target: ServerTarget }),
  z.strictObject({ ...operationShape, type: z.enum(['taskserv_create', 'taskserv_update', 'taskserv_delete']), target: TaskservTarget }),
  z.strictObject({ ...operationShape, type: z.enum(['cluster_create', 'cluster_delete']), target: ClusterTarget }),
  z.strictObject({ ...operationShape, type: z.literal('script'), target: ScriptTarget }),
]);

export const SEMVER_RE = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

export const BatchWorkflow = z.strictObject({
  name: Name,
  version: z.string().regex(SEMVER_RE).meta({ description: 'a version such as "1.2.0"' }).optional(),
  description: z.string().optional(),
  infra: Name.optional(),
  environment: EnvName.optional(),
  parallel_limit: z.int().min(1).max(100).optional(),
  rollback_enabled: z.boolean().optional(),
  continue_on_error: z.boolean().optional(),
  timeout: Duration.optional(),
  defaults: z.strictObject({ retries: z.int().min(0).max(20).optional(), retry_delay: Duration.optional(), timeout: Duration.optional() }).optional(),
  labels: Labels.optional(),
  operations: z.array(Operation).min(1).max(1000),
});

export type FirewallRule = z.infer<typeof FirewallRule>;
export type SshSettings = z.infer<typeof SshSettings>;
export type StorageVolume = z.infer<typeof StorageVolume>;
export type ServerNetwork = z.infer<typeof ServerNetwork>;
export type NetworkSettings = z.infer<typeof NetworkSettings>;
export type TaskservRef = z.infer<typeof TaskservRef>;
export type Server = z.infer<typeof Server>;
export type ServerDefaults = z.infer<typeof ServerDefaults>;
export type ClusterComponent = z.infer<typeof ClusterComponent>;
export type ClusterDefinition = z.infer<typeof ClusterDefinition>;
export type InfraSettings = z.infer<typeof InfraSettings>;
export type Operation = z.infer<typeof Operation>;
export type OperationType = Operation['type'];
export type BatchWorkflow = z.infer<typeof BatchWorkflow>;

const ALIAS_TARGET_KEYS = ['servers', 'taskserv', 'cluster', 'infra', 'version'] as const;

/**
 * The accepted alternative spellings of §6 (dotted types, the API's `depends_on` and
 * `timeout_s`, target fields written on the operation), rewritten to the canonical form
 * before validation. Anything else is left for the schema to report.
 */
export function normalizeWorkflowInput(raw: unknown): unknown {
  if (!isTable(raw) || !Array.isArray(raw.operations)) return raw;
  return { ...raw, operations: raw.operations.map(normalizeOperation) };
}

function normalizeOperation(op: unknown): unknown {
  if (!isTable(op)) return op;
  const out: Record<string, unknown> = { ...op };
  if (typeof out.type === 'string' && out.type.includes('.')) out.type = out.type.replace('.', '_');
  if ('depends_on' in out && !('dependencies' in out)) { out.dependencies = out.depends_on; delete out.depends_on; }
  if ('timeout_s' in out && !('timeout' in out)) { out.timeout = out.timeout_s; delete out.timeout_s; }
  if (!('target' in out) && typeof out.type === 'string' && out.type !== 'script') {
    const target: Record<string, unknown> = {};
    for (const k of ALIAS_TARGET_KEYS) if (k in out) { target[k] = out[k]; delete out[k]; }
    if (Object.keys(target).length > 0) out.target = target;
  }
  return out;
}

export function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
