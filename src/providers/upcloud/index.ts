import { ProvError } from '../../errors/index.js';
import type { Labels, ProviderManifest, ResolvedServer } from '../../model/index.js';
import { readCredentials, type Credentials } from '../credentials.js';
import { checkCatalog, configSeconds, configValue, staticPlans, staticPrice } from '../manifest.js';
import { DEFAULT_RETRY, sleep, type RetryPolicy } from '../retry.js';
import { hasTags, type Catalog, type Connection, type FindRef, type IdRef, type Issue, type Observed, type OperationContext, type Provider, type ServerStatus } from '../types.js';
import { UpCloudApiError, UpCloudClient } from './client.js';

/**
 * The UpCloud provider (API 1.3). Servers carry our tags as UpCloud labels, so `find` can adopt
 * a server whose create was interrupted. System tag keys (`provisioning.io/name`) are stored as
 * `provisioning_name`, because UpCloud label keys take no dots or slashes.
 */

export interface UpCloudDeps {
  manifest: ProviderManifest;
  /** the `[providers.upcloud]` table */
  config: Record<string, unknown>;
  env: Record<string, string | undefined>;
  retry?: RetryPolicy;
  /** between state polls */
  pollMs?: number;
}

// ── API shapes (the parts we read) ───────────────────────────────────────────────

interface ApiLabel { key: string; value: string }
interface ApiIp { address: string; family: 'IPv4' | 'IPv6'; access?: 'public' | 'private' | 'utility' }
export interface ApiServer {
  uuid: string;
  hostname: string;
  title?: string;
  state: 'started' | 'stopped' | 'maintenance' | 'error';
  zone: string;
  plan: string;
  core_number: string | number;
  memory_amount: string | number;
  labels?: { label: ApiLabel[] };
  storage_devices?: { storage_device: { storage: string; storage_size: number; type: string }[] };
  ip_addresses?: { ip_address: ApiIp[] };
  networking?: { interfaces?: { interface: { type: string; network?: string; ip_addresses?: { ip_address: ApiIp[] } }[] } };
}

const IMAGE_LABEL = 'provisioning_image';
const LABEL_KEY = /^[A-Za-z0-9_-]{1,255}$/;
const SYSTEM_PREFIX = 'provisioning.io/';

export const toLabelKey = (k: string): string => (k.startsWith(SYSTEM_PREFIX) ? `provisioning_${k.slice(SYSTEM_PREFIX.length)}` : k);
const fromLabelKey = (k: string): string => (k.startsWith('provisioning_') ? SYSTEM_PREFIX + k.slice('provisioning_'.length) : k);

const STATUS: Record<ApiServer['state'], ServerStatus> = { started: 'running', stopped: 'stopped', maintenance: 'creating', error: 'error' };

export function observe(s: ApiServer): Observed {
  const tags: Labels = {};
  let image = '';
  for (const l of s.labels?.label ?? []) {
    if (l.key === IMAGE_LABEL) image = l.value;
    else tags[fromLabelKey(l.key)] = l.value;
  }
  const addresses: Observed['addresses'] = { public_ipv4: [], public_ipv6: [], private: [] };
  for (const iface of s.networking?.interfaces?.interface ?? []) {
    for (const ip of iface.ip_addresses?.ip_address ?? []) {
      if (iface.type === 'public') (ip.family === 'IPv6' ? addresses.public_ipv6 : addresses.public_ipv4).push(ip.address);
      else if (iface.type === 'private') addresses.private.push({ network: iface.network ?? '', ip: ip.address });
    }
  }
  if (!s.networking) {
    for (const ip of s.ip_addresses?.ip_address ?? []) {
      if (ip.access === 'public') (ip.family === 'IPv6' ? addresses.public_ipv6 : addresses.public_ipv4).push(ip.address);
    }
  }
  const disks = (s.storage_devices?.storage_device ?? []).filter((d) => d.type === 'disk');
  return {
    provider_id: s.uuid,
    status: STATUS[s.state] ?? 'error',
    zone: s.zone,
    plan: s.plan,
    cores: Number(s.core_number),
    memory_mb: Number(s.memory_amount),
    disk_gb: disks[0]?.storage_size ?? 0,
    image,
    addresses,
    tags,
  };
}

/** Tags an object must carry to be "ours": the system tags when given, else all of them. */
function identity(tags: Labels): Labels {
  const sys = Object.entries(tags).filter(([k]) => k.startsWith(SYSTEM_PREFIX));
  return sys.length ? Object.fromEntries(sys) : tags;
}

export class UpCloudProvider implements Provider {
  readonly name = 'upcloud';
  #client?: UpCloudClient;
  readonly #retry: RetryPolicy;
  readonly #pollMs: number;

  constructor(private readonly deps: UpCloudDeps) {
    this.#retry = deps.retry ?? DEFAULT_RETRY;
    this.#pollMs = deps.pollMs ?? 2000;
  }

  private credentials(): Credentials {
    return readCredentials('upcloud', this.deps.config, this.deps.env, [
      { key: 'username', env: ['UPCLOUD_USERNAME'] },
      { key: 'password', env: ['UPCLOUD_PASSWORD'] },
    ]);
  }

  /** Credentials are checked here, before the first request of any operation. */
  private client(): UpCloudClient {
    this.#client ??= new UpCloudClient({
      baseUrl: String(configValue(this.deps.manifest, this.deps.config, 'api_url') ?? 'https://api.upcloud.com/1.3'),
      credentials: this.credentials(),
      retry: this.#retry,
    });
    return this.#client;
  }

  private get timeoutS(): number {
    return configSeconds(this.deps.manifest, this.deps.config, 'timeout', 180);
  }

  private cfg(key: string): string | undefined {
    const v = configValue(this.deps.manifest, this.deps.config, key);
    return typeof v === 'string' && v !== '' ? v : undefined;
  }

  async validate(_config: object, servers: ResolvedServer[]): Promise<Issue[]> {
    const issues = checkCatalog('upcloud', this.deps.manifest, servers);
    for (const s of servers) {
      for (const [k, v] of Object.entries(s.labels)) {
        if (!LABEL_KEY.test(k) || v === '') {
          issues.push({
            severity: 'error', code: 'DEF_CONFLICT', path: `servers.${s.hostname}.labels.${k}`,
            message: `UpCloud labels take keys of letters, digits, '-' and '_' and a non-empty value; '${k}' = '${v}' cannot be stored`,
            hint: 'rename the label (e.g. app.example/tier → app_tier) or give it a value',
          });
        }
      }
      if (s.network.private.length) {
        issues.push({
          severity: 'error', code: 'NOT_IMPLEMENTED', path: `servers.${s.hostname}.network.private`,
          message: 'private networks are not created by the upcloud provider yet', hint: 'remove network.private for now',
        });
      }
      const custom = s.network.firewall.some((r) => !(r.direction === 'in' && r.protocol === 'tcp' && String(r.port) === '22' && r.action === 'allow'));
      if (custom) {
        issues.push({
          severity: 'warning', code: 'NOT_IMPLEMENTED', path: `servers.${s.hostname}.network.firewall`,
          message: 'the upcloud provider does not apply firewall rules yet; the server is reachable on every port its OS opens',
        });
      }
    }
    return issues;
  }

  async catalog(): Promise<Catalog> {
    const m = this.deps.manifest;
    let client: UpCloudClient;
    try {
      client = this.client();
    } catch (err) {
      // Without credentials the catalog is the manifest's static list (offline use).
      if (err instanceof ProvError && err.code === 'AUTH_REQUIRED') return { zones: m.catalog?.zones ?? [], plans: staticPlans(m), images: m.catalog?.images ?? [] };
      throw err;
    }
    const [zones, plans, templates] = await Promise.all([
      client.get<{ zones: { zone: { id: string; public?: string }[] } }>('/zone'),
      client.get<{ plans: { plan: { name: string; core_number: number; memory_amount: number; storage_size?: number }[] } }>('/plan'),
      client.get<{ storages: { storage: { uuid: string; title: string }[] } }>('/storage/template'),
    ]);
    return {
      zones: zones.zones.zone.filter((z) => z.public !== 'no').map((z) => z.id),
      plans: plans.plans.plan.map((p) => ({ name: p.name, cores: Number(p.core_number), memory_mb: Number(p.memory_amount), ...(p.storage_size ? { disk_gb: Number(p.storage_size) } : {}) })),
      images: templates.storages.storage.map((t) => t.title),
    };
  }

  price(server: ResolvedServer): { hourly: number; monthly: number; currency: string } | undefined {
    return staticPrice(this.deps.manifest, server);
  }

  async create(server: ResolvedServer, ctx: OperationContext): Promise<Observed> {
    const client = this.client();
    const existing = await this.find({ tags: ctx.tags });
    if (existing) {
      ctx.progress?.(`adopting ${server.hostname} (${existing.provider_id}), created by an earlier run`);
      if (ctx.wait === false) return existing;
      if (existing.status === 'stopped') await this.power(existing, 'start');
      return observe(await this.waitFor(existing.provider_id, 'started', ctx.signal));
    }
    const image = server.image ?? this.cfg('image') ?? 'ubuntu-24.04';
    const template = await this.template(image);
    const tier = this.cfg('storage_tier') ?? 'maxiops';
    const labels: ApiLabel[] = [
      ...Object.entries(ctx.tags).map(([key, value]) => ({ key: toLabelKey(key), value })),
      { key: IMAGE_LABEL, value: image },
    ];
    const sized = server.plan ? { plan: server.plan } : server.cores && server.memory_mb
      ? { plan: 'custom', core_number: String(server.cores), memory_amount: String(server.memory_mb) }
      : { plan: this.cfg('plan') ?? '1xCPU-2GB' };
    const interfaces = [
      ...(server.network.public_ipv4 ? [{ type: 'public', ip_addresses: { ip_address: [{ family: 'IPv4' }] } }] : []),
      ...(server.network.public_ipv6 ? [{ type: 'public', ip_addresses: { ip_address: [{ family: 'IPv6' }] } }] : []),
      { type: 'utility', ip_addresses: { ip_address: [{ family: 'IPv4' }] } },
    ];
    const body = {
      server: {
        zone: server.zone ?? this.cfg('zone') ?? 'de-fra1',
        title: server.title ?? server.fqdn,
        hostname: server.fqdn,
        ...sized,
        metadata: server.provider_settings?.metadata === false ? 'no' : 'yes',
        timezone: server.time_zone,
        labels: { label: labels },
        login_user: { username: 'root', create_password: 'no', ssh_keys: { ssh_key: ctx.ssh_public_keys } },
        ...(server.user_data ? { user_data: server.user_data } : {}),
        storage_devices: {
          storage_device: [
            { action: 'clone', storage: template, title: `${server.hostname}-root`, size: server.disk_gb, tier },
            ...server.storage.map((v) => ({ action: 'create', title: `${server.hostname}-${v.name}`, size: v.size_gb, tier: v.type ?? tier })),
          ],
        },
        networking: { interfaces: { interface: interfaces } },
      },
    };
    ctx.progress?.(`creating ${server.hostname} in ${body.server.zone}`);
    const created = await client.post<{ server: ApiServer }>('/server', body, {
      beforeRetry: async () => {
        const made = await this.find({ tags: ctx.tags });
        return made ? { server: (await this.mustGet(made.provider_id)) } : undefined;
      },
    });
    if (ctx.wait === false) return observe(created.server);
    return observe(await this.waitFor(created.server.uuid, 'started', ctx.signal));
  }

  async find(ref: FindRef): Promise<Observed | null> {
    if (ref.provider_id) {
      const s = await this.getServer(ref.provider_id);
      if (s) return observe(s);
    }
    if (!Object.keys(ref.tags).length) return null;
    const [first] = await this.list(identity(ref.tags));
    return first ?? null;
  }

  async list(tags: Labels): Promise<Observed[]> {
    // UpCloud filters by one label server-side (`?label=key=value`); the rest is checked here.
    const first = Object.entries(tags)[0];
    const query = first ? `?label=${encodeURIComponent(`${toLabelKey(first[0])}=${first[1]}`)}` : '';
    const all = await this.client().get<{ servers: { server: ApiServer[] } }>(`/server${query}`);
    const ours = all.servers.server.filter((s) => hasTags(observe(s).tags, tags));
    const out: Observed[] = [];
    // The list has no addresses or disks; the details do.
    for (const s of ours) {
      const full = await this.getServer(s.uuid);
      if (full) out.push(observe(full));
    }
    return out;
  }

  /**
   * In-place changes (capability `resize`): a new plan or size stops the server, changes it and
   * starts it again when it was running; new labels replace the user's labels and keep ours.
   */
  async update(ref: IdRef, change: Partial<ResolvedServer>): Promise<Observed> {
    const client = this.client();
    let s = await this.waitSettled(ref.provider_id);
    const body: Record<string, unknown> = {};
    if (change.labels) {
      const kept = (s.labels?.label ?? []).filter((l) => l.key === IMAGE_LABEL || l.key.startsWith('provisioning_'));
      body.labels = { label: [...kept, ...Object.entries(change.labels).map(([key, value]) => ({ key: toLabelKey(key), value }))] };
    }
    const size = change.plan ? { plan: change.plan }
      : change.cores || change.memory_mb ? { plan: 'custom', core_number: String(change.cores ?? s.core_number), memory_amount: String(change.memory_mb ?? s.memory_amount) }
      : undefined;
    const wasRunning = s.state === 'started';
    if (size && wasRunning) await this.power(ref, 'stop');
    if (size || body.labels) await client.request('PUT', `/server/${ref.provider_id}`, { server: { ...body, ...size } });
    if (size && wasRunning) await this.power(ref, 'start');
    s = await this.mustGet(ref.provider_id);
    return observe(s);
  }

  async power(ref: IdRef, action: 'start' | 'stop' | 'restart'): Promise<void> {
    const client = this.client();
    const s = await this.waitSettled(ref.provider_id);
    const timeout = String(Math.min(this.timeoutS, 600));
    if (action === 'start') {
      if (s.state !== 'started') await client.post(`/server/${ref.provider_id}/start`);
      await this.waitFor(ref.provider_id, 'started');
    } else if (action === 'stop') {
      if (s.state !== 'stopped') await client.post(`/server/${ref.provider_id}/stop`, { stop_server: { stop_type: 'soft', timeout } });
      await this.waitFor(ref.provider_id, 'stopped');
    } else {
      await client.post(`/server/${ref.provider_id}/restart`, { restart_server: { stop_type: 'soft', timeout, timeout_action: 'destroy' } });
      await this.waitFor(ref.provider_id, 'started');
    }
  }

  async delete(ref: IdRef, opts: { keep_storage: boolean }): Promise<void> {
    const client = this.client();
    if (!(await this.getServer(ref.provider_id))) return; // already gone: deleting is idempotent
    // UpCloud deletes stopped servers only; the data goes anyway, so a hard stop is enough.
    if ((await this.waitSettled(ref.provider_id)).state !== 'stopped') {
      await client.post(`/server/${ref.provider_id}/stop`, { stop_server: { stop_type: 'hard' } });
      await this.waitFor(ref.provider_id, 'stopped');
    }
    try {
      await client.delete(`/server/${ref.provider_id}${opts.keep_storage ? '' : '?storages=1'}`);
    } catch (err) {
      if (!(err instanceof UpCloudApiError && err.status === 404)) throw err;
    }
  }

  connect(server: Observed): Connection {
    return {
      transport: 'ssh',
      host: server.addresses.public_ipv4[0] ?? server.addresses.public_ipv6[0] ?? server.addresses.private[0]?.ip,
      port: 22,
      user: this.deps.manifest.provider.default_user ?? 'root',
    };
  }

  // ── helpers ──────────────────────────────────────────────────────────────────

  private async getServer(uuid: string): Promise<ApiServer | null> {
    try {
      return (await this.client().get<{ server: ApiServer }>(`/server/${encodeURIComponent(uuid)}`)).server;
    } catch (err) {
      if (err instanceof UpCloudApiError && err.status === 404) return null;
      throw err;
    }
  }

  private async mustGet(uuid: string): Promise<ApiServer> {
    const s = await this.getServer(uuid);
    if (!s) throw new ProvError('NOT_FOUND', `UpCloud has no server ${uuid}`, { hint: "it was deleted outside provisioning; 'server list --refresh' shows it as missing" });
    return s;
  }

  /** Poll until the server reaches `state`, within providers.upcloud.timeout. */
  private async waitFor(uuid: string, state: 'started' | 'stopped', signal?: AbortSignal): Promise<ApiServer> {
    const deadline = Date.now() + this.timeoutS * 1000;
    for (;;) {
      const s = await this.mustGet(uuid);
      if (s.state === state) return s;
      if (s.state === 'error') throw new ProvError('PROVIDER_ERROR', `UpCloud server ${uuid} is in state 'error'`, { hint: 'see the server in the UpCloud hub; delete and re-create it' });
      if (Date.now() >= deadline) {
        throw new ProvError('WAIT_TIMEOUT', `UpCloud server ${uuid} is '${s.state}', not '${state}', after ${this.timeoutS}s`, {
          hint: 'raise providers.upcloud.timeout, or check the server in the UpCloud hub',
        });
      }
      await sleep(this.#pollMs, signal);
    }
  }

  /** The server once it is out of `maintenance` (UpCloud refuses actions meanwhile). */
  private async waitSettled(uuid: string): Promise<ApiServer> {
    const deadline = Date.now() + this.timeoutS * 1000;
    for (;;) {
      const s = await this.mustGet(uuid);
      if (s.state !== 'maintenance') return s;
      if (Date.now() >= deadline) throw new ProvError('WAIT_TIMEOUT', `UpCloud server ${uuid} stayed in maintenance for ${this.timeoutS}s`, { hint: 'raise providers.upcloud.timeout' });
      await sleep(this.#pollMs);
    }
  }

  /** A template's UUID from an image name: a UUID as is, else the template whose title has all its words. */
  private async template(image: string): Promise<string> {
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(image)) return image;
    const words = (t: string): string[] => t.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
    const want = words(image);
    const res = await this.client().get<{ storages: { storage: { uuid: string; title: string }[] } }>('/storage/template');
    const hit = res.storages.storage.find((t) => { const have = new Set(words(t.title)); return want.every((w) => have.has(w)); });
    if (!hit) {
      throw new ProvError('PROVIDER_ERROR', `UpCloud has no template matching image '${image}'`, {
        hint: `templates: ${res.storages.storage.map((t) => t.title).join(', ')}`,
      });
    }
    return hit.uuid;
  }
}
