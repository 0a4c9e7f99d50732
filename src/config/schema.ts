import { CURRENT_FORMAT } from '../workspace/format.js';
/**
 * The one schema of the configuration (spec/config.md §3): every key with its type, default,
 * range, allowed values, and which layers may set it (§2.3). Everything else — validation,
 * environment-variable mapping, `config init` starter files, did-you-mean — reads this table.
 */

export type KeyType =
  | 'string' | 'int' | 'bool' | 'duration' | 'size' | 'enum' | 'path' | 'url' | 'secret'
  | 'name' | 'string[]' | 'name[]' | 'semver-range';

/**
 * Which layers may set a key (§2.3): `workspace-file` = the workspace file only;
 * `workspace-defaults` = workspace, local, envvar, cli; `no-infra` = all but the infra layer.
 */
export type Scope = 'all' | 'no-infra' | 'workspace-file' | 'workspace-defaults';

export interface KeySpec {
  type: KeyType;
  default?: unknown;
  /** inclusive bounds: integers as numbers, durations and sizes in ms / bytes */
  min?: number;
  max?: number;
  values?: string[];
  /** accepted spellings that mean a canonical value (`multi-user` → `multiuser`) */
  aliases?: Record<string, string>;
  scope?: Scope;
  readonly?: boolean;
  /** a URL that may carry credentials, shown masked */
  secret?: boolean;
  note?: string;
}

/**
 * A table whose keys are not listed here: `strings` (kms.context), `dependencies`
 * (extensions.dependencies: a range or { version, source, kind }), `any` (extension providers,
 * providers.static — checked against the provider's own schema when extensions load).
 */
export type FreeForm = 'strings' | 'dependencies' | 'any';

export const MODES = ['solo', 'multiuser', 'cicd', 'enterprise'] as const;
export type Mode = (typeof MODES)[number];
export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
export const BUILTIN_PROVIDERS = ['local', 'static', 'upcloud', 'aws'];
export const SERVICES = ['orchestrator', 'control-center', 'kms', 'oci-registry'];

// Before the key table, which parses duration bounds while it is built.
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, hr: 3_600_000, d: 86_400_000 };

const s = (def = '', extra: Partial<KeySpec> = {}): KeySpec => ({ type: 'string', default: def, ...extra });
const int = (def: number, min?: number, max?: number, extra: Partial<KeySpec> = {}): KeySpec => ({ type: 'int', default: def, min, max, ...extra });
const bool = (def: boolean, extra: Partial<KeySpec> = {}): KeySpec => ({ type: 'bool', default: def, ...extra });
const dur = (def: string, min?: string, max?: string): KeySpec => ({ type: 'duration', default: def, min: min ? parseDuration(min) : undefined, max: max ? parseDuration(max) : undefined });
const size = (def: string | number): KeySpec => ({ type: 'size', default: def });
const en = (values: string[], def: string, extra: Partial<KeySpec> = {}): KeySpec => ({ type: 'enum', values, default: def, ...extra });
const path = (def = ''): KeySpec => ({ type: 'path', default: def });
const url = (def = '', extra: Partial<KeySpec> = {}): KeySpec => ({ type: 'url', default: def, ...extra });
const secret = (def = ''): KeySpec => ({ type: 'secret', default: def });
const list = (def: string[] = []): KeySpec => ({ type: 'string[]', default: def });
const ro = (): KeySpec => ({ type: 'path', readonly: true });
const svc = (scope: Scope = 'no-infra') => (k: KeySpec): KeySpec => ({ ...k, scope });

const tls = (prefix: string): Record<string, KeySpec> => ({
  [`${prefix}.tls.enabled`]: bool(false),
  [`${prefix}.tls.cert`]: path(), [`${prefix}.tls.key`]: path(), [`${prefix}.tls.ca`]: path(),
});

const services = (): Record<string, KeySpec> => {
  const out: Record<string, KeySpec> = {};
  for (const name of SERVICES) {
    const p = `platform.services.${name}`;
    out[`${p}.enabled`] = bool(name === 'orchestrator', name === 'control-center' ? { note: 'on when mode is multiuser or enterprise' } : {});
    out[`${p}.depends_on`] = { type: 'name[]', default: name === 'control-center' ? ['orchestrator'] : [] };
    out[`${p}.restart`] = en(['no', 'on_failure'], 'on_failure');
    out[`${p}.max_restarts`] = int(3, 0);
  }
  out['platform.services.oci-registry.port'] = int(5000, 1, 65535);
  out['platform.services.oci-registry.storage'] = path('{{paths.state}}/registry');
  return out;
};

const LOCAL: Record<string, KeySpec> = {
  mode: en([...MODES], 'solo', { aliases: { 'multi-user': 'multiuser' } }),

  'workspace.name': { type: 'name', scope: 'workspace-file', note: 'required in the workspace file' },
  'workspace.description': s(),
  'workspace.format_version': int(CURRENT_FORMAT, 0, undefined, { scope: 'workspace-file' }),
  'workspace.requires': { type: 'semver-range', default: '', scope: 'workspace-file' },
  'workspace.default_environment': { type: 'name', default: 'dev', scope: 'workspace-defaults' },
  'workspace.default_infra': { type: 'name', default: '', scope: 'workspace-defaults' },
  'workspace.path': ro(), 'workspace.environment': { type: 'name', readonly: true },

  'paths.base': ro(), 'paths.infra': ro(), 'paths.extensions': ro(), 'paths.workflows': ro(),
  'paths.secrets': ro(), 'paths.policies': ro(), 'paths.state': ro(),
  'paths.logs': path('{{paths.state}}/logs'),
  'paths.config_home': ro(), 'paths.data_home': ro(), 'paths.cache_home': ro(),

  'execution.mode': en(['auto', 'direct', 'orchestrated'], 'auto'),
  'execution.probe_timeout': dur('2s'),
  'execution.auto_start_orchestrator': bool(false),
  'execution.parallel_limit': int(5, 1, 100),
  'execution.wait': bool(false),
  'execution.wait_timeout': dur('0s'),
  'execution.check': bool(false),
  'preferences.confirm_deploy': bool(false),
  'preferences.confirm_delete': bool(true),
  'preferences.editor': s(),

  'output.format': en(['table', 'text', 'json', 'yaml'], 'table'),
  'output.color': en(['auto', 'always', 'never'], 'auto'),
  'output.progress': en(['auto', 'bars', 'lines', 'none'], 'auto'),
  'output.timestamps': bool(false),
  'logging.level': en(LEVELS, 'info'),
  'logging.format': en(['text', 'json'], 'text'),
  'logging.file': path('{{paths.logs}}/provisioning.log'),
  'logging.file_level': en(LEVELS, 'debug'),
  'logging.max_size': size('10MiB'),
  'logging.max_files': int(5, 1),
  'cache.enabled': bool(true),
  'cache.dir': path('{{paths.cache_home}}'),
  'cache.catalog_ttl': dur('24h'),
  'cache.max_size': size('2GiB'),

  ...mapValues({
    'orchestrator.host': s('127.0.0.1'),
    'orchestrator.port': int(9090, 1, 65535),
    'orchestrator.url': url('http://{{orchestrator.host}}:{{orchestrator.port}}'),
    ...tls('orchestrator'),
    'orchestrator.storage.type': en(['sqlite', 'postgres'], 'sqlite'),
    'orchestrator.storage.url': url('sqlite://{{paths.state}}/state.db', { secret: true }),
    'orchestrator.storage.pool_size': int(10, 1, 200),
    'orchestrator.storage.busy_timeout': dur('5s'),
    'orchestrator.storage.lease_ttl': dur('30s'),
    'orchestrator.heartbeat_interval': dur('5s'),
    'orchestrator.checkpoint_interval': dur('30s'),
    'orchestrator.queue.max_concurrent_tasks': int(10, 1, 1024),
    'orchestrator.queue.retries': int(3, 0, 20),
    'orchestrator.queue.retry_delay': dur('1s'),
    'orchestrator.queue.max_retry_delay': dur('5m'),
    'orchestrator.queue.task_timeout': dur('1h'),
    'orchestrator.retention': dur('30d'),
    'orchestrator.shutdown_grace': dur('30s'),

    'control_center.host': s('127.0.0.1'),
    'control_center.port': int(9080, 1, 65535),
    'control_center.url': url('http://{{control_center.host}}:{{control_center.port}}'),
    'control_center.public_url': url(),
    'control_center.ui': bool(true),
    'control_center.cors_origins': list(),
    ...tls('control_center'),

    'auth.enabled': bool(false, { note: 'from the mode' }),
    'auth.issuer': s('provisioning-control-center'),
    'auth.audience': list(['orchestrator', 'control-center']),
    'auth.access_token_ttl': dur('15m', '1m', '1h'),
    'auth.refresh_token_ttl': dur('7d'),
    'auth.signing_key': path('{{paths.state}}/keys/jwt-rs256.pem'),
    'auth.password_min_length': int(12, 1),
    'auth.rate_limit.enabled': bool(false),
    'auth.rate_limit.general': int(100, 1),
    'auth.rate_limit.auth': int(5, 1),
    'auth.rate_limit.batch_submit': int(10, 1),
    'auth.mfa.required': en(['never', 'sensitive', 'always'], 'never'),
    'auth.mfa.max_age': dur('5m'),
    'auth.mfa.max_failures': int(5, 1),
    'auth.mfa.failure_window': dur('5m'),
    'auth.mfa.totp_issuer': s('Provisioning'),
    'auth.mfa.webauthn_rp_id': s('', { note: 'host of control_center.public_url, else "localhost"' }),
    'auth.mfa.backup_codes': int(10, 0),
    'auth.policies.dir': path('{{paths.policies}}'),
    'auth.policies.hot_reload': bool(true),
    'auth.audit.retention': dur('365d'),
    'auth.audit.break_glass_retention': dur('2555d'),
    'auth.audit.read_events': bool(false),
    'auth.audit.file': path(),
    'auth.break_glass.approvals': int(2, 2),
    'auth.break_glass.approval_timeout': dur('1h'),
    'auth.break_glass.max_duration': dur('4h'),
    'auth.break_glass.inactivity_timeout': dur('30m'),

    'platform.runtime': en(['process', 'container'], 'process'),
    'platform.image': s('', { note: 'provisioning/platform:<cli version>' }),
    'platform.start_timeout': dur('30s'),
    'platform.health_interval': dur('10s'),
    ...services(),
  }, svc()),

  'kms.backend': en(['age', 'aws-kms', 'vault'], 'age'),
  'kms.url': url(),
  'kms.service.host': s('127.0.0.1'),
  'kms.service.port': int(8082, 1, 65535),
  'kms.age.identity': path('{{paths.config_home}}/age/private_key.txt'),
  'kms.age.recipients': list(),
  'kms.aws.key_id': s('', { note: 'required for aws-kms' }),
  'kms.aws.region': s(), 'kms.aws.profile': s(), 'kms.aws.endpoint': s(),
  'kms.vault.address': url('', { note: '"" → VAULT_ADDR; required for vault' }),
  'kms.vault.mount': s('transit'),
  'kms.vault.key': s('provisioning'),
  'kms.vault.namespace': s(),
  'kms.vault.token': secret(),
  'kms.vault.tls_verify': bool(true),

  'providers.default': { type: 'name', default: 'local' },
  'providers.local.socket': s('', { note: '"" → DOCKER_HOST, else unix:///var/run/docker.sock' }),
  'providers.local.network': s('provisioning'),
  'providers.local.image': s('docker.io/library/ubuntu:24.04'),
  'providers.local.transport': en(['exec', 'ssh'], 'exec'),
  'providers.local.pull': en(['missing', 'always', 'never'], 'missing'),
  'providers.local.zone': s(), 'providers.local.plan': s(),
  'providers.upcloud.username': s('', { note: 'required to create' }),
  'providers.upcloud.password': secret(),
  'providers.upcloud.api_url': url('https://api.upcloud.com/1.3'),
  'providers.upcloud.zone': s('de-fra1'),
  'providers.upcloud.plan': s('1xCPU-2GB'),
  'providers.upcloud.image': s('ubuntu-24.04'),
  'providers.upcloud.storage_tier': s('maxiops'),
  'providers.upcloud.timeout': dur('180s'),
  'providers.aws.zone': s('us-east-1'),
  'providers.aws.plan': s('t3.micro'),
  'providers.aws.image': s('', { note: '"" → newest Ubuntu 24.04 LTS image of the region' }),
  'providers.aws.profile': s(),
  'providers.aws.access_key_id': s(),
  'providers.aws.secret_access_key': secret(),
  'providers.aws.vpc_id': s(), 'providers.aws.subnet_id': s(),
  'providers.aws.timeout': dur('300s'),

  'ssh.user': s(),
  'ssh.port': int(22, 1, 65535),
  'ssh.private_key': path('~/.ssh/id_ed25519'),
  'ssh.agent': bool(true),
  'ssh.public_keys': list(),
  'ssh.known_hosts': path('{{paths.state}}/known_hosts'),
  'ssh.host_key_checking': en(['strict', 'accept_new', 'off'], 'accept_new'),
  'ssh.connect_timeout': dur('10s'),
  'ssh.keepalive': dur('15s'),
  'ssh.command_timeout': dur('30m'),
  'ssh.bastion': s(),
  'ssh.sudo': bool(true),
  'ssh.temp_keys.enabled': bool(false),
  'ssh.temp_keys.ttl': dur('1h', '5m', '24h'),

  'extensions.registry': s('oci://localhost:5000/provisioning-extensions'),
  'extensions.verify': en(['digest', 'signature'], 'digest'),
  'extensions.insecure_registries': list(['localhost:5000', '127.0.0.1:5000']),
  'limits.max_servers': int(0, 0),
  'limits.max_cores': int(0, 0),
  'limits.max_memory': size(0),
};

function mapValues(o: Record<string, KeySpec>, f: (k: KeySpec) => KeySpec): Record<string, KeySpec> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
}

export const KEYS: Readonly<Record<string, KeySpec>> = LOCAL;

/** Free-form tables by path; `providers.*` stands for any provider that is not built in. */
export const FREE_FORM: Readonly<Record<string, FreeForm>> = {
  'kms.context': 'strings',
  'extensions.dependencies': 'dependencies',
  'providers.static': 'any',
  'providers.*': 'any',
};

/** Tables whose child names are chosen by users: `_` in an environment variable matches `-`. */
export const USER_NAMED = new Set(['providers', 'extensions.dependencies', 'platform.services']);

/** Mode presets (§4): merged into the defaults, origin `mode:<name>`. */
/** Mode presets (§4): every row of the table, merged into the defaults with origin `mode:<name>`. */
const preset = (o: {
  auth: boolean; hosts: string; tls: boolean; storage: string; exec: string; mfa: string; verify: string;
  limits: [number, number, number | string]; progress: string; color: string; log: string; cc: boolean; local: boolean;
}): Record<string, unknown> => ({
  'auth.enabled': o.auth, 'auth.rate_limit.enabled': o.auth,
  ...Object.fromEntries(['orchestrator.host', 'control_center.host', 'kms.service.host'].map((k) => [k, o.hosts])),
  'orchestrator.tls.enabled': o.tls, 'control_center.tls.enabled': o.tls, 'orchestrator.storage.type': o.storage,
  'execution.mode': o.exec, 'auth.mfa.required': o.mfa, 'extensions.verify': o.verify,
  'limits.max_servers': o.limits[0], 'limits.max_cores': o.limits[1], 'limits.max_memory': o.limits[2],
  'output.progress': o.progress, 'output.color': o.color, 'logging.format': o.log,
  'platform.services.control-center.enabled': o.cc, 'platform.services.orchestrator.enabled': o.local,
});
export const MODE_PRESETS: Record<Mode, Record<string, unknown>> = {
  solo: preset({ auth: false, hosts: '127.0.0.1', tls: false, storage: 'sqlite', exec: 'auto', mfa: 'never', verify: 'digest', limits: [0, 0, 0], progress: 'auto', color: 'auto', log: 'text', cc: false, local: true }),
  multiuser: preset({ auth: true, hosts: '0.0.0.0', tls: false, storage: 'sqlite', exec: 'orchestrated', mfa: 'sensitive', verify: 'digest', limits: [10, 32, '128GiB'], progress: 'auto', color: 'auto', log: 'text', cc: true, local: true }),
  cicd: preset({ auth: true, hosts: '127.0.0.1', tls: false, storage: 'sqlite', exec: 'orchestrated', mfa: 'never', verify: 'digest', limits: [5, 16, '64GiB'], progress: 'lines', color: 'never', log: 'json', cc: false, local: false }),
  enterprise: preset({ auth: true, hosts: '0.0.0.0', tls: true, storage: 'postgres', exec: 'orchestrated', mfa: 'always', verify: 'signature', limits: [20, 64, '256GiB'], progress: 'auto', color: 'auto', log: 'json', cc: true, local: true }),
};

/** The bold cells of §4: checked after the merge, no layer can override them. */
export interface ModeConstraint { key: string; ok: (v: unknown) => boolean; expected: string }
export const isLoopback = (v: unknown) => typeof v === 'string' && (v === 'localhost' || v === '::1' || /^127\.\d+\.\d+\.\d+$/.test(v));
const is = (x: unknown) => (v: unknown) => v === x;
const HOSTS = ['orchestrator.host', 'control_center.host', 'kms.service.host'];
export const MODE_CONSTRAINTS: Record<Mode, ModeConstraint[]> = {
  solo: [{ key: 'auth.enabled', ok: is(false), expected: 'false' }, ...HOSTS.map((key) => ({ key, ok: isLoopback, expected: 'a loopback address (127.0.0.1, ::1, localhost)' }))],
  multiuser: [{ key: 'auth.enabled', ok: is(true), expected: 'true' }],
  cicd: [{ key: 'auth.enabled', ok: is(true), expected: 'true' }],
  enterprise: [
    { key: 'auth.enabled', ok: is(true), expected: 'true' },
    { key: 'orchestrator.tls.enabled', ok: is(true), expected: 'true' },
    { key: 'control_center.tls.enabled', ok: is(true), expected: 'true' },
    { key: 'orchestrator.storage.type', ok: is('postgres'), expected: '"postgres"' },
    { key: 'extensions.verify', ok: is('signature'), expected: '"signature"' },
  ],
};

// ── value grammar (§0) ───────────────────────────────────────────────────────────

/** Milliseconds of a duration (`"1h30m"`, `"500ms"`, a bare integer = seconds), or undefined. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const re = /(\d+)(ms|sec|min|hr|s|m|h|d)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(v))) { total += Number(m[1]) * DURATION_UNITS[m[2]!]!; end = re.lastIndex; }
  return end === v.length && end > 0 ? total : undefined;
}

const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** Bytes of a size (`"512MiB"`, `"10MB"`, an integer = bytes), or undefined. */
export function parseSize(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/.exec(v);
  return m ? Number(m[1]) * SIZE_UNITS[m[2] ?? 'B']! : undefined;
}
