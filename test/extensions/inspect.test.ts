import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCatalog } from '../../src/extensions/catalog.js';
import { checkCluster, checkProviderConfig, envVarOf, parseRef, taskservOrder, templateSyntaxProblem } from '../../src/extensions/inspect.js';
import type { ProvError } from '../../src/errors/index.js';
import type { ClusterManifest, ProviderManifest } from '../../src/model/index.js';

/** The decisions behind the extension commands, on the shipped (core) catalog. */

const catalog = loadCatalog();

describe('extension references', () => {
  it('parses <kind>/<name>, plural kinds and the two-word form', () => {
    assert.deepEqual(parseRef('taskserv/redis'), { kind: 'taskserv', name: 'redis' });
    assert.deepEqual(parseRef('providers/aws'), { kind: 'provider', name: 'aws' });
    assert.deepEqual(parseRef('cluster', 'web-stack'), { kind: 'cluster', name: 'web-stack' });
    assert.throws(() => parseRef('redis'), (e: ProvError) => e.code === 'INVALID_ARGUMENT' && /<kind>\/<name>/.test(e.hint ?? ''));
    assert.throws(() => parseRef('clustr/x'), (e: ProvError) => e.code === 'INVALID_ARGUMENT' && e.hint === "did you mean 'cluster'?");
  });

  it('names the environment variable of a config key', () => {
    assert.equal(envVarOf('providers.upcloud.password'), 'PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD');
    assert.equal(envVarOf('providers.my-cloud.api_key'), 'PROVISIONING_PROVIDERS__MY_CLOUD__API_KEY');
  });
});

describe('provider config against the manifest', () => {
  const upcloud = catalog.get('provider', 'upcloud') as ProviderManifest;

  it('treats "" as unset and reports unset credentials with their variable', () => {
    const c = checkProviderConfig('upcloud', upcloud, { username: '', password: '', zone: 'de-fra1' });
    assert.deepEqual(c.missing, [{ key: 'providers.upcloud.password', env: 'PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD', reason: 'credential' }]);
    assert.deepEqual(c.errors, []);
    assert.deepEqual(c.set, ['zone']);
  });

  it('checks values with the field schema, unknown keys included', () => {
    const c = checkProviderConfig('upcloud', upcloud, { password: 'x', storage_tier: 'fast', zoen: 'x' });
    assert.deepEqual(c.errors.map((p) => `${p.code} ${p.path}`).sort(), ['DEF_ENUM providers.upcloud.storage_tier', 'DEF_UNKNOWN_KEY providers.upcloud.zoen']);
    assert.equal(c.errors.find((p) => p.code === 'DEF_UNKNOWN_KEY')!.hint, 'did you mean `zone`?');
  });
});

describe('taskserv install order', () => {
  it('puts kubernetes after containerd and etcd, saying why', () => {
    const o = taskservOrder(catalog, 'kubernetes');
    assert.deepEqual(o.order.map((t) => [t.name, t.reason]), [['containerd', 'required by kubernetes'], ['etcd', 'required by kubernetes'], ['kubernetes', 'declared']]);
    assert.deepEqual(o.issues, []);
  });

  it('a taskserv without requirements stands alone', () => {
    assert.deepEqual(taskservOrder(catalog, 'redis').order.map((t) => t.name), ['redis']);
  });
});

describe('cluster checks', () => {
  const base = catalog.get('cluster', 'web-stack') as ClusterManifest;
  const withComponents = (components: ClusterManifest['cluster']['components']): ClusterManifest => ({ ...base, cluster: { components } });

  it('orders the shipped clusters', () => {
    assert.deepEqual(checkCluster(base, catalog), { errors: [], order: ['db', 'app', 'lb'] });
  });

  it('finds cycles through after and through manifest requires', () => {
    const viaAfter = checkCluster(withComponents([
      { name: 'a', taskserv: 'nginx', placement: { all: true }, after: ['b'] },
      { name: 'b', taskserv: 'redis', placement: { all: true }, after: ['a'] },
    ]), catalog);
    assert.equal(viaAfter.order, undefined);
    assert.match(viaAfter.errors[0]!.message, /dependency cycle a → b → a/);
    const viaRequires = checkCluster(withComponents([
      { name: 'cp', taskserv: 'kubernetes', placement: { all: true } },
      { name: 'kv', taskserv: 'etcd', placement: { all: true }, after: ['cp'] },
    ]), catalog);
    assert.deepEqual(viaRequires.errors.map((e) => e.code), ['DEF_CYCLE']);
  });

  it('reports unknown taskservs, unmet ranges, unknown after and bad settings together', () => {
    const r = checkCluster(withComponents([
      { name: 'db', taskserv: 'postgress', placement: { all: true } },
      { name: 'web', taskserv: 'nginx', version: '^9', placement: { all: true }, after: ['dbb'], settings: { port: 'eighty' } },
    ]), catalog);
    assert.deepEqual(r.errors.map((e) => `${e.code} ${e.path}`), [
      'DEF_REFERENCE cluster.components[0].taskserv',
      'DEF_VERSION cluster.components[1].version',
      'DEF_TYPE cluster.components[1].settings.port',
      'DEF_REFERENCE cluster.components[1].after[0]',
    ]);
    assert.equal(r.errors[0]!.hint, "did you mean 'postgres'?");
    assert.equal(r.errors[3]!.hint, "did you mean 'db'?");
  });
});

describe('template syntax', () => {
  it('parses without rendering: undefined variables are fine, broken syntax is not', () => {
    assert.equal(templateSyntaxProblem('port {{ settings.port }} {% if x %}y{% endif %}', 't'), undefined);
    assert.equal(templateSyntaxProblem('{% for x in y %}', 't'), 'unexpected end of file');
    assert.match(templateSyntaxProblem('{{ a b }}', 't')!, /expected variable end/);
  });
});
