/**
 * Bad input to the server commands, none of which may change anything: missing provider
 * credentials, a held lock, bad flag values, servers that do not exist. No engine needed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCli, tempHome } from '../fixtures/cli.js';

describe('server commands: bad input changes nothing', () => {
  const home = tempHome();
  const ws = join(home, 'errs');
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { home, cwd: ws, env });

  before(async () => {
    const r = await runCli(['workspace', 'init', 'errs', ws, '--template', 'local'], { home });
    assert.equal(r.code, 0, r.stderr);
    mkdirSync(join(ws, 'infra', 'cloud'), { recursive: true });
    writeFileSync(join(ws, 'infra', 'cloud', 'settings.toml'), 'provider = "upcloud"\n[[servers]]\nhostname = "app-01"\nplan = "2xCPU-4GB"\nzone = "fi-hel1"\n');
    mkdirSync(join(ws, 'infra', 'ec2'), { recursive: true });
    writeFileSync(join(ws, 'infra', 'ec2', 'settings.toml'), 'provider = "aws"\n[[servers]]\nhostname = "api-01"\nplan = "t3.micro"\nzone = "eu-west-1"\n');
  });

  it('missing UpCloud credentials: exit 4 naming the config keys and the environment variables, nothing recorded', async () => {
    const r = await cli(['server', 'create', '--infra', 'cloud', '--yes']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /upcloud credentials missing/);
    assert.match(r.stderr, /providers\.upcloud\.username/);
    assert.match(r.stderr, /UPCLOUD_USERNAME|PROVISIONING_PROVIDERS__UPCLOUD__USERNAME/);
    const list = await cli(['server', 'list', '--infra', 'cloud', '--out', 'json']);
    assert.deepEqual((list.json() as { status: string }[]).map((x) => x.status), ['not created']);
  });

  it('missing AWS credentials: exit 4 naming what to set', async () => {
    const r = await cli(['server', 'create', '--infra', 'ec2', '--yes'], { AWS_EC2_METADATA_DISABLED: 'true' });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /aws credentials missing|providers\.aws\.access_key_id/i);
  });

  it('a held infra lock: exit 6 naming the holder; --lock-timeout waits, then gives up', async () => {
    const l = await cli(['workspace', 'lock', '--infra', 'local', '--reason', 'maintenance']);
    assert.equal(l.code, 0, l.stderr);
    try {
      const r = await cli(['server', 'create', '--infra', 'local', '--yes'], { PROVISIONING_PROVIDERS__LOCAL__SOCKET: 'unix:///nonexistent.sock' });
      assert.equal(r.code, 6, r.stderr);
      assert.match(r.stderr, /infra errs\/local is locked by .*manual lock.*maintenance/);
      const w = await cli(['server', 'create', '--infra', 'local', '--yes', '--lock-timeout', '1s'], { PROVISIONING_PROVIDERS__LOCAL__SOCKET: 'unix:///nonexistent.sock' });
      assert.equal(w.code, 6, w.stderr);
      assert.match(w.stderr, /waiting for the lock of infra local/);
    } finally {
      await cli(['workspace', 'unlock', '--infra', 'local', '--force']);
    }
  });

  it('bad flag values are usage errors (exit 2)', async () => {
    const p = await cli(['server', 'create', '--infra', 'local', '--yes', '--parallel', '0']);
    assert.equal(p.code, 2, p.stderr);
    assert.match(p.stderr, /--parallel expects a whole number from 1 to 100; got '0'/);
    const t = await cli(['server', 'create', '--infra', 'local', '--yes', '--lock-timeout', 'soon']);
    assert.equal(t.code, 2, t.stderr);
    assert.match(t.stderr, /--lock-timeout expects a duration/);
  });

  it('ssh/status of servers that are not created or not defined: exit 5 with what to do', async () => {
    const a = await cli(['server', 'ssh', 'web-01', '--', 'true']);
    assert.equal(a.code, 5, a.stderr);
    assert.match(a.stderr, /server 'web-01' is defined but not created[\s\S]*server create/);
    const b = await cli(['server', 'status', 'web-02']);
    assert.equal(b.code, 5, b.stderr);
    assert.match(b.stderr, /server 'web-02' is not defined in infra 'local'[\s\S]*web-01/);
    const c = await cli(['server', 'create', 'web-1', '--yes']);
    assert.equal(c.code, 5, c.stderr);
    assert.match(c.stderr, /did you mean 'web-01'/);
  });
});
