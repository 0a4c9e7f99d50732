import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateTagsCommand, DeleteSecurityGroupCommand, DeleteTagsCommand,
  DescribeImagesCommand, DescribeInstancesCommand, DescribeInstanceTypesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, DescribeVolumesCommand,
  EC2Client, EC2ServiceException, ImportKeyPairCommand, ModifyInstanceAttributeCommand, RunInstancesCommand, StartInstancesCommand,
  StopInstancesCommand, TerminateInstancesCommand, type Instance,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import type { ProvError } from '../../src/errors/index.js';
import { AwsProvider, CANONICAL_OWNER } from '../../src/providers/aws/index.js';
import { providerFor } from '../../src/providers/index.js';
import { systemTags } from '../../src/providers/types.js';
import { coreManifest, everything, server } from './support.js';

const manifest = coreManifest('aws');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test@provisioning';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const ec2 = mockClient(EC2Client);

const awsError = (name: string, message: string, status = 400): EC2ServiceException =>
  new EC2ServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: status } });

const tags = (name: string) => ({ ...systemTags('acme', 'shop', name), tier: 'web' });
const instance = (state: string, over: Partial<Instance> = {}): Instance => ({
  InstanceId: 'i-0abc', InstanceType: 't3.small', ImageId: 'ami-noble', State: { Name: state as 'running' },
  Placement: { AvailabilityZone: 'us-east-1a' }, PublicIpAddress: '3.80.0.10', PrivateIpAddress: '172.31.0.10', SubnetId: 'subnet-1',
  CpuOptions: { CoreCount: 1, ThreadsPerCore: 2 }, RootDeviceName: '/dev/sda1',
  BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeId: 'vol-root' } }, { DeviceName: '/dev/sdf', Ebs: { VolumeId: 'vol-data' } }],
  Tags: [{ Key: 'Name', Value: 'web-01' }, ...Object.entries(tags('web-01')).map(([Key, Value]) => ({ Key, Value }))],
  ...over,
});
const reservations = (...instances: Instance[]) => ({ Reservations: instances.length ? [{ Instances: instances }] : [] });

describe('aws provider with the SDK client mock', () => {
  const provider = (config: Record<string, unknown> = {}) =>
    new AwsProvider({ manifest, config: { access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: SECRET, timeout: '5s', ...config }, env: {}, waiterDelayS: { min: 0.01, max: 0.02 } });

  beforeEach(() => {
    ec2.reset();
    ec2.on(DescribeVolumesCommand).resolves({ Volumes: [{ VolumeId: 'vol-root', Size: 30 }] });
  });

  it('creates: key pair imported, security group from the firewall, tagged RunInstances, waits for running', async () => {
    ec2.on(DescribeInstancesCommand).resolvesOnce(reservations()).resolves(reservations(instance('running')));
    ec2.on(DescribeImagesCommand).resolves({ Images: [
      { ImageId: 'ami-old', CreationDate: '2025-01-01T00:00:00.000Z' }, { ImageId: 'ami-noble', CreationDate: '2026-10-01T00:00:00.000Z' },
    ] });
    ec2.on(DescribeKeyPairsCommand).rejects(awsError('InvalidKeyPair.NotFound', "The key pair 'provisioning-acme' does not exist"));
    ec2.on(ImportKeyPairCommand).resolves({ KeyName: 'provisioning-acme' });
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    ec2.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-0f00' });
    ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
    ec2.on(RunInstancesCommand).resolves({ Instances: [instance('pending')] });

    const obs = await provider().create(server('web-01', { plan: 't3.small', disk_gb: 30 }), { tags: tags('web-01'), ssh_public_keys: [KEY] });
    assert.deepEqual(
      { id: obs.provider_id, status: obs.status, zone: obs.zone, plan: obs.plan, cores: obs.cores, mem: obs.memory_mb, disk: obs.disk_gb, ip: obs.addresses.public_ipv4 },
      { id: 'i-0abc', status: 'running', zone: 'us-east-1', plan: 't3.small', cores: 2, mem: 2048, disk: 30, ip: ['3.80.0.10'] },
    );
    assert.equal(obs.tags['provisioning.io/id'], 'server:shop/web-01');

    const run = ec2.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    assert.equal(run.InstanceType, 't3.small');
    assert.equal(run.ImageId, 'ami-noble', 'the newest Canonical image');
    assert.equal(run.KeyName, 'provisioning-acme');
    assert.deepEqual(run.SecurityGroupIds, ['sg-0f00']);
    assert.equal(run.BlockDeviceMappings![0]!.Ebs!.VolumeSize, 30);
    const instTags = run.TagSpecifications!.find((t) => t.ResourceType === 'instance')!.Tags!;
    assert.deepEqual(instTags.find((t) => t.Key === 'provisioning.io/workspace'), { Key: 'provisioning.io/workspace', Value: 'acme' });
    assert.deepEqual(instTags.find((t) => t.Key === 'Name'), { Key: 'Name', Value: 'web-01' });
    assert.ok(run.TagSpecifications!.some((t) => t.ResourceType === 'volume'));

    const images = ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input;
    assert.deepEqual(images.Owners, [CANONICAL_OWNER]);
    assert.match(images.Filters![0]!.Values![0]!, /ubuntu-noble-24\.04-amd64-server/);
    const imported = ec2.commandCalls(ImportKeyPairCommand)[0]!.args[0].input;
    assert.equal(Buffer.from(imported.PublicKeyMaterial!).toString(), KEY);
    const sg = ec2.commandCalls(CreateSecurityGroupCommand)[0]!.args[0].input;
    assert.equal(sg.GroupName, 'provisioning-shop-web-01');
    assert.ok(sg.TagSpecifications![0]!.Tags!.some((t) => t.Key === 'provisioning.io/id' && t.Value === 'server:shop/web-01'));
    const filters = ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input.Filters!;
    assert.deepEqual(filters.find((f) => f.Name === 'tag:provisioning.io/name'), { Name: 'tag:provisioning.io/name', Values: ['web-01'] });
  });

  it('firewall rules become security group permissions (ports, ranges, icmp, egress)', async () => {
    ec2.on(DescribeInstancesCommand).resolvesOnce(reservations()).resolves(reservations(instance('running')));
    ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyName: 'provisioning-acme' }] });
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    ec2.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-0f00' });
    ec2.on(RunInstancesCommand).resolves({ Instances: [instance('pending')] });
    const firewall = [
      { direction: 'in' as const, protocol: 'tcp' as const, port: 22, source: '0.0.0.0/0', action: 'allow' as const },
      { direction: 'in' as const, protocol: 'tcp' as const, port: '8000-8100', source: '10.0.0.0/8', action: 'allow' as const, description: 'app' },
      { direction: 'in' as const, protocol: 'icmp' as const, source: '0.0.0.0/0', action: 'allow' as const },
      { direction: 'in' as const, protocol: 'udp' as const, port: 53, source: '::/0', action: 'allow' as const },
      { direction: 'out' as const, protocol: 'tcp' as const, port: 443, destination: '0.0.0.0/0', action: 'allow' as const },
    ];
    await provider({ image: 'ami-given' }).create(server('web-01', { network: { public_ipv4: true, public_ipv6: false, private: [], firewall } }), { tags: tags('web-01'), ssh_public_keys: [KEY] });
    assert.equal(ec2.commandCalls(DescribeImagesCommand).length, 0, 'a configured image is used as is');
    assert.equal(ec2.commandCalls(ImportKeyPairCommand).length, 0, 'an existing key pair is reused');
    const ingress = ec2.commandCalls(AuthorizeSecurityGroupIngressCommand)[0]!.args[0].input;
    assert.equal(ingress.GroupId, 'sg-0f00');
    assert.deepEqual(ingress.IpPermissions, [
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: undefined }] },
      { IpProtocol: 'tcp', FromPort: 8000, ToPort: 8100, IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'app' }] },
      { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: undefined }] },
      { IpProtocol: 'udp', FromPort: 53, ToPort: 53, Ipv6Ranges: [{ CidrIpv6: '::/0', Description: undefined }] },
    ]);
    const egress = ec2.commandCalls(AuthorizeSecurityGroupEgressCommand)[0]!.args[0].input;
    assert.deepEqual(egress.IpPermissions, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: undefined }] }]);
  });

  it('adopts an instance a crashed run started instead of running a second one', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations(instance('running')));
    const obs = await provider().create(server('web-01', { plan: 't3.small' }), { tags: tags('web-01'), ssh_public_keys: [KEY] });
    assert.equal(obs.provider_id, 'i-0abc');
    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
    assert.equal(ec2.commandCalls(CreateSecurityGroupCommand).length, 0);
  });

  it('find: by id, a vanished id falls back to the tags; list by tags', async () => {
    ec2.on(DescribeInstancesCommand, { InstanceIds: ['i-gone'] }).rejects(awsError('InvalidInstanceID.NotFound', "The instance ID 'i-gone' does not exist"));
    ec2.on(DescribeInstancesCommand, { InstanceIds: ['i-0abc'] }).resolves(reservations(instance('stopped')));
    ec2.on(DescribeInstancesCommand, { Filters: [{ Name: 'tag:provisioning.io/name', Values: ['web-01'] }, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }] })
      .resolves(reservations(instance('running', { InstanceId: 'i-tagged' })));
    const p = provider();
    assert.equal((await p.find({ provider_id: 'i-0abc', tags: {} }))?.status, 'stopped');
    assert.equal((await p.find({ provider_id: 'i-gone', tags: { 'provisioning.io/name': 'web-01' } }))?.provider_id, 'i-tagged');
    assert.deepEqual((await p.list({ 'provisioning.io/name': 'web-01' })).map((o) => o.provider_id), ['i-tagged']);
  });

  it('delete terminates, waits, and removes the server\'s security group; keep_storage keeps the volumes', async () => {
    ec2.on(DescribeInstancesCommand).resolvesOnce(reservations(instance('running'))).resolves(reservations(instance('terminated')));
    ec2.on(TerminateInstancesCommand).resolves({});
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-0f00' }] });
    ec2.on(DeleteSecurityGroupCommand).resolves({});
    await provider().delete({ provider_id: 'i-0abc' }, { keep_storage: false });
    assert.deepEqual(ec2.commandCalls(TerminateInstancesCommand)[0]!.args[0].input, { InstanceIds: ['i-0abc'] });
    assert.equal(ec2.commandCalls(ModifyInstanceAttributeCommand).length, 0);
    assert.deepEqual(ec2.commandCalls(DeleteSecurityGroupCommand)[0]!.args[0].input, { GroupId: 'sg-0f00' });
    assert.deepEqual(ec2.commandCalls(DescribeSecurityGroupsCommand)[0]!.args[0].input.Filters, [{ Name: 'tag:provisioning.io/id', Values: ['server:shop/web-01'] }]);

    ec2.reset();
    ec2.on(DescribeVolumesCommand).resolves({ Volumes: [{ Size: 30 }] });
    ec2.on(DescribeInstancesCommand).resolvesOnce(reservations(instance('stopped'))).resolvesOnce(reservations(instance('stopped'))).resolves(reservations(instance('terminated')));
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    await provider().delete({ provider_id: 'i-0abc' }, { keep_storage: true });
    assert.deepEqual(ec2.commandCalls(ModifyInstanceAttributeCommand)[0]!.args[0].input.BlockDeviceMappings, [
      { DeviceName: '/dev/sda1', Ebs: { DeleteOnTermination: false } }, { DeviceName: '/dev/sdf', Ebs: { DeleteOnTermination: false } },
    ]);
    assert.equal(ec2.commandCalls(TerminateInstancesCommand).length, 1);

    ec2.reset();
    ec2.on(DescribeInstancesCommand).resolves(reservations());
    await provider().delete({ provider_id: 'i-0abc' }, { keep_storage: false });
    assert.equal(ec2.commandCalls(TerminateInstancesCommand).length, 0, 'already gone: nothing to do');
  });

  it('power: stop and start wait for the state', async () => {
    ec2.on(StopInstancesCommand).resolves({});
    ec2.on(StartInstancesCommand).resolves({});
    ec2.on(DescribeInstancesCommand).resolvesOnce(reservations(instance('stopping'))).resolvesOnce(reservations(instance('stopped'))).resolves(reservations(instance('running')));
    const p = provider();
    await p.power({ provider_id: 'i-0abc' }, 'stop');
    await p.power({ provider_id: 'i-0abc' }, 'start');
    assert.equal(ec2.commandCalls(StopInstancesCommand).length, 1);
    assert.equal(ec2.commandCalls(StartInstancesCommand).length, 1);
    assert.ok(ec2.commandCalls(DescribeInstancesCommand).length >= 3, 'polled through stopping');
  });

  it('update: a new instance type stops, modifies and starts; labels replace the user tags only', async () => {
    ec2.on(DescribeInstancesCommand)
      .resolvesOnce(reservations(instance('running'))) // find
      .resolvesOnce(reservations(instance('stopped'))) // stop waiter
      .resolves(reservations(instance('running', { InstanceType: 't3.medium' })));
    ec2.on(StopInstancesCommand).resolves({});
    ec2.on(StartInstancesCommand).resolves({});
    ec2.on(ModifyInstanceAttributeCommand).resolves({});
    ec2.on(CreateTagsCommand).resolves({});
    ec2.on(DeleteTagsCommand).resolves({});
    const obs = await provider().update({ provider_id: 'i-0abc' }, { plan: 't3.medium', labels: { role: 'api' } });
    assert.equal(obs.plan, 't3.medium');
    assert.deepEqual(ec2.commandCalls(ModifyInstanceAttributeCommand)[0]!.args[0].input, { InstanceId: 'i-0abc', InstanceType: { Value: 't3.medium' } });
    assert.equal(ec2.commandCalls(StopInstancesCommand).length, 1);
    assert.equal(ec2.commandCalls(StartInstancesCommand).length, 1);
    assert.deepEqual(ec2.commandCalls(DeleteTagsCommand)[0]!.args[0].input, { Resources: ['i-0abc'], Tags: [{ Key: 'tier' }] });
    assert.deepEqual(ec2.commandCalls(CreateTagsCommand)[0]!.args[0].input, { Resources: ['i-0abc'], Tags: [{ Key: 'role', Value: 'api' }] });
  });

  it('a wait that does not finish is WAIT_TIMEOUT naming providers.aws.timeout', async () => {
    ec2.on(StartInstancesCommand).resolves({});
    ec2.on(DescribeInstancesCommand).resolves(reservations(instance('pending')));
    await assert.rejects(provider({ timeout: '1s' }).power({ provider_id: 'i-0abc' }, 'start'), (e: ProvError) => {
      assert.equal(e.code, 'WAIT_TIMEOUT');
      assert.match(e.message, /i-0abc did not become running within 1s/);
      assert.match(e.hint!, /providers\.aws\.timeout/);
      return true;
    });
  });

  it('EC2 errors are PROVIDER_ERROR with the AWS code; AuthFailure is AUTH_REQUIRED', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations());
    ec2.on(DescribeKeyPairsCommand).resolves({});
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1' }] });
    ec2.on(RunInstancesCommand).rejects(awsError('InvalidParameterValue', "Value (t3.tiny) for parameter instanceType is invalid."));
    await assert.rejects(provider({ image: 'ami-1' }).create(server('web-01', { plan: 't3.tiny' }), { tags: tags('web-01'), ssh_public_keys: [KEY] }), (e: ProvError) => {
      assert.equal(e.code, 'PROVIDER_ERROR');
      assert.equal(e.exitCode, 1);
      assert.equal(e.message, 'AWS RunInstances failed: InvalidParameterValue: Value (t3.tiny) for parameter instanceType is invalid.');
      assert.equal(e.details.provider_code, 'InvalidParameterValue');
      assert.ok(e.hint);
      return true;
    });
    ec2.reset();
    ec2.on(DescribeInstancesCommand).rejects(awsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401));
    await assert.rejects(provider().list({}), (e: ProvError) => {
      assert.equal(e.code, 'AUTH_REQUIRED');
      assert.equal(e.exitCode, 4);
      assert.match(e.hint!, /providers\.aws\.access_key_id/);
      return true;
    });
  });

  it('half-given credentials are refused before any call, naming the key and the variable', async () => {
    const p = new AwsProvider({ manifest, config: { access_key_id: 'AKIAIOSFODNN7EXAMPLE' }, env: {} });
    await assert.rejects(p.list({}), (e: ProvError) => {
      assert.equal(e.code, 'AUTH_REQUIRED');
      assert.match(e.message, /providers\.aws\.secret_access_key \(or PROVISIONING_PROVIDERS__AWS__SECRET_ACCESS_KEY\)/);
      return true;
    });
    assert.equal(ec2.calls().length, 0, 'no EC2 call was made');
  });

  it('no credentials anywhere in the default chain: AUTH_REQUIRED naming the keys and variables', async () => {
    const noCreds = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    ec2.on(DescribeInstancesCommand).rejects(noCreds);
    await assert.rejects(new AwsProvider({ manifest, config: {}, env: {} }).list({}), (e: ProvError) => {
      assert.equal(e.code, 'AUTH_REQUIRED');
      assert.match(e.message, /providers\.aws\.access_key_id and providers\.aws\.secret_access_key \(or PROVISIONING_PROVIDERS__AWS__ACCESS_KEY_ID/);
      assert.match(e.message, /AWS_ACCESS_KEY_ID/);
      return true;
    });
  });

  it('the secret key never appears in errors, even when echoed back', async () => {
    ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidParameterValue', `bad signature for ${SECRET}`));
    await assert.rejects(provider().list({}), (e: ProvError) => {
      const all = everything(e) + inspect(e, { depth: 10 }) + JSON.stringify(e);
      assert.ok(!all.includes(SECRET));
      assert.match(e.message, /<redacted>/);
      return true;
    });
  });

  it('an ARM instance type gets the arm64 Ubuntu image', async () => {
    ec2.on(DescribeInstancesCommand).resolvesOnce(reservations()).resolves(reservations(instance('running', { InstanceType: 't4g.small' })));
    ec2.on(DescribeInstanceTypesCommand).resolves({ InstanceTypes: [{ InstanceType: 't4g.small', MemoryInfo: { SizeInMiB: 2048 }, VCpuInfo: { DefaultVCpus: 2 } }] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-arm', CreationDate: '2026-10-01T00:00:00.000Z' }] });
    ec2.on(DescribeKeyPairsCommand).resolves({});
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1' }] });
    ec2.on(RunInstancesCommand).resolves({ Instances: [instance('pending')] });
    const obs = await provider().create(server('web-01', { plan: 't4g.small' }), { tags: tags('web-01'), ssh_public_keys: [] });
    assert.equal(obs.memory_mb, 2048, 'a type outside the static table is described by EC2');
    assert.match(ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input.Filters![0]!.Values![0]!, /arm64/);
    const run = ec2.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    assert.equal(run.ImageId, 'ami-arm');
    assert.equal(run.KeyName, undefined, 'no public key, no key pair');
  });

  it('validate is offline: unknown region, deny rules, custom sizes', async () => {
    const p = new AwsProvider({ manifest, config: {}, env: {} });
    const deny = { direction: 'in' as const, protocol: 'tcp' as const, port: 25, source: '0.0.0.0/0', action: 'deny' as const };
    const issues = await p.validate({}, [
      server('a', { zone: 'us-east-9' }),
      server('b', { network: { public_ipv4: true, public_ipv6: false, private: [], firewall: [deny] } }),
      server('c', { cores: 2, memory_mb: 2048 }),
      server('d', { zone: 'eu-west-1', plan: 't3.small' }),
    ]);
    assert.deepEqual(issues.map((i) => [i.severity, i.path]), [['error', 'servers.a.zone'], ['error', 'servers.b.network.firewall[0]'], ['error', 'servers.c.cores']]);
    assert.match(issues[0]!.hint!, /did you mean 'us-east-1'/);
    assert.equal(ec2.calls().length, 0);
  });

  it('price and catalog come from the manifest; providerFor builds it', async () => {
    const p = await providerFor('aws', { manifest, config: {}, env: {} });
    assert.equal(p.name, 'aws');
    assert.deepEqual(p.price!(server('a', { plan: 't3.micro' })), { hourly: 0.0104, monthly: 7.59, currency: 'USD' });
    const cat = await p.catalog({});
    assert.ok(cat.zones.includes('eu-central-1'));
    assert.deepEqual(cat.plans.find((x) => x.name === 't3.nano'), { name: 't3.nano', cores: 2, memory_mb: 512 });
    assert.deepEqual(p.connect({ provider_id: 'i-1', status: 'running', zone: 'us-east-1', cores: 2, memory_mb: 1024, disk_gb: 8, image: 'ami', tags: {}, addresses: { public_ipv4: ['3.3.3.3'], public_ipv6: [], private: [] } }),
      { transport: 'ssh', host: '3.3.3.3', port: 22, user: 'ubuntu' });
  });
});
