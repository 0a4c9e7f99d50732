import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { loadDesired, type DesiredState } from '../../src/infra/desired.js';
import { planCluster, planInfra, planServers, planTaskservs, serverId, taskservId, clusterId } from '../../src/plan/plan.js';
import type { ResourceState } from '../../src/store/types.js';
import { runCli, tempHome } from '../fixtures/cli.js';

/** A workspace with one TOML infra, loaded the way commands load it. */
async function desiredFrom(settingsToml: string): Promise<DesiredState> {
  const home = tempHome();
  const init = await runCli(['workspace', 'init', 'acme', join(home, 'acme'), '--template', 'minimal'], { home });
  assert.equal(init.code, 0, init.stderr);
  const ws = join(home, 'acme');
  mkdirSync(join(ws, 'infra', 'main'), { recursive: true });
  writeFileSync(join(ws, 'infra', 'main', 'settings.toml'), settingsToml);
  const env = { HOME: home, PROVISIONING_HOME: home };
  const cfg = await loadConfig({ cwd: ws, env, select: { infra: 'main' }, cli: { set: [], flags: [] }, requireWorkspace: true });
  return loadDesired(cfg, { env });
}

const INFRA = `
name = "main"
provider = "upcloud"
[[servers]]
hostname = "web-01"
plan = "1xCPU-2GB"
labels = { role = "web" }
taskservs = ["nginx", "node-exporter"]
[[servers]]
hostname = "db-01"
plan = "2xCPU-4GB"
protected = true
labels = { role = "db" }
taskservs = [{ name = "postgres", settings = { password = '{{kms.decrypt("main/pg")}}' } }]
[[servers]]
hostname = "k8s-01"
plan = "4xCPU-8GB"
labels = { role = "k8s" }
taskservs = ["kubernetes"]
[[clusters]]
name = "obs"
extension = "observability"
`;

function record(d: DesiredState, kind: ResourceState['kind'], name: string, extra: Partial<ResourceState> = {}): ResourceState {
  const now = '2026-01-01T00:00:00Z';
  const base = { kind, workspace: d.workspace.name, infra: d.infra, name, status: kind === 'server' ? 'running' : 'ready', tags: { 'provisioning.io/workspace': d.workspace.name }, generation: 1, created_at: now, updated_at: now };
  if (kind === 'server') {
    const s = d.servers.find((x) => x.hostname === name)!;
    return { ...base, id: serverId(d.infra, name), checksum: s.checksum, applied: JSON.parse(JSON.stringify(s)), provider: s.provider, ...extra };
  }
  const [host, ts] = name.split('/') as [string, string];
  const t = d.taskservs.get(host)!.find((x) => x.name === ts)!;
  return { ...base, id: taskservId(d.infra, host, ts), name: ts, parent: serverId(d.infra, host), checksum: t.checksum, applied: { name: ts, version: t.version, profile: t.profile, settings: t.settings }, ...extra };
}

describe('planner', () => {
  let d: DesiredState;
  before(async () => { d = await desiredFrom(INFRA); });

  it('plans every defined server for creation, with cost from the provider price table', () => {
    const p = planServers(d, [], { action: 'create' });
    assert.deepEqual(p.changes.map((c) => [c.action, c.name]), [['create', 'web-01'], ['create', 'db-01'], ['create', 'k8s-01']]);
    assert.deepEqual(p.summary, { create: 3, update: 0, replace: 0, delete: 0, noop: 0 });
    assert.equal(p.estimated_cost?.currency, 'EUR');
    assert.ok(p.estimated_cost!.monthly > 0);
    assert.equal(p.changes[0]!.details.plan, '1xCPU-2GB');
  });

  it('skips servers that exist and match (noop), and says when an existing one differs', () => {
    const web = record(d, 'server', 'web-01');
    const db = record(d, 'server', 'db-01', { checksum: 'sha256:old', applied: { ...record(d, 'server', 'db-01').applied, plan: '1xCPU-2GB' } });
    const p = planServers(d, [web, db], { action: 'create' });
    assert.deepEqual(p.changes.map((c) => [c.action, c.name]), [['noop', 'web-01'], ['noop', 'db-01'], ['create', 'k8s-01']]);
    assert.match(p.changes[1]!.reason, /field\(s\) differ: run `provisioning server update`/);
    assert.deepEqual(p.changes[1]!.diff?.plan, { from: '1xCPU-2GB', to: '2xCPU-4GB' });
  });

  it('updates in place what can change, and blocks a replace without --allow-replace', () => {
    const base = record(d, 'server', 'web-01');
    const resized = { ...base, checksum: 'sha256:x', applied: { ...base.applied, plan: '2xCPU-4GB' } };
    assert.equal(planServers(d, [resized], { action: 'update', names: ['web-01'] }).changes[0]!.action, 'update');
    const moved = { ...base, checksum: 'sha256:y', applied: { ...base.applied, zone: 'fi-hel1' } };
    const p = planServers(d, [moved], { action: 'update', names: ['web-01'] });
    assert.equal(p.changes[0]!.action, 'replace');
    assert.match(p.changes[0]!.blocked!, /--allow-replace/);
    assert.equal(planServers(d, [moved], { action: 'update', names: ['web-01'], allowReplace: true }).changes[0]!.blocked, undefined);
  });

  it('refuses to delete protected servers and servers with taskservs, unless forced', () => {
    const recs = [record(d, 'server', 'web-01'), record(d, 'server', 'db-01'), record(d, 'taskserv', 'web-01/nginx')];
    const p = planServers(d, recs, { action: 'delete' });
    const byName = new Map(p.changes.map((c) => [c.name, c]));
    assert.match(byName.get('db-01')!.blocked!, /protected/);
    assert.match(byName.get('web-01')!.blocked!, /taskservs still installed: nginx/);
    const forced = planServers(d, recs, { action: 'delete', force: true, keepStorage: true });
    assert.deepEqual(forced.changes.map((c) => [c.action, c.resource_type, c.name, c.blocked ?? '']), [
      ['delete', 'taskserv', 'nginx', ''], ['delete', 'server', 'web-01', ''], ['delete', 'server', 'db-01', '']]);
    assert.deepEqual(forced.changes[1]!.depends_on, [1]);
    assert.equal(forced.changes[1]!.details.volumes, 'kept');
  });

  it('installs requirements first, one step at a time per server, after the server exists', () => {
    const p = planTaskservs(d, [], { action: 'create', names: ['kubernetes'] });
    assert.deepEqual(p.changes.map((c) => `${c.action} ${c.resource_type} ${c.name}`), [
      'create server k8s-01', 'create taskserv containerd', 'create taskserv etcd', 'create taskserv kubernetes']);
    assert.deepEqual(p.changes.map((c) => c.depends_on), [[], [1], [2], [3]]);
    assert.equal(p.changes[1]!.reason, 'required by kubernetes');
  });

  it('re-applying an unchanged taskserv is a noop; changed settings are an update', () => {
    const installed = [record(d, 'server', 'web-01'), record(d, 'taskserv', 'web-01/nginx'), record(d, 'taskserv', 'web-01/node-exporter')];
    const same = planTaskservs(d, installed, { action: 'create', names: ['nginx'], servers: ['web-01'] });
    assert.deepEqual(same.changes.map((c) => c.action), ['noop']);
    const changed = [...installed.slice(0, 1), { ...installed[1]!, checksum: 'sha256:old', applied: { ...installed[1]!.applied, settings: { ...(installed[1]!.applied.settings as object), worker_processes: 9 } } }];
    const p = planTaskservs(d, changed, { action: 'create', names: ['nginx'] });
    assert.equal(p.changes[0]!.action, 'update');
    assert.match(p.changes[0]!.reason, /settings changed/);
  });

  it('keeps secrets out of plans', () => {
    const p = planTaskservs(d, [], { action: 'create', names: ['postgres'] });
    assert.doesNotMatch(JSON.stringify(p), /main\/pg/);
  });

  it('refuses to uninstall what another taskserv needs, unless forced', () => {
    const recs = [record(d, 'server', 'k8s-01'), record(d, 'taskserv', 'k8s-01/containerd'), record(d, 'taskserv', 'k8s-01/etcd'), record(d, 'taskserv', 'k8s-01/kubernetes')];
    const p = planTaskservs(d, recs, { action: 'delete', names: ['etcd'] });
    assert.match(p.changes[0]!.blocked!, /kubernetes on k8s-01 depends on it/);
    assert.equal(planTaskservs(d, recs, { action: 'delete', names: ['etcd'], force: true }).changes[0]!.blocked, undefined);
  });

  it('deploys a cluster component by component and records the cluster last', () => {
    const p = planCluster(d, [], { action: 'create', name: 'obs' });
    const last = p.changes[p.changes.length - 1]!;
    assert.equal(last.resource_type, 'cluster');
    assert.equal(last.id, clusterId('main', 'obs'));
    const exporters = p.changes.filter((c) => c.name === 'node-exporter');
    assert.equal(exporters.length, 3); // placement { all = true }
    assert.ok(exporters.every((c) => last.depends_on.includes(c.order)));
  });

  it('plans a whole infra: servers, then taskservs, then clusters', () => {
    const p = planInfra(d, [], { action: 'create' });
    const kinds = p.changes.map((c) => c.resource_type);
    assert.equal(kinds.indexOf('taskserv') > kinds.lastIndexOf('server') || p.changes.filter((c) => c.resource_type === 'server').length === 3, true);
    assert.equal(kinds[kinds.length - 1], 'cluster');
    assert.ok(p.estimated_duration_s! > 0);
  });

  it('names unknown servers, taskservs and clusters with a suggestion', () => {
    assert.throws(() => planServers(d, [], { action: 'create', names: ['web-1'] }), /server 'web-1' is not defined/);
    assert.throws(() => planTaskservs(d, [], { action: 'create', names: ['nginxx'] }), (e: Error & { hint?: string }) => /did you mean 'nginx'/.test(e.hint ?? ''));
    assert.throws(() => planCluster(d, [], { action: 'create', name: 'ob' }), /cluster 'ob' is not defined/);
  });
});
