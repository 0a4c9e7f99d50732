/**
 * The `local` provider: servers are containers of a Docker Engine API endpoint (Docker, or Podman's
 * Docker-compatible service from scripts/engine.sh), driven through dockerode. Every container,
 * volume and network carries our tags as labels, so `find` adopts what an interrupted run made.
 * Behaviour and choices: docs/providers.md "Local".
 */
import { connect as tcpConnect } from 'node:net';
import type Docker from 'dockerode';
import { closest } from '../../cli/suggest.js';
import { ProvError } from '../../errors/index.js';
import { DEFAULT_RUNNING_TIMEOUT_S, type Labels, type ProviderManifest, type ResolvedServer } from '../../model/index.js';
import { checkCatalog, configValue, staticPlans, staticPrice } from '../manifest.js';
import { sleep } from '../retry.js';
import type { Catalog, Connection, FindRef, IdRef, Issue, Observed, OperationContext, Plan, Provider, ServerStatus } from '../types.js';
import { connectEngine, hasImage, resolveSocket } from './engine.js';

export interface LocalDeps {
  manifest: ProviderManifest;
  /** the `[providers.local]` table */
  config: Record<string, unknown>;
  env: Record<string, string | undefined>;
  /** between state polls while waiting */
  pollMs?: number;
}

const SYSTEM_PREFIX = 'provisioning.io/';
/** Labels of our own bookkeeping; they are not part of a server's tags. */
const PRIVATE_PREFIX = 'provisioning.local/';
const L = {
  image: `${PRIVATE_PREFIX}image`,
  plan: `${PRIVATE_PREFIX}plan`,
  disk: `${PRIVATE_PREFIX}disk_gb`,
  volume: `${PRIVATE_PREFIX}volume`,
  keep: `${PRIVATE_PREFIX}keep_on_delete`,
  network: `${PRIVATE_PREFIX}network`,
} as const;
const KEYS_ENV = 'PROV_AUTHORIZED_KEYS';
const SSH_PORT = '22/tcp';
const STOP_TIMEOUT_S = 5;
const PREPARE_HINT = 'build the base image without a registry: `provisioning provider local prepare-image` (it makes localhost/prov-debian:12; set providers.local.image to it)';

/**
 * PID 1 of every server. The keys come in an environment variable and are added on every start
 * (so they survive stop/start and a recreated /root); sshd runs in the foreground when the image
 * has it, else a sleep loop that exits at once on SIGTERM (a plain `sleep` as PID 1 would ignore it).
 */
export const CONTAINER_CMD = ['/bin/sh', '-c', [
  `if [ -n "\${${KEYS_ENV}:-}" ]; then`,
  '  mkdir -p /root/.ssh && chmod 700 /root/.ssh && touch /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys',
  `  printf '%s\\n' "$${KEYS_ENV}" | while IFS= read -r k; do`,
  '    [ -z "$k" ] || grep -qxF "$k" /root/.ssh/authorized_keys || printf \'%s\\n\' "$k" >> /root/.ssh/authorized_keys',
  '  done',
  'fi',
  'if [ -x /usr/sbin/sshd ]; then mkdir -p /run/sshd && ssh-keygen -A && exec /usr/sbin/sshd -D -e; fi',
  "trap 'exit 0' TERM INT",
  'while :; do sleep 3600 & wait $!; done',
].join('\n')];

// The parts of `GET /containers/{id}/json` we read (dockerode's typings are loose about Podman).
interface Inspect {
  Id: string;
  Name: string;
  Image: string;
  State: { Status: string; Running: boolean; ExitCode: number; OOMKilled?: boolean; Error?: string };
  Config: { Image: string; Labels?: Record<string, string> | null };
  HostConfig: { NanoCpus?: number; CpuQuota?: number; CpuPeriod?: number; Memory?: number };
  NetworkSettings: {
    Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
    Networks?: Record<string, { IPAddress?: string }> | null;
  };
}

const STATUS: Record<string, ServerStatus> = {
  // created/configured: the container exists and nothing will start it by itself (a create killed before its start)
  running: 'running', created: 'stopped', restarting: 'creating', configured: 'stopped',
  exited: 'stopped', stopped: 'stopped', paused: 'stopped', removing: 'deleting', dead: 'error',
};

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number }).statusCode;
const engineMessage = (err: unknown): string => {
  const e = err as { json?: { message?: string; cause?: string }; message?: string };
  return (e.json?.message ?? e.message ?? String(err)).replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
};

/** Docker names take `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; everything else becomes '-'. */
export function containerName(tags: Labels, hostname: string): string {
  const parts = [tags[`${SYSTEM_PREFIX}workspace`], tags[`${SYSTEM_PREFIX}infra`], tags[`${SYSTEM_PREFIX}name`] ?? hostname].filter((p): p is string => Boolean(p));
  return `prov-${parts.join('-')}`.replace(/[^a-zA-Z0-9_.-]+/g, '-').replace(/-+$/, '');
}

/** Tags an object must carry to be "ours": the system tags when given, else all of them. */
function identity(tags: Labels): Labels {
  const sys = Object.entries(tags).filter(([k]) => k.startsWith(SYSTEM_PREFIX));
  return sys.length ? Object.fromEntries(sys) : tags;
}

const labelFilter = (tags: Labels): { label: string[] } => ({ label: Object.entries(tags).map(([k, v]) => `${k}=${v}`) });

/** `host:container[:ro|:rw]` with absolute paths on both sides. */
const BIND_RE = /^(\/[^:]*):(\/[^:]*)(?::(ro|rw))?$/;

export class LocalProvider implements Provider {
  readonly name = 'local';
  #docker?: Promise<Docker>;
  #network?: Promise<void>;
  readonly #images = new Map<string, Promise<void>>();
  readonly #imageLabels = new Map<string, Promise<Record<string, string>>>();
  readonly #pollMs: number;

  constructor(private readonly deps: LocalDeps) {
    this.#pollMs = deps.pollMs ?? 250;
  }

  private cfg(key: string): string | undefined {
    const v = configValue(this.deps.manifest, this.deps.config, key);
    return typeof v === 'string' && v !== '' ? v : undefined;
  }

  get socket(): string {
    return resolveSocket(this.cfg('socket'), this.deps.env);
  }

  /** The engine, connected (and pinged) on first use; an unreachable socket is UNAVAILABLE. */
  engine(): Promise<Docker> {
    this.#docker ??= connectEngine(this.socket).catch((err: unknown) => { this.#docker = undefined; throw err; });
    return this.#docker;
  }

  private get networkName(): string {
    return this.cfg('network') ?? 'provisioning';
  }

  // ── offline ──────────────────────────────────────────────────────────────────

  async validate(config: object, servers: ResolvedServer[]): Promise<Issue[]> {
    const m = this.deps.manifest;
    const cfg = { ...this.deps.config, ...(config as Record<string, unknown>) };
    const plans = staticPlans(m).map((p) => p.name);
    const zones = m.catalog?.zones ?? ['local'];
    // Our static plans are the whole catalog: an unknown plan is an error, not checkCatalog's warning.
    const issues = checkCatalog('local', m, servers).filter((i) => !i.path?.endsWith('.plan'));
    const near = (word: string, list: string[]): string => {
      const n = closest(word, list, 1)[0];
      return n ? `did you mean '${n}'? ` : '';
    };
    const zone = cfg.zone;
    if (typeof zone === 'string' && zone !== '' && !zones.includes(zone)) {
      issues.push({ severity: 'error', code: 'DEF_CONFLICT', path: 'providers.local.zone', message: `local has no zone '${zone}'`, hint: `${near(zone, zones)}zones: ${zones.join(', ')}` });
    }
    const plan = cfg.plan;
    if (typeof plan === 'string' && plan !== '' && !plans.includes(plan)) {
      issues.push({ severity: 'error', code: 'DEF_CONFLICT', path: 'providers.local.plan', message: `local has no plan '${plan}'`, hint: `${near(plan, plans)}plans: ${plans.join(', ')}` });
    }
    for (const s of servers) {
      const at = `servers.${s.hostname}`;
      if (s.plan && !plans.includes(s.plan)) {
        issues.push({
          severity: 'error', code: 'DEF_CONFLICT', path: `${at}.plan`, message: `local has no plan '${s.plan}'`,
          hint: `${near(s.plan, plans)}plans: ${plans.join(', ')}; or size the container with cores and memory`,
        });
      }
      const settings = s.provider_settings ?? {};
      if (settings.privileged !== undefined && typeof settings.privileged !== 'boolean') {
        issues.push({ severity: 'error', code: 'DEF_TYPE', path: `${at}.provider_settings.privileged`, message: `privileged must be true or false, not ${JSON.stringify(settings.privileged)}` });
      }
      const targets: string[] = s.storage.map((v) => v.mount ?? `/mnt/${v.name}`);
      if (settings.volumes !== undefined) {
        if (!Array.isArray(settings.volumes)) {
          issues.push({ severity: 'error', code: 'DEF_TYPE', path: `${at}.provider_settings.volumes`, message: 'volumes must be a list of "host:container[:ro]" strings', hint: 'e.g. volumes = ["/srv/data:/data", "/etc/ssl/certs:/etc/ssl/certs:ro"]' });
        } else {
          settings.volumes.forEach((v, i) => {
            const mm = typeof v === 'string' ? BIND_RE.exec(v) : null;
            if (!mm) {
              issues.push({
                severity: 'error', code: 'DEF_PATTERN', path: `${at}.provider_settings.volumes[${i}]`,
                message: `bind mount ${JSON.stringify(v)} is not "host:container[:ro|:rw]" with absolute paths`,
                hint: 'e.g. "/srv/data:/data" or "/etc/ssl/certs:/etc/ssl/certs:ro"; named volumes go in the server\'s storage list',
              });
            } else targets.push(mm[2]!);
          });
        }
      }
      const seen = new Set<string>();
      for (const t of targets) {
        if (seen.has(t)) issues.push({ severity: 'error', code: 'DEF_CONFLICT', path: `${at}.storage`, message: `two volumes of ${s.hostname} mount at ${t}`, hint: 'give each storage volume its own mount (default /mnt/<name>)' });
        seen.add(t);
      }
    }
    return issues;
  }

  async catalog(): Promise<Catalog> {
    const m = this.deps.manifest;
    return { zones: m.catalog?.zones ?? ['local'], plans: staticPlans(m), images: m.catalog?.images ?? [] };
  }

  price(server: ResolvedServer): { hourly: number; monthly: number; currency: string } | undefined {
    return staticPrice(this.deps.manifest, server);
  }

  // ── create ───────────────────────────────────────────────────────────────────

  async create(server: ResolvedServer, ctx: OperationContext): Promise<Observed> {
    const docker = await this.engine();
    const existing = await this.find({ tags: ctx.tags });
    if (existing) {
      ctx.progress?.(`adopting ${server.hostname} (container ${existing.provider_id.slice(0, 12)}), created earlier`);
      return this.settle(docker, existing.provider_id, server, ctx);
    }
    const size = this.size(server);
    const image = server.image ?? this.cfg('image') ?? 'docker.io/library/ubuntu:24.04';
    const name = containerName(ctx.tags, server.hostname);
    const network = this.networkName;
    ctx.signal?.throwIfAborted();
    await Promise.all([this.ensureNetwork(docker, ctx), this.ensureImage(docker, image, ctx)]);

    const mounts: { Type: 'volume'; Source: string; Target: string }[] = [];
    for (const v of server.storage) {
      ctx.signal?.throwIfAborted();
      const vol = await this.ensureVolume(docker, `${name}-${v.name}`, { ...ctx.tags, [L.volume]: v.name, ...(v.keep_on_delete ? { [L.keep]: 'true' } : {}) }, ctx);
      mounts.push({ Type: 'volume', Source: vol, Target: v.mount ?? `/mnt/${v.name}` });
    }
    const settings = server.provider_settings ?? {};
    const binds = Array.isArray(settings.volumes) ? settings.volumes.map(String) : [];
    for (const b of binds) {
      if (!BIND_RE.test(b)) {
        throw new ProvError('DEFINITION_INVALID', `bind mount ${JSON.stringify(b)} of ${server.hostname} is not "host:container[:ro|:rw]" with absolute paths`, {
          location: { resource: `servers.${server.hostname}.provider_settings.volumes` }, hint: 'e.g. "/srv/data:/data:ro"',
        });
      }
    }

    ctx.progress?.(`creating container ${name} from ${image} (${size.cores} CPU, ${size.memory_mb} MiB)`);
    ctx.signal?.throwIfAborted();
    const labels: Labels = {
      ...ctx.tags, [L.image]: image, [L.disk]: String(server.disk_gb), [L.network]: network, ...(size.plan ? { [L.plan]: size.plan } : {}),
    };
    let id: string;
    try {
      const c = await docker.createContainer({
        name, Image: image, Hostname: server.hostname, Labels: labels,
        Env: [`${KEYS_ENV}=${ctx.ssh_public_keys.join('\n')}`, `TZ=${server.time_zone}`],
        // As the entrypoint, so an image's own ENTRYPOINT/CMD cannot wrap or replace it.
        Entrypoint: CONTAINER_CMD, Cmd: [],
        ExposedPorts: { [SSH_PORT]: {} },
        HostConfig: {
          NanoCpus: Math.round(size.cores * 1e9),
          Memory: size.memory_mb * 1024 * 1024,
          Privileged: settings.privileged === true,
          NetworkMode: network,
          PortBindings: { [SSH_PORT]: [{ HostIp: '127.0.0.1', HostPort: '' }] },
          Mounts: mounts,
          Binds: binds,
        },
        NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [server.hostname] } } },
      });
      id = c.id;
    } catch (err) {
      // A parallel run made it between our find and create: adopt theirs.
      const raced = await this.find({ tags: ctx.tags });
      if (raced) return this.settle(docker, raced.provider_id, server, ctx);
      if (statusOf(err) === 409 || /already in use|already exists/i.test(engineMessage(err))) {
        throw new ProvError('ALREADY_EXISTS', `a container named ${name} exists on ${this.socket} and is not ${server.hostname} of this infra (its labels differ)`, {
          hint: `remove or rename it (podman rm -f ${name} / docker rm -f ${name}) if it is a leftover`, details: { container: name }, cause: err,
        });
      }
      throw this.engineError(`creating container ${name} from ${image}`, err);
    }
    return this.settle(docker, id, server, ctx);
  }

  /** Start the container if it is not running and, unless ctx.wait is false, wait until it is usable. */
  private async settle(docker: Docker, id: string, server: ResolvedServer, ctx: OperationContext): Promise<Observed> {
    const c = await this.inspect(docker, id);
    if (!c) throw new ProvError('NOT_FOUND', `container ${id.slice(0, 12)} of ${server.hostname} vanished while it was being created`, { hint: 'was it removed by hand? run the command again' });
    if (!c.State.Running) {
      ctx.progress?.(`starting ${server.hostname}`);
      await this.start(docker, id);
    }
    if (ctx.wait === false) return this.observe((await this.inspect(docker, id)) ?? c);
    return this.observe(await this.waitReady(docker, id, server.hostname, server.running_timeout_s, ctx));
  }

  /** Until the container runs and, when it runs sshd, the published port answers with an SSH banner. */
  private async waitReady(docker: Docker, id: string, hostname: string, timeoutS: number, ctx: Pick<OperationContext, 'signal' | 'progress'> = {}): Promise<Inspect> {
    const deadline = Date.now() + timeoutS * 1000;
    const timeout = (why: string): ProvError => new ProvError('WAIT_TIMEOUT', `${hostname} is not ready after ${timeoutS}s: ${why}`, {
      hint: "raise the server's running_timeout, or look at the container's log", details: { hostname, container: id },
    });
    let c: Inspect | null;
    for (;;) {
      c = await this.inspect(docker, id);
      if (!c) throw new ProvError('NOT_FOUND', `container ${id.slice(0, 12)} of ${hostname} vanished while starting`, { hint: 'was it removed by hand? run the command again' });
      if (c.State.Running) break;
      if (['exited', 'stopped', 'dead'].includes(c.State.Status)) throw await this.exitedError(docker, c, hostname);
      if (Date.now() > deadline) throw timeout(`the container is '${c.State.Status}'`);
      await sleep(this.#pollMs, ctx.signal);
    }
    const port = publishedPort(c);
    if (port && await this.hasSshd(docker, id)) {
      ctx.progress?.(`waiting for sshd of ${hostname} on 127.0.0.1:${port}`);
      while (!(await sshBanner('127.0.0.1', port))) {
        const now = await this.inspect(docker, id);
        if (now && !now.State.Running) throw await this.exitedError(docker, now, hostname);
        if (Date.now() > deadline) throw timeout(`sshd does not answer on 127.0.0.1:${port}`);
        await sleep(this.#pollMs, ctx.signal);
      }
    }
    return c;
  }

  /** Cores and memory: the server's own, else its plan's, else the configured default plan's. */
  private size(server: ResolvedServer): { cores: number; memory_mb: number; plan?: string } {
    const plans = staticPlans(this.deps.manifest);
    const byName = (n: string | undefined): Plan | undefined => plans.find((p) => p.name === n);
    if (server.plan && !byName(server.plan)) {
      const near = closest(server.plan, plans.map((p) => p.name), 1)[0];
      throw new ProvError('DEFINITION_INVALID', `local has no plan '${server.plan}' (server ${server.hostname})`, {
        location: { resource: `servers.${server.hostname}.plan` },
        hint: `${near ? `did you mean '${near}'? ` : ''}plans: ${plans.map((p) => p.name).join(', ')}; or set cores and memory`,
      });
    }
    const named = server.plan ?? (server.cores === undefined && server.memory_mb === undefined ? this.cfg('plan') : undefined);
    const plan = byName(named) ?? byName(this.cfg('plan')) ?? plans[0] ?? { name: 'small', cores: 1, memory_mb: 1024 };
    const custom = server.cores !== undefined || server.memory_mb !== undefined;
    return { cores: server.cores ?? plan.cores, memory_mb: server.memory_mb ?? plan.memory_mb, ...(!custom && byName(named) ? { plan: named } : {}) };
  }

  /** The bridge network, created (labelled as ours) when missing; shared by the parallel creates of a run. */
  private ensureNetwork(docker: Docker, ctx: OperationContext): Promise<void> {
    const name = this.networkName;
    this.#network ??= (async () => {
      try {
        await docker.getNetwork(name).inspect();
        return;
      } catch (err) {
        if (statusOf(err) !== 404) throw this.engineError(`looking up network ${name}`, err);
      }
      ctx.progress?.(`creating bridge network ${name}`);
      try {
        await docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: { [L.network]: name, 'provisioning.io/provider': 'local' } });
      } catch (err) {
        // Another process created it meanwhile (Docker: 409, Podman: 500 "already exists").
        const there = await docker.getNetwork(name).inspect().then(() => true, () => false);
        if (!there) throw this.engineError(`creating bridge network ${name}`, err);
      }
    })().catch((err: unknown) => { this.#network = undefined; throw err; });
    return this.#network;
  }

  /** The image under the pull policy: `missing` pulls when absent, `always` pulls, `never` only checks. */
  private ensureImage(docker: Docker, image: string, ctx: OperationContext): Promise<void> {
    let p = this.#images.get(image);
    if (!p) {
      p = this.pullPolicy(docker, image, ctx);
      p.catch(() => this.#images.delete(image));
      this.#images.set(image, p);
    }
    return p;
  }

  private async pullPolicy(docker: Docker, image: string, ctx: OperationContext): Promise<void> {
    const policy = this.cfg('pull') ?? 'missing';
    const present = await hasImage(docker, image).catch((err: unknown) => { throw this.engineError(`looking up image ${image}`, err); });
    if (policy === 'never' || (policy === 'missing' && present)) {
      if (present) return;
      throw new ProvError('NOT_FOUND', `image ${image} is not in the container engine at ${this.socket}, and providers.local.pull = "never" forbids pulling it`, {
        location: { resource: 'providers.local.image' }, details: { image, socket: this.socket }, hint: `${PREPARE_HINT}; or allow pulls with providers.local.pull = "missing"`,
      });
    }
    ctx.progress?.(`pulling ${image}`);
    try {
      await pull(docker, image);
    } catch (err) {
      throw new ProvError(present ? 'UNAVAILABLE' : 'NOT_FOUND', present
        ? `pulling ${image} failed (providers.local.pull = "always"): ${engineMessage(err)}`
        : `image ${image} is not in the container engine at ${this.socket} and pulling it failed: ${engineMessage(err)}`, {
        location: { resource: 'providers.local.image' }, details: { image, socket: this.socket }, cause: err,
        hint: present ? 'no registry is reachable? set providers.local.pull = "missing" to use the local copy' : PREPARE_HINT,
      });
    }
  }

  /** A named volume for one storage entry; one left by an interrupted run of the same server is reused. */
  private async ensureVolume(docker: Docker, name: string, labels: Labels, ctx: OperationContext): Promise<string> {
    try {
      const v = (await docker.getVolume(name).inspect()) as { Labels?: Record<string, string> | null };
      if (hasAll(v.Labels ?? {}, identity(labels))) return name;
      throw new ProvError('ALREADY_EXISTS', `volume ${name} exists on ${this.socket} and does not belong to this server (its labels differ)`, {
        hint: `remove it if it is a leftover (podman volume rm ${name})`, details: { volume: name },
      });
    } catch (err) {
      if (err instanceof ProvError) throw err;
      if (statusOf(err) !== 404) throw this.engineError(`looking up volume ${name}`, err);
    }
    ctx.progress?.(`creating volume ${name}`);
    try {
      await docker.createVolume({ Name: name, Labels: labels });
    } catch (err) {
      throw this.engineError(`creating volume ${name}`, err);
    }
    return name;
  }

  // ── find, list, power, delete ────────────────────────────────────────────────

  async find(ref: FindRef): Promise<Observed | null> {
    const docker = await this.engine();
    if (ref.provider_id) {
      const c = await this.inspect(docker, ref.provider_id);
      if (c) return this.observe(c);
    }
    if (!Object.keys(ref.tags).length) return null;
    const [first] = await this.list(identity(ref.tags));
    return first ?? null;
  }

  async list(tags: Labels): Promise<Observed[]> {
    const docker = await this.engine();
    let found: Docker.ContainerInfo[];
    try {
      found = await docker.listContainers({ all: true, filters: labelFilter(tags) });
    } catch (err) {
      throw this.engineError('listing containers', err);
    }
    const out: Observed[] = [];
    for (const info of found) {
      const c = await this.inspect(docker, info.Id);
      if (c && hasAll(c.Config.Labels ?? {}, tags)) out.push(await this.observe(c));
    }
    return out;
  }

  async power(ref: IdRef, action: 'start' | 'stop' | 'restart'): Promise<void> {
    const docker = await this.engine();
    const c = await this.mustInspect(docker, ref.provider_id);
    const container = docker.getContainer(c.Id);
    try {
      if (action === 'start') {
        if (!c.State.Running) await this.start(docker, c.Id);
      } else if (action === 'stop') {
        if (c.State.Running) await container.stop({ t: STOP_TIMEOUT_S });
      } else {
        await container.restart({ t: STOP_TIMEOUT_S });
      }
    } catch (err) {
      if (err instanceof ProvError) throw err;
      // 304: already in that state
      if (statusOf(err) !== 304) throw this.engineError(`${action} of container ${c.Name.replace(/^\//, '')}`, err);
    }
    // The next step logs in: a started server is ready when its sshd answers, as after create.
    if (action !== 'stop') await this.waitReady(docker, c.Id, c.Config.Labels?.[`${SYSTEM_PREFIX}name`] ?? c.Name.replace(/^\//, ''), DEFAULT_RUNNING_TIMEOUT_S);
  }

  async delete(ref: IdRef, opts: { keep_storage: boolean }): Promise<void> {
    const docker = await this.engine();
    const c = await this.inspect(docker, ref.provider_id);
    if (!c) return; // already gone: deleting is idempotent
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) !== 404) throw this.engineError(`removing container ${c.Name.replace(/^\//, '')}`, err);
    }
    if (opts.keep_storage) return;
    const tags = identity(stripPrivate(c.Config.Labels ?? {}));
    if (!Object.keys(tags).length) return; // not made by us: no volumes to attribute to it
    const { Volumes } = await docker.listVolumes({ filters: labelFilter(tags) });
    for (const v of Volumes ?? []) {
      const labels = v.Labels ?? {};
      if (!labels[L.volume] || !hasAll(labels, tags) || labels[L.keep] === 'true') continue;
      try {
        await docker.getVolume(v.Name).remove();
      } catch (err) {
        if (statusOf(err) !== 404) throw this.engineError(`removing volume ${v.Name}`, err);
      }
    }
  }

  connect(server: Observed): Connection {
    const user = this.deps.manifest.provider.default_user ?? 'root';
    if (this.cfg('transport') === 'ssh' && server.ssh_endpoint) return { transport: 'ssh', host: server.ssh_endpoint.host, port: server.ssh_endpoint.port, user };
    return { transport: 'exec', container: server.provider_id, user };
  }

  // ── helpers ──────────────────────────────────────────────────────────────────

  private async inspect(docker: Docker, id: string): Promise<Inspect | null> {
    try {
      return (await docker.getContainer(id).inspect()) as unknown as Inspect;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw this.engineError(`inspecting container ${id}`, err);
    }
  }

  private async mustInspect(docker: Docker, id: string): Promise<Inspect> {
    const c = await this.inspect(docker, id);
    if (!c) throw new ProvError('NOT_FOUND', `the container engine at ${this.socket} has no container ${id}`, { hint: "it was removed outside provisioning; 'server list --refresh' shows it as missing" });
    return c;
  }

  private async start(docker: Docker, id: string): Promise<void> {
    try {
      await docker.getContainer(id).start();
    } catch (err) {
      if (statusOf(err) === 304) return;
      throw this.engineError(`starting container ${id.slice(0, 12)}`, err);
    }
  }

  /** Whether PID 1 will be sshd: the image has /usr/sbin/sshd (asked of the running container). */
  private async hasSshd(docker: Docker, id: string): Promise<boolean> {
    const exec = await docker.getContainer(id).exec({ Cmd: ['/bin/sh', '-c', 'test -x /usr/sbin/sshd'], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    await new Promise<void>((resolve) => { stream.on('end', resolve); stream.on('close', resolve); stream.on('error', () => resolve()); stream.resume(); });
    for (let i = 0; i < 20; i++) {
      const info = await exec.inspect();
      if (!info.Running) return info.ExitCode === 0;
      await sleep(50);
    }
    return false;
  }

  private async observe(c: Inspect): Promise<Observed> {
    const labels = c.Config.Labels ?? {};
    const imageLabels = await this.imageLabels(c.Image);
    const tags: Labels = {};
    for (const [k, v] of Object.entries(stripPrivate(labels))) {
      if (!k.startsWith(SYSTEM_PREFIX) && imageLabels[k] === v) continue; // inherited from the image, not ours
      tags[k] = v;
    }
    const hc = c.HostConfig;
    const cores = hc.NanoCpus ? hc.NanoCpus / 1e9 : hc.CpuQuota && hc.CpuPeriod ? hc.CpuQuota / hc.CpuPeriod : 0;
    const network = labels[L.network] ?? this.networkName;
    const private_: Observed['addresses']['private'] = [];
    for (const [net, ep] of Object.entries(c.NetworkSettings.Networks ?? {})) {
      if (ep.IPAddress) private_.push({ network: net, ip: ep.IPAddress });
    }
    private_.sort((a, b) => Number(b.network === network) - Number(a.network === network));
    const port = publishedPort(c);
    const status: ServerStatus = c.State.OOMKilled && !c.State.Running ? 'error' : STATUS[c.State.Status] ?? 'error';
    const obs: Observed = {
      provider_id: c.Id,
      status,
      zone: this.cfg('zone') ?? 'local',
      cores,
      memory_mb: hc.Memory ? Math.round(hc.Memory / 1024 / 1024) : 0,
      disk_gb: Number(labels[L.disk] ?? 0),
      image: labels[L.image] ?? c.Config.Image,
      addresses: { public_ipv4: [], public_ipv6: [], private: private_ },
      tags,
    };
    if (labels[L.plan]) obs.plan = labels[L.plan];
    if (port) obs.ssh_endpoint = { host: '127.0.0.1', port };
    return obs;
  }

  private imageLabels(imageId: string): Promise<Record<string, string>> {
    let p = this.#imageLabels.get(imageId);
    if (!p) {
      p = this.engine().then((d) => d.getImage(imageId).inspect()).then((i) => i.Config?.Labels ?? {}, () => ({}));
      this.#imageLabels.set(imageId, p);
    }
    return p;
  }

  private async exitedError(docker: Docker, c: Inspect, hostname: string): Promise<ProvError> {
    let tail = '';
    try {
      const logs = await docker.getContainer(c.Id).logs({ stdout: true, stderr: true, tail: 10 });
      tail = demux(logs).trim();
    } catch { /* the logs are a courtesy */ }
    return new ProvError('PROVIDER_ERROR', `container of ${hostname} exited (code ${c.State.ExitCode}${c.State.OOMKilled ? ', out of memory' : ''}) instead of running${tail ? `:\n${tail}` : ''}`, {
      hint: c.State.OOMKilled ? 'give it more memory (plan or memory)' : `the image must have /bin/sh; see the container's log: podman logs ${c.Id.slice(0, 12)}`,
      details: { container: c.Id, exit_code: c.State.ExitCode },
    });
  }

  private engineError(what: string, err: unknown): ProvError {
    if (err instanceof ProvError) return err;
    return new ProvError('PROVIDER_ERROR', `container engine at ${this.socket}: ${what} failed: ${engineMessage(err)}`, {
      details: { socket: this.socket, status: statusOf(err) }, cause: err,
    });
  }
}

function hasAll(have: Record<string, string>, want: Labels): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

function stripPrivate(labels: Record<string, string>): Labels {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => !k.startsWith(PRIVATE_PREFIX)));
}

function publishedPort(c: Inspect): number | undefined {
  const b = c.NetworkSettings.Ports?.[SSH_PORT]?.find((p) => p.HostPort);
  return b ? Number(b.HostPort) : undefined;
}

/** Pull with the engine's progress stream: failures arrive as `error` entries, not HTTP statuses. */
async function pull(docker: Docker, image: string): Promise<void> {
  const stream = (await docker.pull(image)) as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
      const failed = err?.message ?? events.find((e) => e.error)?.error;
      if (failed) reject(new Error(failed));
      else resolve();
    });
  });
}

/** True when something on host:port speaks SSH (its banner), not merely accepts the connection. */
function sshBanner(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host, port });
    let buf = '';
    const done = (ok: boolean): void => { sock.destroy(); resolve(ok); };
    sock.setTimeout(2000, () => done(false));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.length >= 4) done(buf.startsWith('SSH-'));
    });
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
  });
}

/** Docker's multiplexed log stream (8-byte frame headers) → text; a TTY-less container always has it. */
function demux(buf: Buffer | string): string {
  if (typeof buf === 'string') return buf;
  let out = '';
  let i = 0;
  while (i + 8 <= buf.length) {
    const len = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + len).toString('utf8');
    i += 8 + len;
  }
  return i === 0 ? buf.toString('utf8') : out;
}
