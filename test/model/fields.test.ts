import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateFields, fieldDefaults, normalizeFieldValues, secretFieldPaths, type FieldTable } from '../../src/model/fields.js';
import { validateManifest } from '../../src/model/validate.js';

const table: FieldTable = {
  port: { type: 'integer', default: 6379, min: 1024, max: 65535 },
  ratio: { type: 'number', min: 0, max: 1 },
  mode: { type: 'string', enum: ['standalone', 'cluster'], default: 'standalone' },
  user: { type: 'string', min_length: 2, max_length: 8, pattern: '[a-z]+' },
  password: { type: 'secret', required: true },
  maxmemory: { type: 'size', default: '256MiB', min: '64MiB', max: '4GiB' },
  timeout: { type: 'duration', default: '30s', max: '5m' },
  tls: { type: 'boolean' },
  peers: { type: 'array', items: { type: 'string', pattern: '[a-z0-9.-]+' }, min_items: 1, max_items: 3 },
  tuning: { type: 'table', fields: { workers: { type: 'integer', min: 1 }, inner: { type: 'table', fields: { depth: { type: 'integer', default: 2 } } } } },
  extra: { type: 'table' },
  anything: { type: 'any' },
  old_port: { type: 'integer', deprecated: 'use `port`' },
};
const PW = '{{kms.decrypt("shop/redis")}}';
const codes = (r: ReturnType<typeof validateFields>) => r.errors.map((e) => [e.code, e.path]);

test('field schemas: valid settings pass; free-form tables and any accept anything', () => {
  const r = validateFields(table, {
    port: 6380, ratio: 0.5, mode: 'cluster', user: 'app', password: PW, maxmemory: '1GiB', timeout: 60, tls: true,
    peers: ['a.example'], tuning: { workers: 4, inner: { depth: 3 } }, extra: { whatever: [1, { x: 2 }] }, anything: [null],
  });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(validateFields(table, { password: 'ENC[AES256,abc]' }).errors, []);
});

test('field schemas: every kind of violation with its code and path', () => {
  const r = validateFields(table, {
    port: 80, ratio: '1', mode: 'sentinel', user: 'ABCDEFGHIJ', maxmemory: '8GiB', timeout: 'soon', tls: 'yes',
    peers: [], tuning: { workers: 0, inner: { deepth: 1 } }, unknown_field: 1,
  }, { path: ['servers', 0, 'taskservs', 1, 'settings'] });
  const p = 'servers[0].taskservs[1].settings';
  assert.deepEqual(codes(r), [
    ['DEF_RANGE', `${p}.port`], ['DEF_TYPE', `${p}.ratio`], ['DEF_ENUM', `${p}.mode`],
    ['DEF_RANGE', `${p}.user`], ['DEF_PATTERN', `${p}.user`], ['DEF_RANGE', `${p}.maxmemory`], ['DEF_TYPE', `${p}.timeout`],
    ['DEF_TYPE', `${p}.tls`], ['DEF_RANGE', `${p}.peers`], ['DEF_RANGE', `${p}.tuning.workers`], ['DEF_UNKNOWN_KEY', `${p}.tuning.inner.deepth`],
    ['DEF_UNKNOWN_KEY', `${p}.unknown_field`], ['DEF_REQUIRED', `${p}.password`],
  ]);
  assert.equal(r.errors.find((e) => e.path === `${p}.port`)!.message, `${p}.port: expected a value between 1024 and 65535, got 80`);
  assert.equal(r.errors.find((e) => e.path === `${p}.maxmemory`)!.expected, 'a value between 64MiB and 4GiB');
  assert.equal(r.errors.find((e) => e.path === `${p}.tuning.inner.deepth`)!.hint, 'did you mean `depth`?');
});

test('field schemas: secrets must be references; non-secret fields may not hold one', () => {
  const r = validateFields(table, { password: 'hunter2', user: '{{kms.decrypt("x")}}' });
  assert.deepEqual(codes(r), [['DEF_TYPE', 'password'], ['DEF_TYPE', 'user']]);
  assert.ok(!JSON.stringify(r.errors).includes('hunter2'), 'the plaintext is never echoed');
  assert.deepEqual(validateFields(table, { password: 'hunter2' }, { plaintextSecrets: true }).errors, []);
});

test('field schemas: deprecated fields are warnings', () => {
  const r = validateFields(table, { password: PW, old_port: 1 });
  assert.deepEqual(r.errors, []);
  assert.equal(r.warnings[0]!.code, 'DEF_DEPRECATED');
  assert.equal(r.warnings[0]!.message, 'old_port is deprecated: use `port`');
});

test('field schemas: defaults, normalisation and secret paths', () => {
  assert.deepEqual(fieldDefaults(table), { port: 6379, mode: 'standalone', maxmemory: '256MiB', timeout: '30s', tuning: { inner: { depth: 2 } } });
  assert.deepEqual(normalizeFieldValues(table, { maxmemory: '1GiB', timeout: '1h30m', tuning: { workers: 2 }, port: 1 }), { maxmemory: 1024, timeout: 5400, tuning: { workers: 2 }, port: 1 });
  assert.deepEqual(secretFieldPaths(table, { password: PW, port: 1 }), ['password']);
});

test('field schemas themselves are validated: defaults must validate, patterns must compile', () => {
  const r = validateManifest({
    extension: { name: 'x', kind: 'taskserv', version: '1.0.0' },
    settings: {
      a: { type: 'integer', default: 'many' }, b: { type: 'string', pattern: '([a-z' }, c: { type: 'string', items: { type: 'string' } },
      d: { type: 'size', min: 'big' }, e: { type: 'table', fields: { Bad: { type: 'string' } } }, f: { type: 'string', reqired: true },
    },
  });
  assert.deepEqual(r.errors.map((e) => [e.code, e.path]), [
    ['DEF_TYPE', 'settings.a.default'], ['DEF_PATTERN', 'settings.b.pattern'], ['DEF_CONFLICT', 'settings.c.items'],
    ['DEF_TYPE', 'settings.d.min'], ['DEF_PATTERN', 'settings.e.fields.Bad'], ['DEF_UNKNOWN_KEY', 'settings.f.reqired'],
  ]);
});
