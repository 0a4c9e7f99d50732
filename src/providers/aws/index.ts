import {
  AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateTagsCommand, DeleteSecurityGroupCommand, DeleteTagsCommand,
  DescribeImagesCommand, DescribeInstancesCommand, DescribeInstanceTypesCommand, DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeVolumesCommand, EC2Client, ImportKeyPairCommand, ModifyInstanceAttributeCommand,
  RebootInstancesCommand, RunInstancesCommand, StartInstancesCommand, StopInstancesCommand, TerminateInstancesCommand,
  waitUntilInstanceRunning, waitUntilInstanceStopped, waitUntilInstanceTerminated,
  type Filter, type Instance, type IpPermission, type Tag, type TagSpecification, type _InstanceType,
} from '@aws-sdk/client-ec2';
import { ProvError } from '../../errors/index.js';
import type { Labels, ProviderManifest, ResolvedFirewallRule, ResolvedServer } from '../../model/index.js';
import { readCredentials, type Credentials } from '../credentials.js';
import { checkCatalog, configSeconds, configValue, staticPlans, staticPrice } from '../manifest.js';
import { TAG, type Catalog, type Connection, type FindRef, type IdRef, type Issue, type Observed, type OperationContext, type Provider, type ServerStatus } from '../types.js';

/**
 * EC2 through the AWS SDK v3. Instances, their volumes, the imported key pair and the firewall
 * security group carry our tags; `find` looks instances up by id, else by the system tags, so
 * a create interrupted after RunInstances is adopted. Credentials: access_key_id +
 * secret_access_key from config (or their PROVISIONING_ variables), else `profile`, else the
 * SDK's default chain (AWS_* variables, shared files, instance roles).
 */

export interface AwsDeps {
  manifest: ProviderManifest;
  /** the `[providers.aws]` table */
  config: Record<string, unknown>;
  env: Record<string, string | undefined>;
  /** waiter poll delays in seconds (tests shorten them) */
  waiterDelayS?: { min: number; max: number };
}

/** Canonical's account: the owner of the official Ubuntu images. */
export const CANONICAL_OWNER = '099720109477';
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];
const STATUS: Record<string, ServerStatus> = {
  pending: 'creating', running: 'running', stopping: 'stopped', stopped: 'stopped', 'shutting-down': 'deleting', terminated: 'deleting',
};
const AUTH_CODES = new Set(['AuthFailure', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'ExpiredToken', 'RequestExpired']);

const toTags = (labels: Labels): Tag[] => Object.entries(labels).map(([Key, Value]) => ({ Key, Value }));
const fromTags = (tags: Tag[] | undefined): Labels => Object.fromEntries((tags ?? []).filter((t) => t.Key && t.Key !== 'Name').map((t) => [t.Key!, t.Value ?? '']));
const tagFilters = (labels: Labels): Filter[] => Object.entries(labels).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] }));
const spec = (type: TagSpecification['ResourceType'], labels: Labels, name?: string): TagSpecification =>
  ({ ResourceType: type, Tags: [...(name ? [{ Key: 'Name', Value: name }] : []), ...toTags(labels)] });

/** ARM instance families (Graviton) carry a "g" after the generation digit: t4g, m7g, c6gn. */
const isArm = (type: string): boolean => /^[a-z]+\d+g/.test(type);

export class AwsProvider implements Provider {
  readonly name = 'aws';
  #client?: EC2Client;
  #creds?: Credentials;

  constructor(private readonly deps: AwsDeps) {}

  private cfg(key: string): string | undefined {
    const v = configValue(this.deps.manifest, this.deps.config, key);
    return typeof v === 'string' && v !== '' ? v : undefined;
  }

  private get region(): string {
    return this.cfg('zone') ?? 'us-east-1';
  }

  /**
   * The client, after the credential check: a half-given key pair is an error naming the
   * missing half; none at all leaves the SDK's default chain (or `profile`).
   */
  private client(): EC2Client {
    if (this.#client) return this.#client;
    const c = this.deps.config;
    const given = ['access_key_id', 'secret_access_key'].filter((k) => (typeof c[k] === 'string' && c[k] !== '') || this.deps.env[`PROVISIONING_PROVIDERS__AWS__${k.toUpperCase()}`]);
    let credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
    if (given.length) {
      this.#creds = readCredentials('aws', c, this.deps.env, [{ key: 'access_key_id' }, { key: 'secret_access_key' }]);
      credentials = { accessKeyId: this.#creds.get('access_key_id'), secretAccessKey: this.#creds.get('secret_access_key') };
    }
    const profile = this.cfg('profile');
    this.#client = new EC2Client({ region: this.region, maxAttempts: 5, ...(credentials ? { credentials } : profile ? { profile } : {}) });
    return this.#client;
  }

  /** One EC2 call, its failures mapped to ProvErrors that carry the AWS code and no secret. */
  private async send<T>(command: object): Promise<T> {
    const client = this.client();
    try {
      return (await client.send(command as never)) as T;
    } catch (err) {
      throw this.toError(err, command.constructor.name.replace(/Command$/, ''));
    }
  }

  private toError(err: unknown, op: string): ProvError {
    if (err instanceof ProvError) return err;
    const e = err as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const code = e.Code ?? e.name ?? 'Error';
    const message = this.#creds ? this.#creds.scrub(e.message ?? '') : (e.message ?? '');
    const details = { provider: 'aws', provider_code: code, status: e.$metadata?.httpStatusCode };
    if (code === 'CredentialsProviderError') {
      return new ProvError('AUTH_REQUIRED', 'aws credentials missing: providers.aws.access_key_id and providers.aws.secret_access_key '
        + '(or PROVISIONING_PROVIDERS__AWS__ACCESS_KEY_ID / PROVISIONING_PROVIDERS__AWS__SECRET_ACCESS_KEY), providers.aws.profile, '
        + `or the AWS default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws, instance role): ${message}`, {
        details, location: { resource: 'providers.aws' }, hint: 'set one of them; check mode needs no credentials',
      });
    }
    if (AUTH_CODES.has(code)) {
      return new ProvError('AUTH_REQUIRED', `AWS refused or found no credentials (${op}): ${code}: ${message}`, {
        details,
        hint: 'set providers.aws.access_key_id and providers.aws.secret_access_key (or PROVISIONING_PROVIDERS__AWS__ACCESS_KEY_ID / __SECRET_ACCESS_KEY), '
          + 'or providers.aws.profile, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY',
      });
    }
    if (code === 'UnauthorizedOperation') return new ProvError('FORBIDDEN', `AWS ${op}: ${code}: ${message.slice(0, 300)}`, { details, hint: 'the IAM identity lacks the EC2 permission for this call' });
    if (code === 'TimeoutError') return new ProvError('WAIT_TIMEOUT', `AWS ${op}: ${message}`, { details, hint: 'raise providers.aws.timeout' });
    const throttled = code === 'RequestLimitExceeded' || code === 'Throttling' || (e.$metadata?.httpStatusCode ?? 0) >= 500;
    return new ProvError(throttled ? 'UNAVAILABLE' : 'PROVIDER_ERROR', `AWS ${op} failed: ${code}: ${message}`, {
      details, hint: throttled ? 'AWS is throttling or unavailable; retry later' : 'see the EC2 API error codes for this code',
    });
  }

  async validate(_config: object, servers: ResolvedServer[]): Promise<Issue[]> {
    const issues = checkCatalog('aws', this.deps.manifest, servers);
    for (const s of servers) {
      if (!s.plan && (s.cores || s.memory_mb)) {
        issues.push({ severity: 'error', code: 'DEF_CONFLICT', path: `servers.${s.hostname}.cores`, message: 'aws has no custom sizes (capability custom_plans)', hint: 'name an instance type as plan, e.g. "t3.small"' });
      }
      s.network.firewall.forEach((r, i) => {
        if (r.action === 'deny') {
          issues.push({ severity: 'error', code: 'DEF_CONFLICT', path: `servers.${s.hostname}.network.firewall[${i}]`, message: 'EC2 security groups only allow; a deny rule cannot be applied', hint: 'remove the rule; what is not allowed is denied' });
        }
      });
      if (s.network.private.length) {
        issues.push({ severity: 'error', code: 'NOT_IMPLEMENTED', path: `servers.${s.hostname}.network.private`, message: 'the aws provider does not attach private networks yet; instances join providers.aws.subnet_id (or the default subnet)' });
      }
    }
    return issues;
  }

  async catalog(): Promise<Catalog> {
    const m = this.deps.manifest;
    return { zones: m.catalog?.zones ?? [], plans: staticPlans(m), images: m.catalog?.images ?? [] };
  }

  price(server: ResolvedServer): { hourly: number; monthly: number; currency: string } | undefined {
    return staticPrice(this.deps.manifest, server);
  }

  async create(server: ResolvedServer, ctx: OperationContext): Promise<Observed> {
    this.client();
    const existing = await this.find({ tags: ctx.tags });
    if (existing) {
      ctx.progress?.(`adopting ${server.hostname} (${existing.provider_id}), created by an earlier run`);
      if (ctx.wait === false) return existing;
      if (existing.status === 'stopped') await this.power(existing, 'start');
      else await this.wait('running', existing.provider_id);
      return (await this.find({ provider_id: existing.provider_id, tags: {} }))!;
    }
    const type = server.plan ?? this.cfg('plan') ?? 't3.micro';
    const image = server.image ?? this.cfg('image') ?? await this.defaultImage(type);
    const settings = server.provider_settings ?? {};
    const keyName = typeof settings.key_name === 'string' && settings.key_name ? settings.key_name : await this.keyPair(ctx);
    const subnet = this.cfg('subnet_id');
    const groups = [
      ...(server.network.firewall.length ? [await this.securityGroup(server, ctx.tags, subnet)] : []),
      ...((settings.security_group_ids as string[] | undefined) ?? []),
    ];
    ctx.progress?.(`creating ${server.hostname} (${type}) in ${this.region}`);
    const res = await this.send<{ Instances?: Instance[] }>(new RunInstancesCommand({
      ImageId: image,
      InstanceType: type as _InstanceType,
      MinCount: 1, MaxCount: 1, // the SDK sends a ClientToken, so its own retries never start a second instance
      ...(keyName ? { KeyName: keyName } : {}),
      ...(subnet || server.network.public_ipv6
        ? { NetworkInterfaces: [{ DeviceIndex: 0, ...(subnet ? { SubnetId: subnet } : {}), AssociatePublicIpAddress: server.network.public_ipv4, Groups: groups, ...(server.network.public_ipv6 ? { Ipv6AddressCount: 1 } : {}) }] }
        : groups.length ? { SecurityGroupIds: groups } : {}),
      BlockDeviceMappings: [
        { DeviceName: '/dev/sda1', Ebs: { VolumeSize: server.disk_gb, VolumeType: (settings.root_volume_type as 'gp3' | undefined) ?? 'gp3', DeleteOnTermination: true } },
        ...server.storage.map((v, i) => ({
          DeviceName: `/dev/sd${String.fromCharCode(102 + i)}`,
          Ebs: { VolumeSize: v.size_gb, VolumeType: (v.type ?? 'gp3') as 'gp3', Encrypted: v.encrypted, DeleteOnTermination: !v.keep_on_delete },
        })),
      ],
      ...(server.user_data ? { UserData: Buffer.from(server.user_data).toString('base64') } : {}),
      ...(typeof settings.iam_instance_profile === 'string' && settings.iam_instance_profile ? { IamInstanceProfile: { Name: settings.iam_instance_profile } } : {}),
      TagSpecifications: [spec('instance', ctx.tags, server.hostname), spec('volume', ctx.tags, server.hostname)],
    }));
    const id = res.Instances?.[0]?.InstanceId;
    if (!id) throw new ProvError('PROVIDER_ERROR', 'AWS RunInstances returned no instance', { hint: 'retry; the next run adopts an instance that was created after all' });
    if (ctx.wait !== false) await this.wait('running', id);
    return (await this.find({ provider_id: id, tags: {} })) ?? this.observe(res.Instances![0]!);
  }

  async find(ref: FindRef): Promise<Observed | null> {
    if (ref.provider_id) {
      try {
        const found = await this.describe({ InstanceIds: [ref.provider_id] });
        if (found[0]) return found[0];
      } catch (err) {
        if (!(err instanceof ProvError && /^InvalidInstanceID\./.test(String(err.details.provider_code)))) throw err;
      }
    }
    const sys = Object.fromEntries(Object.entries(ref.tags).filter(([k]) => k.startsWith('provisioning.io/')));
    const want = Object.keys(sys).length ? sys : ref.tags;
    if (!Object.keys(want).length) return null;
    return (await this.list(want))[0] ?? null;
  }

  list(tags: Labels): Promise<Observed[]> {
    return this.describe({ Filters: [...tagFilters(tags), { Name: 'instance-state-name', Values: LIVE_STATES }] });
  }

  /**
   * In-place changes (capability `resize`): a new instance type stops the instance, changes the
   * type and starts it again when it was running; new labels replace the user's tags, ours stay.
   */
  async update(ref: IdRef, change: Partial<ResolvedServer>): Promise<Observed> {
    const current = await this.find({ provider_id: ref.provider_id, tags: {} });
    if (!current) throw new ProvError('NOT_FOUND', `AWS has no instance ${ref.provider_id}`, { hint: "it was terminated outside provisioning; 'server list --refresh' shows it as missing" });
    if (change.labels) {
      const stale = Object.keys(current.tags).filter((k) => !k.startsWith('provisioning.io/') && !(k in change.labels!));
      if (stale.length) await this.send(new DeleteTagsCommand({ Resources: [ref.provider_id], Tags: stale.map((Key) => ({ Key })) }));
      if (Object.keys(change.labels).length) await this.send(new CreateTagsCommand({ Resources: [ref.provider_id], Tags: toTags(change.labels) }));
    }
    if (change.plan && change.plan !== current.plan) {
      const wasRunning = current.status === 'running' || current.status === 'creating';
      if (current.status !== 'stopped') await this.power(ref, 'stop');
      await this.send(new ModifyInstanceAttributeCommand({ InstanceId: ref.provider_id, InstanceType: { Value: change.plan } }));
      if (wasRunning) await this.power(ref, 'start');
    }
    return (await this.find({ provider_id: ref.provider_id, tags: {} }))!;
  }

  async power(ref: IdRef, action: 'start' | 'stop' | 'restart'): Promise<void> {
    const InstanceIds = [ref.provider_id];
    if (action === 'start') {
      await this.send(new StartInstancesCommand({ InstanceIds }));
      await this.wait('running', ref.provider_id);
    } else if (action === 'stop') {
      await this.send(new StopInstancesCommand({ InstanceIds }));
      await this.wait('stopped', ref.provider_id);
    } else {
      await this.send(new RebootInstancesCommand({ InstanceIds }));
      await this.wait('running', ref.provider_id);
    }
  }

  async delete(ref: IdRef, opts: { keep_storage: boolean }): Promise<void> {
    const current = await this.find({ provider_id: ref.provider_id, tags: {} });
    if (!current) return; // gone already
    if (opts.keep_storage) {
      const [inst] = await this.instances({ InstanceIds: [ref.provider_id] });
      const mappings = (inst?.BlockDeviceMappings ?? []).filter((b) => b.DeviceName && b.Ebs?.VolumeId);
      if (mappings.length) {
        await this.send(new ModifyInstanceAttributeCommand({
          InstanceId: ref.provider_id,
          BlockDeviceMappings: mappings.map((b) => ({ DeviceName: b.DeviceName, Ebs: { DeleteOnTermination: false } })),
        }));
      }
    }
    await this.send(new TerminateInstancesCommand({ InstanceIds: [ref.provider_id] }));
    await this.wait('terminated', ref.provider_id);
    // The firewall group of this server goes with it (it is ours: it carries the server's id tag).
    const id = current.tags[TAG.id];
    if (id) {
      const groups = await this.send<{ SecurityGroups?: { GroupId?: string }[] }>(new DescribeSecurityGroupsCommand({ Filters: tagFilters({ [TAG.id]: id }) }));
      for (const g of groups.SecurityGroups ?? []) if (g.GroupId) await this.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
    }
  }

  connect(server: Observed): Connection {
    return {
      transport: 'ssh',
      host: server.addresses.public_ipv4[0] ?? server.addresses.public_ipv6[0] ?? server.addresses.private[0]?.ip,
      port: 22,
      user: this.deps.manifest.provider.default_user ?? 'ubuntu',
    };
  }

  // ── helpers ──────────────────────────────────────────────────────────────────

  private async instances(input: { InstanceIds?: string[]; Filters?: Filter[] }): Promise<Instance[]> {
    const out: Instance[] = [];
    let NextToken: string | undefined;
    do {
      const res = await this.send<{ Reservations?: { Instances?: Instance[] }[]; NextToken?: string }>(new DescribeInstancesCommand({ ...input, NextToken }));
      for (const r of res.Reservations ?? []) out.push(...(r.Instances ?? []));
      NextToken = res.NextToken;
    } while (NextToken);
    return out.filter((i) => i.State?.Name !== 'terminated');
  }

  private async describe(input: { InstanceIds?: string[]; Filters?: Filter[] }): Promise<Observed[]> {
    const found = await this.instances(input);
    return Promise.all(found.map((i) => this.observe(i)));
  }

  private async observe(i: Instance): Promise<Observed> {
    const type = String(i.InstanceType ?? '');
    let memory = staticPlans(this.deps.manifest).find((p) => p.name === type)?.memory_mb;
    let cores = (i.CpuOptions?.CoreCount ?? 0) * (i.CpuOptions?.ThreadsPerCore ?? 1);
    if (memory === undefined && type) {
      const t = await this.send<{ InstanceTypes?: { MemoryInfo?: { SizeInMiB?: number }; VCpuInfo?: { DefaultVCpus?: number } }[] }>(new DescribeInstanceTypesCommand({ InstanceTypes: [type as _InstanceType] }));
      memory = t.InstanceTypes?.[0]?.MemoryInfo?.SizeInMiB;
      cores ||= t.InstanceTypes?.[0]?.VCpuInfo?.DefaultVCpus ?? 0;
    }
    const rootId = i.BlockDeviceMappings?.find((b) => b.DeviceName === i.RootDeviceName)?.Ebs?.VolumeId;
    let disk = 0;
    if (rootId) {
      const v = await this.send<{ Volumes?: { Size?: number }[] }>(new DescribeVolumesCommand({ VolumeIds: [rootId] }));
      disk = v.Volumes?.[0]?.Size ?? 0;
    }
    const ipv6 = (i.NetworkInterfaces ?? []).flatMap((n) => (n.Ipv6Addresses ?? []).map((a) => a.Ipv6Address ?? '')).filter(Boolean);
    return {
      provider_id: i.InstanceId ?? '',
      status: STATUS[i.State?.Name ?? ''] ?? 'error',
      zone: i.Placement?.AvailabilityZone?.replace(/[a-z]$/, '') ?? this.region,
      plan: type,
      cores: cores || (staticPlans(this.deps.manifest).find((p) => p.name === type)?.cores ?? 0),
      memory_mb: memory ?? 0,
      disk_gb: disk,
      image: i.ImageId ?? '',
      addresses: { public_ipv4: i.PublicIpAddress ? [i.PublicIpAddress] : [], public_ipv6: ipv6, private: i.PrivateIpAddress ? [{ network: i.SubnetId ?? '', ip: i.PrivateIpAddress }] : [] },
      tags: fromTags(i.Tags),
    };
  }

  private async wait(state: 'running' | 'stopped' | 'terminated', id: string): Promise<void> {
    const maxWaitTime = configSeconds(this.deps.manifest, this.deps.config, 'timeout', 300);
    const delays = this.deps.waiterDelayS ?? { min: 5, max: 15 };
    const waiter = { running: waitUntilInstanceRunning, stopped: waitUntilInstanceStopped, terminated: waitUntilInstanceTerminated }[state];
    try {
      await waiter({ client: this.client(), maxWaitTime, minDelay: delays.min, maxDelay: delays.max }, { InstanceIds: [id] });
    } catch (err) {
      // The SDK's waiters throw an Error whose message is the JSON of their result.
      const e = err as { name?: string; message?: string };
      let outcome: string | undefined;
      try { outcome = (JSON.parse(e.message ?? '') as { state?: string }).state; } catch { /* a plain error */ }
      if (e.name === 'TimeoutError' || outcome === 'TIMEOUT') {
        throw new ProvError('WAIT_TIMEOUT', `AWS instance ${id} did not become ${state} within ${maxWaitTime}s`, { hint: 'raise providers.aws.timeout, or look at the instance in the EC2 console' });
      }
      if (outcome === 'FAILURE') throw new ProvError('PROVIDER_ERROR', `AWS instance ${id} cannot become ${state} (it reached a final state on the way)`, { hint: 'look at the instance state reason in the EC2 console' });
      throw this.toError(err, `wait ${state}`);
    }
  }

  /** The region's newest official Ubuntu 24.04 LTS image for the instance type's architecture. */
  private async defaultImage(type: string): Promise<string> {
    const arch = isArm(type) ? 'arm64' : 'amd64';
    const res = await this.send<{ Images?: { ImageId?: string; CreationDate?: string }[] }>(new DescribeImagesCommand({
      Owners: [CANONICAL_OWNER],
      Filters: [
        { Name: 'name', Values: [`ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-${arch}-server-*`] },
        { Name: 'state', Values: ['available'] },
      ],
    }));
    const newest = (res.Images ?? []).filter((i) => i.ImageId).sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
    if (!newest) throw new ProvError('PROVIDER_ERROR', `no Ubuntu 24.04 image (${arch}) from Canonical in ${this.region}`, { hint: 'set providers.aws.image to an AMI id' });
    return newest.ImageId!;
  }

  /** The workspace's key pair: imported from the first configured public key when EC2 lacks it. */
  private async keyPair(ctx: OperationContext): Promise<string | undefined> {
    const material = ctx.ssh_public_keys[0];
    if (!material) return undefined;
    const name = `provisioning-${ctx.tags[TAG.workspace] ?? 'default'}`;
    try {
      await this.send(new DescribeKeyPairsCommand({ KeyNames: [name] }));
      return name;
    } catch (err) {
      if (!(err instanceof ProvError && err.details.provider_code === 'InvalidKeyPair.NotFound')) throw err;
    }
    const sys = Object.fromEntries(Object.entries(ctx.tags).filter(([k]) => k === TAG.workspace));
    await this.send(new ImportKeyPairCommand({ KeyName: name, PublicKeyMaterial: Buffer.from(material), TagSpecifications: [spec('key-pair', sys)] }));
    return name;
  }

  /** The server's security group holding its firewall rules: found by its id tag, else created. */
  private async securityGroup(server: ResolvedServer, tags: Labels, subnet: string | undefined): Promise<string> {
    const id = tags[TAG.id];
    if (id) {
      const found = await this.send<{ SecurityGroups?: { GroupId?: string }[] }>(new DescribeSecurityGroupsCommand({ Filters: tagFilters({ [TAG.id]: id }) }));
      const g = found.SecurityGroups?.[0]?.GroupId;
      if (g) return g;
    }
    let vpc = this.cfg('vpc_id');
    if (!vpc && subnet) {
      const s = await this.send<{ Subnets?: { VpcId?: string }[] }>(new DescribeSubnetsCommand({ SubnetIds: [subnet] }));
      vpc = s.Subnets?.[0]?.VpcId;
    }
    const infra = tags[TAG.infra] ?? 'default';
    const created = await this.send<{ GroupId?: string }>(new CreateSecurityGroupCommand({
      GroupName: `provisioning-${infra}-${server.hostname}`,
      Description: `firewall of ${server.hostname} (infra ${infra}), managed by provisioning`,
      ...(vpc ? { VpcId: vpc } : {}),
      TagSpecifications: [spec('security-group', tags, `${server.hostname}-firewall`)],
    }));
    const GroupId = created.GroupId!;
    const inbound = server.network.firewall.filter((r) => r.direction === 'in' && r.action === 'allow').map(permission);
    const outbound = server.network.firewall.filter((r) => r.direction === 'out' && r.action === 'allow').map(permission);
    if (inbound.length) await this.send(new AuthorizeSecurityGroupIngressCommand({ GroupId, IpPermissions: inbound }));
    if (outbound.length) await this.send(new AuthorizeSecurityGroupEgressCommand({ GroupId, IpPermissions: outbound }));
    return GroupId;
  }
}

/** One firewall rule as an EC2 permission: "8000-8100" is a port range, icmp takes all types. */
export function permission(r: ResolvedFirewallRule): IpPermission {
  const cidr = (r.direction === 'in' ? r.source : r.destination) ?? '0.0.0.0/0';
  const range = cidr.includes(':') ? { Ipv6Ranges: [{ CidrIpv6: cidr, Description: r.description }] } : { IpRanges: [{ CidrIp: cidr, Description: r.description }] };
  if (r.protocol === 'icmp') return { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, ...range };
  const [from, to] = String(r.port).split('-').map(Number);
  return { IpProtocol: r.protocol, FromPort: from, ToPort: to ?? from, ...range };
}
