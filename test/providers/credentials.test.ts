import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import type { ProvError } from '../../src/errors/index.js';
import { readCredentials } from '../../src/providers/credentials.js';

const KEYS = [{ key: 'username', env: ['UPCLOUD_USERNAME'] }, { key: 'password', env: ['UPCLOUD_PASSWORD'] }];

describe('provider credentials', () => {
  it('config wins over PROVISIONING_ variables, which win over the provider\'s own', () => {
    const env = { PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD: 'from-ours', UPCLOUD_PASSWORD: 'from-theirs', UPCLOUD_USERNAME: 'u-env' };
    const c = readCredentials('upcloud', { password: 'from-config' }, env, KEYS);
    assert.equal(c.get('password'), 'from-config');
    assert.equal(c.get('username'), 'u-env');
    assert.equal(readCredentials('upcloud', { password: '' }, env, KEYS).get('password'), 'from-ours', '"" in config counts as unset');
    assert.equal(readCredentials('upcloud', {}, { ...env, PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD: '' }, KEYS).get('password'), 'from-theirs');
  });

  it('every missing key is named with its config key and variables', () => {
    assert.throws(() => readCredentials('upcloud', {}, {}, KEYS), (e: ProvError) => {
      assert.equal(e.code, 'AUTH_REQUIRED');
      assert.equal(e.exitCode, 4);
      assert.equal(e.message, 'upcloud credentials missing: providers.upcloud.username (or PROVISIONING_PROVIDERS__UPCLOUD__USERNAME / UPCLOUD_USERNAME), '
        + 'providers.upcloud.password (or PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD / UPCLOUD_PASSWORD)');
      assert.match(e.hint!, /config set providers\.upcloud\.username/);
      assert.deepEqual(e.details.missing, ['providers.upcloud.username', 'providers.upcloud.password']);
      return true;
    });
  });

  it('an encrypted (non-string) value is refused without showing it', () => {
    assert.throws(() => readCredentials('upcloud', { username: 'u', password: { ciphertext: 'AGE-XYZ' } }, {}, KEYS), (e: ProvError) => {
      assert.equal(e.code, 'CONFIG_INVALID');
      assert.match(e.message, /providers\.upcloud\.password is not a plain string/);
      assert.doesNotMatch(JSON.stringify(e) + e.message, /AGE-XYZ/);
      return true;
    });
  });

  it('values never print: inspect, JSON and scrub redact them', () => {
    const c = readCredentials('upcloud', { username: 'api-user', password: 'Sup3r-secret' }, {}, KEYS);
    assert.doesNotMatch(inspect(c, { depth: 5, showHidden: true }), /Sup3r-secret|api-user/);
    assert.equal(JSON.stringify({ c }), '{"c":"<redacted>"}');
    assert.equal(c.scrub('auth api-user:Sup3r-secret failed'), 'auth <redacted>:<redacted> failed');
  });
});
