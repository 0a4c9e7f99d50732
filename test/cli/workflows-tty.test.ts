/**
 * The live display of a direct run on a terminal (cli.md §6.3): one row per running operation and
 * an overall bar with counts, redrawn in place. A pseudo-terminal comes from util-linux `script`,
 * sized with stty (log-update fits its frame to the terminal's height).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ROOT, runCli, tempHome } from '../fixtures/cli.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

describe('batch submit on a terminal', () => {
  const home = tempHome();
  const ws = join(home, 'tty');
  before(async () => {
    assert.equal((await runCli(['workspace', 'init', 'tty', ws], { home })).code, 0);
    writeFileSync(join(ws, 'workflows', 'slow.toml'), [
      'name = "slow"', 'parallel_limit = 2',
      '[[operations]]', 'id = "first"', 'type = "script"', 'target = { run = "sleep 0.8" }',
      '[[operations]]', 'id = "second"', 'type = "script"', 'target = { run = "sleep 1" }',
      '[[operations]]', 'id = "third"', 'type = "script"', 'dependencies = ["first"]', 'target = { run = "sleep 0.3" }',
    ].join('\n') + '\n');
  });

  it('draws a row per running operation and an overall bar, then the summary', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
    const cmd = `stty rows 40 cols 120; exec ${process.execPath} ${join(ROOT, 'bin', 'provisioning.js')} batch submit workflows/slow.toml`;
    const p = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ws, env: { PATH: process.env.PATH ?? '', HOME: home, PROVISIONING_HOME: home, PROVISIONING_ORCHESTRATOR__URL: 'http://127.0.0.1:1', TERM: 'xterm' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    const code = await new Promise<number | null>((res) => p.on('exit', res));
    assert.equal(code, 0, out);
    // eslint-disable-next-line no-control-regex
    const text = out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    assert.match(text, /first\s+\d+\.\d+s\s+script/, 'a row for a running operation');
    assert.match(text, /second\s+\d+\.\d+s\s+script/);
    assert.match(text, /\d+%\s+\d\/3 operations · running · \d+\.\ds/, 'the overall bar with counts');
    assert.match(text, /workflow slow \(wf_\w+\) completed/, 'the summary');
  });
});
