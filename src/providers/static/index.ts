import { BlockList, isIP } from 'node:net';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { expandHome } from '../../config/paths.js';
import { ProvError } from '../../errors/index.js';
import type { Labels, ResolvedServer } from '../../model/index.js';
import { sshSettingsFromConfig, Transports, type SshSettings, type Transport } from '../../transport/index.js';
import { fingerprint, hostPattern, keyType, lookup, record } from '../../transport/ssh/known-hosts.js';
import type { ProviderDeps } from '../index.js';
import { checkCatalog, configValue } from '../manifest.js';
import type { Catalog, Connection, FindRef, IdRef, Issue, Observed, OperationContext, Price, Provider } from '../types.js';

/**
 * Existing machines reached over SSH (config.md §3.7 `providers.static`). Nothing is created,
 * changed or deleted on a machine: create connects, runs read-only probes (os-release, uname,
 * nproc, meminfo, df) and reports what it found; delete forgets. The connection comes from the
 * run's SSH pool, so the steps that follow reuse it.
 *
 * provider_id is `<address>:<port>` (`[v6]:port` for IPv6): the machine, whoever logs in. The
 * login (ssh.user, ssh.private_key) is not in it; the provider remembers it per provider_id from
 * the servers it is shown (validate and create), and find/connect fall back to the run's
 * defaults for an id it has not seen.
 */

export interface StaticDeps extends ProviderDeps {
  /** SSH settings for a pool of the provider's own when no run `transports` are given */
  ssh?: SshSettings;
}

interface Login {
  hostname: string;
  host: string;
  port: number;
  user?: string;
  /** absolute path of the server's own key */
  privateKey?: string;
  hostKey?: string;
  zone?: string;
}

/** What the probes found. */
interface Facts {
  os: Record<string, string>;
  uname: string;
  cores: number;
  memory_mb: number;
  disk_gb: number;
}

const PROBE_TIMEOUT_MS = 60_000;
const PROBE_MARK = '---prov-probe---';
/** os-release, kernel, cores, memory, root disk; a missing piece leaves its section empty. */
const PROBE_SCRIPT = [
  'cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null || true', `echo ${PROBE_MARK}`,
  'uname -srm || true', `echo ${PROBE_MARK}`,
  'nproc 2>/dev/null || true', `echo ${PROBE_MARK}`,
  'cat /proc/meminfo 2>/dev/null || true', `echo ${PROBE_MARK}`,
  'df -P -k / 2>/dev/null || true',
].join('\n');

// Addresses that are not reachable from the internet: reported as private, not public.
const PRIVATE = new BlockList();
for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['127.0.0.0', 8], ['169.254.0.0', 16], ['100.64.0.0', 10]] as const) PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::1', 128], ['fc00::', 7], ['fe80::', 10]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Why an address is unusable, or undefined when it is an IP address or a DNS name. */
export function addressProblem(a: unknown): { message: string; hint: string } | undefined {
  if (typeof a !== 'string' || a.trim() === '') return { message: 'a static server needs provider_settings.address', hint: 'set provider_settings.address to the IP address or DNS name of the machine' };
  if (isIP(a)) return undefined;
  if (a.includes('@')) return { message: `address '${a}' contains a user`, hint: 'put the login user in ssh.user and only the host in provider_settings.address' };
  if (/^\[.*\]$/.test(a)) return { message: `address '${a}' is bracketed`, hint: 'write an IPv6 address without brackets; the port goes in ssh.port' };
  if (/^[^:]+:\d+$/.test(a)) return { message: `address '${a}' contains a port`, hint: 'put the port in ssh.port and only the host in provider_settings.address' };
  if (HOSTNAME.test(a) && !/^[0-9.]+$/.test(a)) return undefined;
  return { message: `address '${a}' is neither an IP address nor a DNS name`, hint: "use an IPv4/IPv6 address or a host name of letters, digits, '-' and '.'" };
}

/** The pinned host key `type base64 [comment]` as a key blob, or why it is not one. */
export function parseHostKey(text: string): { type: string; blob: Buffer } | string {
  const [type, b64] = text.trim().split(/\s+/);
  if (!type || !b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return "expected an OpenSSH public key line such as 'ssh-ed25519 AAAAC3Nza...'";
  const blob = Buffer.from(b64, 'base64');
  if (keyType(blob) !== type) return `the key data is not a ${type} key (it names '${keyType(blob) || 'nothing'}')`;
  return { type, blob };
}

/**
 * verify_os rule: the server's image is `<ID>` or `<ID><sep><version>` with sep one of `-`, `:`,
 * `_` or a space, compared case-insensitively with /etc/os-release. The version matches
 * VERSION_ID exactly or as a leading part at a dot (`rhel-9` matches 9.3), or VERSION_CODENAME
 * (`debian:bookworm`). A bare ID matches any version.
 */
export function imageMatches(image: string, os: Record<string, string>): boolean {
  const want = image.trim().toLowerCase();
  const id = (os.ID ?? '').toLowerCase();
  if (!id) return false;
  if (want === id) return true;
  if (!want.startsWith(id) || !/^[-:_ ]/.test(want.slice(id.length))) return false;
  const version = want.slice(id.length + 1);
  const have = (os.VERSION_ID ?? '').toLowerCase();
  const codename = (os.VERSION_CODENAME ?? '').toLowerCase();
  return version !== '' && (version === have || have.startsWith(`${version}.`) || version === codename);
}

/** `<ID>-<VERSION_ID>` (just the ID when there is no version, '' when os-release is unreadable). */
export const osImage = (os: Record<string, string>): string => [os.ID, os.VERSION_ID].filter(Boolean).join('-');

/** os-release is shell-compatible KEY=value assignments, values optionally quoted. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (!m) continue;
    let v = m[2]!.trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(["\\`$])/g, '$1');
    else if (v.startsWith("'") && v.endsWith("'") && v.length >= 2) v = v.slice(1, -1);
    out[m[1]!] = v;
  }
  return out;
}

export const providerId = (host: string, port: number): string => `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;

function parseProviderId(id: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(id);
  if (!m) throw new ProvError('INVALID_ARGUMENT', `'${id}' is not a static provider id (address:port)`, { hint: 'static servers are recorded as <address>:<port>; re-create the server record' });
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

export function addressesOf(host: string): Observed['addresses'] {
  const out: Observed['addresses'] = { public_ipv4: [], public_ipv6: [], private: [] };
  const family = isIP(host);
  if (!family) return out; // a DNS name: only ssh_endpoint carries it
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (PRIVATE.check(host.replace(/%.*$/, ''), type)) out.private.push({ network: '', ip: host });
  else (family === 6 ? out.public_ipv6 : out.public_ipv4).push(host);
  return out;
}

export class StaticProvider implements Provider {
  readonly name = 'static';
  #transports?: Transports;
  readonly #owned: boolean;
  /** logins by provider_id, from the servers this provider was shown */
  readonly #logins = new Map<string, Login>();

  constructor(private readonly deps: StaticDeps) {
    this.#transports = deps.transports;
    this.#owned = !deps.transports;
  }

  private get transports(): Transports {
    this.#transports ??= new Transports(this.deps.ssh ?? sshSettingsFromConfig(() => undefined, this.deps.env));
    return this.#transports;
  }

  private get settings(): SshSettings {
    return this.transports.ssh.settings;
  }

  private get zone(): string {
    return String(configValue(this.deps.manifest, this.deps.config, 'zone') ?? 'static');
  }

  private get verifyOs(): boolean {
    return configValue(this.deps.manifest, this.deps.config, 'verify_os') !== false;
  }

  /** Close the provider's own pool (nothing happens when it uses the run's transports). */
  async close(): Promise<void> {
    if (this.#owned && this.#transports) await this.#transports.closeAll();
  }

  async validate(_config: object, servers: ResolvedServer[]): Promise<Issue[]> {
    const m = this.deps.manifest;
    // the zone is a free label of the site: the configured one counts as known
    const zones = [...new Set([...(m.catalog?.zones ?? []), this.zone])];
    const issues = checkCatalog('static', { ...m, catalog: { ...m.catalog, zones } }, servers);
    const seen = new Map<string, string>();
    for (const s of servers) {
      const at = `servers.${s.hostname}`;
      const address = s.provider_settings?.address;
      const bad = addressProblem(address);
      if (bad) issues.push({ severity: 'error', code: address === undefined || address === '' ? 'DEF_REQUIRED' : 'DEF_PATTERN', path: `${at}.provider_settings.address`, message: `${s.hostname}: ${bad.message}`, hint: bad.hint });
      const port = s.ssh.port ?? 22;
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        issues.push({ severity: 'error', code: 'DEF_RANGE', path: `${at}.ssh.port`, message: `${s.hostname}: ssh.port ${port} is not a TCP port`, hint: 'a port is an integer from 1 to 65535 (sshd listens on 22 by default)' });
      }
      if (s.ssh.private_key) {
        const key = this.keyPath(s.ssh.private_key);
        // a warning: the plan may be made where the key is not (CI); create refuses a missing key
        if (!existsSync(key)) issues.push({ severity: 'warning', code: 'DEF_REFERENCE', path: `${at}.ssh.private_key`, message: `${s.hostname}: ssh.private_key ${key} does not exist here`, hint: 'create fails unless the key exists on the machine that runs it' });
      }
      const pin = s.provider_settings?.host_key;
      if (pin !== undefined) {
        const parsed = typeof pin === 'string' ? parseHostKey(pin) : 'expected a string';
        if (typeof parsed === 'string') issues.push({ severity: 'error', code: 'DEF_PATTERN', path: `${at}.provider_settings.host_key`, message: `${s.hostname}: provider_settings.host_key: ${parsed}`, hint: 'copy the line from ssh-keyscan -t ed25519 <address> (without the host name), or from /etc/ssh/ssh_host_ed25519_key.pub on the machine' });
        else if (this.settings.hostKeyChecking === 'off') issues.push({ severity: 'warning', code: 'DEF_CONFLICT', path: `${at}.provider_settings.host_key`, message: `${s.hostname}: ssh.host_key_checking is "off", so the pinned host key is not checked`, hint: 'set ssh.host_key_checking to "accept_new" or "strict"' });
      }
      if (!bad && Number.isInteger(port)) {
        const id = providerId(String(address), port);
        const other = seen.get(id);
        if (other) {
          issues.push({ severity: 'error', code: 'DEF_DUPLICATE', path: `${at}.provider_settings.address`, message: `${s.hostname} and ${other} are the same machine (${id})`, hint: 'each static server is one machine: give each its own address or ssh.port' });
        } else {
          seen.set(id, s.hostname);
          this.remember(s);
        }
      }
    }
    return issues;
  }

  async catalog(): Promise<Catalog> {
    return { zones: [...new Set([...(this.deps.manifest.catalog?.zones ?? []), this.zone])], plans: [], images: [] };
  }

  /** The machines are already paid for. */
  price(_server?: ResolvedServer): Price {
    return { hourly: 0, monthly: 0, currency: this.deps.manifest.pricing?.currency ?? 'EUR' };
  }

  async create(server: ResolvedServer, ctx: OperationContext): Promise<Observed> {
    const bad = addressProblem(server.provider_settings?.address);
    if (bad) {
      throw new ProvError('DEFINITION_INVALID', `static server ${server.hostname}: ${bad.message}`, { hint: bad.hint, location: { resource: `servers.${server.hostname}.provider_settings.address` } });
    }
    const login = this.remember(server);
    const id = providerId(login.host, login.port);
    ctx.progress?.(`checking ${server.hostname} at ${id}`);
    // ctx.ssh_public_keys are not installed: the machine's authorized_keys are not ours to change
    const t = await this.open(login);
    const facts = await this.probe(t, ctx.signal);
    const found = osImage(facts.os);
    if (this.verifyOs && server.image && !imageMatches(server.image, facts.os)) {
      throw new ProvError('DEFINITION_INVALID', `static server ${server.hostname} (${id}) runs ${found || 'an unknown OS (no /etc/os-release)'}${facts.os.PRETTY_NAME ? ` (${facts.os.PRETTY_NAME})` : ''}, not the image '${server.image}' it declares`, {
        hint: `set the server's image to '${found || '<ID>-<VERSION_ID>'}' (or remove it), or set providers.static.verify_os = false`,
        location: { resource: `servers.${server.hostname}.image` },
        details: { server: server.hostname, address: id, expected: server.image, found, pretty_name: facts.os.PRETTY_NAME },
      });
    }
    ctx.progress?.(`${server.hostname}: ${facts.os.PRETTY_NAME ?? (found || 'unknown OS')}, ${facts.uname}, ${facts.cores} cores, ${facts.memory_mb} MiB, ${facts.disk_gb} GiB root disk`);
    return this.observed(login, facts, ctx.tags);
  }

  /** Static hosts carry no tags: only a recorded provider_id finds one. */
  async find(ref: FindRef): Promise<Observed | null> {
    if (!ref.provider_id) return null;
    const login = this.loginFor(ref.provider_id);
    let t: Transport;
    try {
      t = await this.open(login);
    } catch (err) {
      // down or unreachable is the machine's state; a refused key or host key is not
      if (err instanceof ProvError && err.code === 'UNAVAILABLE') return this.observed(login, undefined, {});
      throw err;
    }
    return this.observed(login, await this.probe(t), {});
  }

  /** Nothing to list: drift for static hosts comes from `find` on the recorded ids. */
  async list(_tags: Labels): Promise<Observed[]> {
    return [];
  }

  async power(ref: IdRef, action: 'start' | 'stop' | 'restart'): Promise<void> {
    const login = this.#logins.get(ref.provider_id);
    throw new ProvError('INVALID_ARGUMENT', `cannot ${action} static server ${login ? `${login.hostname} (${ref.provider_id})` : ref.provider_id}: static hosts are not powered by provisioning`, {
      hint: 'start, stop or restart the machine by its own means (its hypervisor, IPMI, or a command on it)',
      details: { provider_id: ref.provider_id, action },
    });
  }

  /** Forget: the machine is never touched (no connection, no command). */
  async delete(ref: IdRef, _opts?: { keep_storage: boolean }): Promise<void> {
    this.#logins.delete(ref.provider_id);
  }

  connect(server: Observed): Connection {
    const login = this.loginFor(server.provider_id);
    return {
      transport: 'ssh',
      host: server.ssh_endpoint?.host ?? login.host,
      port: server.ssh_endpoint?.port ?? login.port,
      user: login.user ?? this.settings.defaultUser,
      ...(login.privateKey ? { private_key: login.privateKey } : {}),
    };
  }

  // ── helpers ──────────────────────────────────────────────────────────────────

  private keyPath(p: string): string {
    return resolvePath(expandHome(p, this.deps.env));
  }

  private remember(s: ResolvedServer): Login {
    const login: Login = {
      hostname: s.hostname,
      host: String(s.provider_settings?.address),
      port: s.ssh.port ?? 22,
      ...(s.ssh.user ? { user: s.ssh.user } : {}),
      ...(s.ssh.private_key ? { privateKey: this.keyPath(s.ssh.private_key) } : {}),
      ...(typeof s.provider_settings?.host_key === 'string' ? { hostKey: s.provider_settings.host_key } : {}),
      ...(s.zone ? { zone: s.zone } : {}),
    };
    this.#logins.set(providerId(login.host, login.port), login);
    return login;
  }

  private loginFor(id: string): Login {
    const { host, port } = parseProviderId(id);
    return this.#logins.get(id) ?? { hostname: id, host, port };
  }

  private observed(login: Login, facts: Facts | undefined, tags: Labels): Observed {
    return {
      provider_id: providerId(login.host, login.port),
      status: facts ? 'running' : 'error',
      zone: login.zone ?? this.zone,
      cores: facts?.cores ?? 0,
      memory_mb: facts?.memory_mb ?? 0,
      disk_gb: facts?.disk_gb ?? 0,
      image: facts ? osImage(facts.os) : '',
      addresses: addressesOf(login.host),
      tags: { ...tags },
      ssh_endpoint: { host: login.host, port: login.port },
    };
  }

  /** A pooled connection to the machine; errors name the server. */
  private async open(login: Login): Promise<Transport> {
    const name = login.hostname === providerId(login.host, login.port) ? `static server ${login.hostname}` : `static server ${login.hostname} (${providerId(login.host, login.port)})`;
    if (login.privateKey && !existsSync(login.privateKey)) {
      throw new ProvError('AUTH_REQUIRED', `${name}: ssh.private_key ${login.privateKey} does not exist`, {
        hint: `create the key or point servers.${login.hostname}.ssh.private_key at an existing private key ('~' is the home directory)`,
        location: { resource: `servers.${login.hostname}.ssh.private_key`, file: login.privateKey },
        details: { server: login.hostname, key_file: login.privateKey },
      });
    }
    if (login.hostKey) this.pin(login, name);
    try {
      return await this.transports.open({ transport: 'ssh', host: login.host, port: login.port, user: login.user, private_key: login.privateKey });
    } catch (err) {
      if (!(err instanceof ProvError)) throw err;
      const pinned = login.hostKey !== undefined && err.code === 'HOST_KEY_CHANGED';
      throw new ProvError(err.code, `${name}: ${err.message}`, {
        hint: pinned
          ? `provider_settings.host_key of ${login.hostname} pins another key than the machine presents: if the machine's key changed legitimately, update the pin (ssh-keyscan -p ${login.port} ${login.host}); otherwise someone may be intercepting the connection`
          : err.hint,
        ...(err.location ? { location: err.location } : {}),
        details: { ...err.details, server: login.hostname },
        cause: err,
      });
    }
  }

  /**
   * A pinned host key goes into known_hosts before connecting, so the transport's own check
   * enforces it (and "strict" checking accepts the host). Any other key recorded for the host
   * is refused here: the transport would accept it instead of the pin.
   */
  private pin(login: Login, name: string): void {
    const parsed = parseHostKey(login.hostKey!);
    if (typeof parsed === 'string') {
      throw new ProvError('DEFINITION_INVALID', `${name}: provider_settings.host_key: ${parsed}`, { location: { resource: `servers.${login.hostname}.provider_settings.host_key` } });
    }
    const { knownHosts: file, hostKeyChecking } = this.settings;
    if (hostKeyChecking === 'off') return; // off is off, pins included (validate warns)
    const b64 = parsed.blob.toString('base64');
    const known = lookup(file, login.host, login.port);
    const other = known.find((k) => !(k.type === parsed.type && k.key === b64));
    if (other) {
      const recorded = fingerprint(Buffer.from(other.key, 'base64'));
      const pinned = fingerprint(parsed.blob);
      throw new ProvError('HOST_KEY_CHANGED', `${name}: ${file} line ${other.line} records host key ${recorded} (${other.type}), but provider_settings.host_key pins ${pinned} (${parsed.type})`, {
        hint: `if the pin is right, remove the recorded key (ssh-keygen -R '${hostPattern(login.host, login.port)}' -f ${file}) and run again; otherwise correct provider_settings.host_key`,
        location: { file, line: other.line },
        details: { server: login.hostname, host: login.host, port: login.port, recorded_fingerprint: recorded, pinned_fingerprint: pinned },
      });
    }
    if (!known.length) record(file, login.host, login.port, parsed.blob);
  }

  /** Read-only probes, one argv command each, without sudo. */
  private async probe(t: Transport, signal?: AbortSignal): Promise<Facts> {
    // One command, one round trip: sections separated by a marker line (read-only, no sudo).
    const chunks: Buffer[] = [];
    const res = await t.exec(['sh', '-c', PROBE_SCRIPT], { sudo: false, timeoutMs: PROBE_TIMEOUT_MS, onStdout: (d) => chunks.push(d), ...(signal ? { signal } : {}) });
    const parts = Buffer.concat(chunks).toString('utf8').split(`${PROBE_MARK}\n`);
    const part = (i: number) => (res.code === 0 && parts[i]?.trim() ? parts[i] : undefined);
    const [osText, uname, nproc, meminfo, df] = [part(0), part(1), part(2), part(3), part(4)];
    const memKb = Number(/^MemTotal:\s+(\d+)\s*kB/m.exec(meminfo ?? '')?.[1] ?? 0);
    // df -P: a header line, then "<fs> <1024-blocks> <used> <available> <capacity> <mount>"
    const rootKb = Number(df?.trim().split('\n')[1]?.trim().split(/\s+/)[1] ?? 0);
    return {
      os: osText ? parseOsRelease(osText) : {},
      uname: uname?.trim() || 'unknown kernel',
      cores: Number.parseInt(nproc ?? '', 10) || 0,
      memory_mb: Math.round(memKb / 1024),
      disk_gb: Math.round(rootKb / 1024 / 1024),
    };
  }
}
