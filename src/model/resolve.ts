import { isTable, type FirewallRule, type InfraSettings, type Server, type ServerDefaults, type SshSettings } from './schema.js';
import { parseDuration, parseSize, type Labels } from './scalars.js';

/**
 * Server resolution of spec/models.md §3, pure (no I/O): provider config defaults →
 * infra.defaults → infra.provider_defaults[provider] → the server, tables deep-merged and
 * arrays replaced; then defaults filled and sizes normalised. The result is what the planner,
 * the canonical spec and the templates' `server` variable are built from.
 */

export interface ProviderConfigDefaults { zone?: string; plan?: string; image?: string }

export interface ResolveOptions {
  /** config `providers.default`, used when neither the server nor the infra names a provider. */
  defaultProvider?: string;
  /** config `[providers.<name>]` zone/plan/image. */
  providers?: Record<string, ProviderConfigDefaults>;
  /** The catalog's root disk of a plan (GiB), used when the server gives no disk. */
  planDisk?: (provider: string, plan: string) => number | undefined;
}

export interface ResolvedFirewallRule {
  direction: 'in' | 'out';
  protocol: 'tcp' | 'udp' | 'icmp';
  port?: number | string;
  source?: string;
  destination?: string;
  action: 'allow' | 'deny';
  description?: string;
}

export interface ResolvedVolume {
  name: string;
  size_gb: number;
  type?: string;
  mount?: string;
  filesystem: 'ext4' | 'xfs';
  encrypted: boolean;
  keep_on_delete: boolean;
}

export interface ResolvedTaskservRef {
  name: string;
  version?: string;
  profile?: string;
  settings?: Record<string, unknown>;
  enabled: boolean;
}

export interface ResolvedServer {
  hostname: string;
  fqdn: string;
  title?: string;
  /** undefined only when no provider is named anywhere (the planner reports it). */
  provider?: string;
  zone?: string;
  plan?: string;
  cores?: number;
  memory_mb?: number;
  disk_gb: number;
  image?: string;
  labels: Labels;
  storage: ResolvedVolume[];
  network: {
    public_ipv4: boolean;
    public_ipv6: boolean;
    private: { network: string; ip?: string }[];
    firewall: ResolvedFirewallRule[];
  };
  ssh: SshSettings;
  taskservs: ResolvedTaskservRef[];
  protected: boolean;
  time_zone: string;
  user_data?: string;
  running_timeout_s: number;
  provider_settings?: Record<string, unknown>;
}

export const DEFAULT_DISK_GB = 20;
export const DEFAULT_RUNNING_TIMEOUT_S = 600;
const DEFAULT_FIREWALL: FirewallRule[] = [{ direction: 'in', protocol: 'tcp', port: 22, action: 'allow' }];

/** Tables merge key by key (recursively), everything else — arrays included — is replaced. */
export function deepMerge<T>(...layers: (T | undefined)[]): T {
  let out: unknown = undefined;
  for (const layer of layers) {
    if (layer === undefined) continue;
    out = mergeTwo(out, layer);
  }
  return out as T;
}

function mergeTwo(a: unknown, b: unknown): unknown {
  if (!isTable(a) || !isTable(b)) return isTable(b) ? mergeTwo({}, b) : b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) if (v !== undefined) out[k] = isTable(v) ? mergeTwo(out[k], v) : v;
  return out;
}

export function resolveFirewallRule(r: FirewallRule): ResolvedFirewallRule {
  const direction = r.direction ?? 'in';
  const out: ResolvedFirewallRule = { direction, protocol: r.protocol ?? 'tcp', action: r.action ?? 'allow' };
  if (r.port !== undefined) out.port = r.port;
  if (direction === 'in') out.source = r.source ?? '0.0.0.0/0';
  else out.destination = r.destination ?? '0.0.0.0/0';
  if (direction === 'in' && r.destination !== undefined) out.destination = r.destination;
  if (direction === 'out' && r.source !== undefined) out.source = r.source;
  if (r.description !== undefined) out.description = r.description;
  return out;
}

export function resolveServers(infra: InfraSettings, opts: ResolveOptions = {}): ResolvedServer[] {
  const domain = infra.network?.domain;
  const infraFirewall = infra.network?.firewall ?? DEFAULT_FIREWALL;
  // Same order as infra.servers: servers[i] of the definition is result[i].
  return infra.servers.map((server) => {
    const provider = server.provider ?? infra.defaults?.provider ?? infra.provider ?? opts.defaultProvider;
    const merged = deepMerge<ServerDefaults & Partial<Server>>(infra.defaults, provider ? infra.provider_defaults?.[provider] : undefined, server);
    // Config defaults are the lowest layer; its plan applies only to servers sized by neither plan nor cores/memory.
    const fromConfig = provider ? opts.providers?.[provider] : undefined;
    if (fromConfig) {
      merged.zone ??= fromConfig.zone;
      merged.image ??= fromConfig.image;
      if (merged.plan === undefined && merged.cores === undefined && merged.memory === undefined) merged.plan = fromConfig.plan;
    }
    const labels = { ...infra.labels, ...merged.labels };
    const diskGb = merged.disk !== undefined ? parseSize(merged.disk, 'GiB')! / 1024
      : (provider && merged.plan ? opts.planDisk?.(provider, merged.plan) : undefined) ?? DEFAULT_DISK_GB;
    const net = merged.network ?? {};
    const out: ResolvedServer = {
      hostname: server.hostname,
      fqdn: domain ? `${server.hostname}.${domain}` : server.hostname,
      disk_gb: diskGb,
      labels,
      storage: (merged.storage ?? []).map((v) => ({
        name: v.name, size_gb: parseSize(v.size, 'GiB')! / 1024,
        ...(v.type !== undefined ? { type: v.type } : {}), ...(v.mount !== undefined ? { mount: v.mount } : {}),
        filesystem: v.filesystem ?? 'ext4', encrypted: v.encrypted ?? false, keep_on_delete: v.keep_on_delete ?? false,
      })),
      network: {
        public_ipv4: net.public_ipv4 ?? true,
        public_ipv6: net.public_ipv6 ?? false,
        private: (net.private ?? []).map((p) => ({ ...p })),
        firewall: (net.firewall ?? infraFirewall).map(resolveFirewallRule),
      },
      ssh: deepMerge<SshSettings>(infra.ssh, merged.ssh) ?? {},
      taskservs: (merged.taskservs ?? []).map((t) => (typeof t === 'string' ? { name: t, enabled: true } : { ...t, enabled: t.enabled ?? true })),
      protected: merged.protected ?? false,
      time_zone: merged.time_zone ?? 'UTC',
      running_timeout_s: merged.running_timeout !== undefined ? parseDuration(merged.running_timeout)! : DEFAULT_RUNNING_TIMEOUT_S,
    };
    if (merged.title !== undefined) out.title = merged.title;
    if (provider !== undefined) out.provider = provider;
    if (merged.zone !== undefined) out.zone = merged.zone;
    if (merged.plan !== undefined) out.plan = merged.plan;
    if (merged.cores !== undefined) out.cores = merged.cores;
    if (merged.memory !== undefined) out.memory_mb = parseSize(merged.memory, 'MiB')!;
    if (merged.image !== undefined) out.image = merged.image;
    if (merged.user_data !== undefined) out.user_data = merged.user_data;
    if (merged.provider_settings !== undefined) out.provider_settings = merged.provider_settings;
    return out;
  });
}
