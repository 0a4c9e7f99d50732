import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { inspect } from 'node:util';
import type { ProvError } from '../../src/errors/index.js';
import { providerFor } from '../../src/providers/index.js';
import { systemTags, type Provider } from '../../src/providers/types.js';
import { UpCloudProvider } from '../../src/providers/upcloud/index.js';
import { UpCloudDouble } from '../fixtures/upcloud-double.js';
import { coreManifest, everything, server } from './support.js';

const manifest = coreManifest('upcloud');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test@provisioning';
/* eslint-disable-next-line @typescript-eslint/no-explicit-any -- request bodies are read as loose JSON */
type Body = Record<string, any>;
const FAST = { retry: { attempts: 4, baseMs: 5, maxDelayMs: 2000 }, pollMs: 5 };

describe('upcloud provider against the API double', () => {
  let api: UpCloudDouble;
  const provider = (config: Record<string, unknown> = {}, env: Record<string, string> = {}): UpCloudProvider =>
    new UpCloudProvider({ manifest, config: { api_url: api.url, username: api.username, password: api.password, timeout: '10s', ...config }, env, ...FAST });
  const ctx = (name: string) => ({ tags: { ...systemTags('acme', 'shop', name), tier: 'web' }, ssh_public_keys: [KEY] });

  before(async () => { api = await new UpCloudDouble().start(); });
  after(async () => { await api.stop(); });
  beforeEach(() => { api.reset(); });

  it('creates a tagged server, waits for started, finds it by id and by tags, lists it', async () => {
    const p = provider();
    const obs = await p.create(server('web-01', { zone: 'de-fra1', plan: '1xCPU-2GB', disk_gb: 50 }), ctx('web-01'));
    assert.equal(obs.status, 'running');
    assert.equal(obs.zone, 'de-fra1');
    assert.equal(obs.cores, 1);
    assert.equal(obs.memory_mb, 2048);
    assert.equal(obs.disk_gb, 50);
    assert.equal(obs.image, 'ubuntu-24.04');
    assert.match(obs.addresses.public_ipv4[0]!, /^94\.237\./);
    assert.equal(obs.tags['provisioning.io/name'], 'web-01');
    assert.equal(obs.tags.tier, 'web');

    const [post] = api.requestsTo('POST', /^\/server$/);
    const body = (post!.body as { server: Body }).server;
    assert.equal(body.plan, '1xCPU-2GB');
    assert.deepEqual(body.login_user.ssh_keys.ssh_key, [KEY]);
    assert.equal(body.storage_devices.storage_device[0].storage, '01000000-0000-4000-8000-000030240200', 'image resolved to the template uuid');
    assert.deepEqual(body.labels.label.find((l: { key: string }) => l.key === 'provisioning_id'), { key: 'provisioning_id', value: 'server:shop/web-01' });
    assert.ok(api.requestsTo('GET', /^\/server\/[^/]+$/).length >= api.transitionPolls, 'polled until started');

    assert.equal((await p.find({ provider_id: obs.provider_id, tags: {} }))?.provider_id, obs.provider_id);
    assert.equal((await p.find({ tags: systemTags('acme', 'shop', 'web-01') }))?.provider_id, obs.provider_id);
    assert.equal(await p.find({ tags: systemTags('acme', 'shop', 'web-02') }), null);
    assert.deepEqual((await p.list({ 'provisioning.io/workspace': 'acme' })).map((o) => o.provider_id), [obs.provider_id]);
    assert.deepEqual(await p.list({ 'provisioning.io/workspace': 'other' }), []);
    assert.ok(api.requests.some((r) => r.path === '/server?label=provisioning_workspace%3Dacme'), 'filtered by label at the API');
    assert.deepEqual(p.connect(obs), { transport: 'ssh', host: obs.addresses.public_ipv4[0], port: 22, user: 'root' });
  });

  it('custom sizes and extra volumes go into the create request', async () => {
    const p = provider();
    await p.create(server('db-01', { cores: 2, memory_mb: 4096, storage: [{ name: 'pgdata', size_gb: 100, filesystem: 'ext4', encrypted: false, keep_on_delete: false }] }), ctx('db-01'));
    const body = (api.requestsTo('POST', /^\/server$/)[0]!.body as { server: Body }).server;
    assert.equal(body.plan, 'custom');
    assert.equal(body.core_number, '2');
    assert.equal(body.memory_amount, '4096');
    assert.deepEqual(body.storage_devices.storage_device[1], { action: 'create', title: 'db-01-pgdata', size: 100, tier: 'maxiops' });
  });

  it('stops and starts, waiting for each state', async () => {
    const p = provider();
    const obs = await p.create(server('web-01'), ctx('web-01'));
    await p.power(obs, 'stop');
    assert.equal((await p.find({ provider_id: obs.provider_id, tags: {} }))?.status, 'stopped');
    assert.equal((api.requestsTo('POST', /\/stop$/)[0]!.body as Body).stop_server.stop_type, 'soft');
    await p.power(obs, 'start');
    assert.equal((await p.find({ provider_id: obs.provider_id, tags: {} }))?.status, 'running');
    await p.power(obs, 'restart');
    assert.equal((await p.find({ provider_id: obs.provider_id, tags: {} }))?.status, 'running');
  });

  it('update: a plan change stops, resizes and starts again; labels change in place and keep the system tags', async () => {
    const p = provider();
    const obs = await p.create(server('web-01'), ctx('web-01'));
    const resized = await p.update(obs, { plan: '2xCPU-4GB' });
    assert.deepEqual([resized.plan, resized.cores, resized.memory_mb, resized.status], ['2xCPU-4GB', 2, 4096, 'running']);
    assert.deepEqual(api.requests.filter((r) => /\/(stop|start)$/.test(r.path) || r.method === 'PUT').map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/, 'ID')}`),
      ['POST /server/ID/stop', 'PUT /server/ID', 'POST /server/ID/start']);
    api.requests.length = 0;
    const relabelled = await p.update(obs, { labels: { tier: 'api' } });
    assert.equal(relabelled.tags.tier, 'api');
    assert.equal(relabelled.tags['provisioning.io/id'], 'server:shop/web-01');
    assert.equal(relabelled.image, 'ubuntu-24.04');
    assert.equal(api.requestsTo('POST', /\/stop$/).length, 0, 'labels need no stop');
  });

  it('deletes with its storage, or keeps the storage', async () => {
    const p = provider();
    const a = await p.create(server('web-01'), ctx('web-01'));
    const b = await p.create(server('web-02'), ctx('web-02'));
    const bDisks = [...api.storages.values()].filter((s) => s.server === b.provider_id).map((s) => s.uuid);
    assert.equal(bDisks.length, 1);
    await p.delete(a, { keep_storage: false });
    await p.delete(b, { keep_storage: true });
    assert.equal(api.servers.size, 0);
    assert.equal([...api.storages.values()].filter((s) => s.title === 'web-01-root').length, 0, 'storage deleted with the server');
    assert.ok(bDisks.every((id) => api.storages.has(id) && !api.storages.get(id)!.server), 'storage kept, detached');
    assert.ok(api.requestsTo('DELETE', /\?storages=1$/).length === 1);
    // deleting again is not an error: the server is gone already
    await p.delete(a, { keep_storage: false });
    assert.equal(await p.find({ provider_id: a.provider_id, tags: {} }), null);
  });

  it('adopts a server a crashed run created instead of creating a second one', async () => {
    const tags = ctx('web-01').tags;
    const seeded = api.seed({
      hostname: 'web-01', state: 'maintenance', pending: { state: 'started', polls: 2 },
      labels: { label: Object.entries(tags).map(([k, v]) => ({ key: k.replace('provisioning.io/', 'provisioning_'), value: v })) },
    });
    const obs = await provider().create(server('web-01'), ctx('web-01'));
    assert.equal(obs.provider_id, seeded.uuid);
    assert.equal(obs.status, 'running');
    assert.equal(api.servers.size, 1);
    assert.equal(api.requestsTo('POST', /^\/server$/).length, 0, 'no second create');
  });

  it('retries 429 (Retry-After) and 503, then succeeds', async () => {
    api.fault({ method: 'GET', path: /^\/server$/, status: 429, retryAfter: '1' });
    api.fault({ method: 'GET', path: /^\/server$/, status: 503 });
    const t0 = Date.now();
    assert.deepEqual(await provider().list({}), []);
    assert.ok(Date.now() - t0 >= 900, 'waited for Retry-After');
    assert.equal(api.requestsTo('GET', /^\/server$/).length, 3);
  });

  it('a create answered with a 5xx after UpCloud made the server is not repeated: the retry finds it by its tags', async () => {
    api.fault({ method: 'POST', path: /^\/server$/, status: 500, code: 'INTERNAL_ERROR', afterApplying: true });
    const obs = await provider().create(server('web-01'), ctx('web-01'));
    assert.equal(api.servers.size, 1);
    assert.equal(api.requestsTo('POST', /^\/server$/).length, 1, 'no second POST');
    assert.equal(obs.provider_id, [...api.servers.keys()][0]);
    assert.equal(obs.status, 'running');
  });

  it('a create answered with 503 before anything was made is retried', async () => {
    api.fault({ method: 'POST', path: /^\/server$/, status: 503 });
    await provider().create(server('web-01'), ctx('web-01'));
    assert.equal(api.servers.size, 1);
    assert.equal(api.requestsTo('POST', /^\/server$/).length, 2);
  });

  it('gives up after the bounded attempts with the provider code', async () => {
    api.fault({ method: 'GET', path: /^\/server$/, status: 503, times: 10 });
    await assert.rejects(provider().list({}), (e: ProvError) => {
      assert.equal(e.code, 'UNAVAILABLE');
      assert.match(e.message, /GET \/server failed \(after 4 attempts\): SERVICE_UNAVAILABLE: Injected fault\./);
      return true;
    });
    assert.equal(api.requestsTo('GET', /^\/server$/).length, 4);
  });

  it('a permanent 4xx surfaces once, with the code and message of UpCloud', async () => {
    await assert.rejects(provider().create(server('web-01', { zone: 'xx-nope1' }), ctx('web-01')), (e: ProvError) => {
      assert.equal(e.code, 'PROVIDER_ERROR');
      assert.equal(e.exitCode, 1);
      assert.match(e.message, /POST \/server failed: ZONE_INVALID: The zone xx-nope1 is not valid\./);
      assert.ok(e.hint);
      assert.equal(e.details.provider_code, 'ZONE_INVALID');
      return true;
    });
    assert.equal(api.requestsTo('POST', /^\/server$/).length, 1, 'a 4xx is not retried');
  });

  it('wrong credentials: AUTH_REQUIRED with a hint, and no secret in the error', async () => {
    const wrong = 'Wr0ng-but-secret-pw';
    await assert.rejects(provider({ password: wrong }).list({}), (e: ProvError) => {
      assert.equal(e.code, 'AUTH_REQUIRED');
      assert.equal(e.exitCode, 4);
      assert.match(e.message, /AUTHENTICATION_FAILED/);
      assert.match(e.hint!, /providers\.upcloud\.username/);
      assert.ok(!everything(e).includes(wrong));
      assert.ok(!inspect(e, { depth: 10 }).includes(wrong));
      return true;
    });
  });

  it('missing credentials are found before any request; the message names the key and the variables', async () => {
    const p = new UpCloudProvider({ manifest, config: { api_url: api.url, username: 'api-user' }, env: {}, ...FAST });
    for (const call of [() => p.create(server('web-01'), ctx('web-01')), () => p.list({}), () => p.find({ tags: { a: 'b' } }), () => p.delete({ provider_id: 'x' }, { keep_storage: false })]) {
      await assert.rejects(call(), (e: ProvError) => {
        assert.equal(e.code, 'AUTH_REQUIRED');
        assert.match(e.message, /providers\.upcloud\.password/);
        assert.match(e.message, /PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD/);
        assert.match(e.message, /UPCLOUD_PASSWORD/);
        assert.doesNotMatch(e.message, /username/);
        return true;
      });
    }
    assert.equal(api.requests.length, 0, 'the double saw no request');
  });

  it('credentials come from the environment: ours first, then UPCLOUD_*', async () => {
    const viaEnv = new UpCloudProvider({ manifest, config: { api_url: api.url }, env: { PROVISIONING_PROVIDERS__UPCLOUD__USERNAME: api.username, UPCLOUD_PASSWORD: api.password }, ...FAST });
    assert.deepEqual(await viaEnv.list({}), []);
    assert.ok(api.requests.every((r) => r.authorized));
  });

  it('credentials never appear in thrown objects, even when the API echoes them', async () => {
    api.fault({ method: 'GET', path: /^\/server$/, status: 400, code: 'INVALID_REQUEST', message: `bad request from ${api.username}:${api.password}` });
    await assert.rejects(provider().list({}), (e: ProvError) => {
      const all = everything(e) + inspect(e, { depth: 10 });
      assert.ok(!all.includes(api.password), 'password scrubbed');
      assert.match(e.message, /<redacted>/);
      return true;
    });
  });

  it('a 404 from find by id falls back to the tags, and to null', async () => {
    api.fault({ method: 'GET', path: /^\/server\/gone$/, status: 404, code: 'SERVER_NOT_FOUND', message: 'The server gone does not exist.' });
    assert.equal(await provider().find({ provider_id: 'gone', tags: systemTags('acme', 'shop', 'x') }), null);
  });

  it('times out waiting for a state with WAIT_TIMEOUT', async () => {
    api.transitionPolls = 1_000_000;
    await assert.rejects(provider({ timeout: 0.05 }).create(server('web-01'), ctx('web-01')), (e: ProvError) => {
      assert.equal(e.code, 'WAIT_TIMEOUT');
      assert.equal(e.exitCode, 8);
      assert.match(e.message, /'maintenance', not 'started'/);
      assert.match(e.hint!, /providers\.upcloud\.timeout/);
      return true;
    });
  });

  it('catalog: from the API with credentials, the manifest offline', async () => {
    const online = await provider().catalog();
    assert.deepEqual(online.zones, ['de-fra1', 'fi-hel1', 'nl-ams1']);
    assert.deepEqual(online.plans[1], { name: '1xCPU-2GB', cores: 1, memory_mb: 2048, disk_gb: 50 });
    api.requests.length = 0;
    const offline = await new UpCloudProvider({ manifest, config: { api_url: api.url }, env: {} }).catalog();
    assert.ok(offline.zones.includes('uk-lon1'));
    assert.deepEqual(offline.plans.find((p) => p.name === '2xCPU-4GB'), { name: '2xCPU-4GB', cores: 2, memory_mb: 4096, disk_gb: 80 });
    assert.equal(api.requests.length, 0);
  });

  it('validate is offline: unknown zone is an error with a suggestion, unknown plan a warning', async () => {
    const p = new UpCloudProvider({ manifest, config: {}, env: {} });
    const issues = await p.validate({}, [
      server('a', { zone: 'de-fra2' }), server('b', { plan: '1xCPU-3GB' }), server('c', { zone: 'fi-hel1', plan: '1xCPU-2GB', labels: { tier: 'web' } }),
      server('d', { labels: { 'app.example/tier': 'web' } }),
    ]);
    assert.deepEqual(issues.map((i) => [i.severity, i.path]), [['error', 'servers.a.zone'], ['warning', 'servers.b.plan'], ['error', 'servers.d.labels.app.example/tier']]);
    assert.match(issues[0]!.hint!, /did you mean 'de-fra1'/);
  });

  it('price comes from the manifest pricing table', () => {
    const p = new UpCloudProvider({ manifest, config: {}, env: {} });
    assert.deepEqual(p.price(server('a', { plan: '2xCPU-4GB' })), { hourly: 0.0387, monthly: 26, currency: 'EUR' });
    assert.equal(p.price(server('a', { cores: 3, memory_mb: 3072 })), undefined);
  });

  it('providerFor returns the core implementations and refuses unknown names', async () => {
    const p: Provider = await providerFor('upcloud', { manifest, config: {}, env: {} });
    assert.equal(p.name, 'upcloud');
    await assert.rejects(providerFor('upclod', { manifest, config: {}, env: {} }), (e: ProvError) => {
      assert.equal(e.code, 'NOT_FOUND');
      assert.match(e.hint!, /did you mean 'upcloud'/);
      return true;
    });
    const ext = { ...manifest, extension: { ...manifest.extension, name: 'hetzner' } };
    await assert.rejects(providerFor('hetzner', { manifest: ext, config: {}, env: {} }), (e: ProvError) => {
      assert.equal(e.code, 'NOT_IMPLEMENTED');
      assert.match(e.message, /provider 'hetzner' has a manifest but no code in this build; .*'index\.js'/);
      return true;
    });
  });
});
