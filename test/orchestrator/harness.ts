/**
 * A real orchestrator for tests: a fresh workspace made by the CLI (`--template local`, infra
 * `local` with web-01 and db-01), its SQLite store, HTTP on 127.0.0.1 with a free port.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { createOrchestrator, type Orchestrator } from '../../src/orchestrator/server.js';
import type { WsOptions } from '../../src/orchestrator/ws.js';
import { ROOT, runCli, tempHome } from '../fixtures/cli.js';

export interface Reply { status: number; headers: Headers; body: any } // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Harness {
  orch: Orchestrator;
  url: string;
  home: string;
  wsPath: string;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  /** how many workflows the store holds */
  workflows(): Promise<number>;
  close(): Promise<void>;
}

export async function startHarness(o: { ws?: WsOptions } = {}): Promise<Harness> {
  const home = tempHome('prov-orch-');
  const wsPath = join(home, 'ws');
  const init = await runCli(['workspace', 'init', 'demo', wsPath, '--template', 'local', '--no-activate'], { home });
  assert.equal(init.code, 0, init.stderr);
  const env = { PATH: process.env.PATH ?? '', HOME: home, PROVISIONING_HOME: home };
  const cfg = await loadConfig({ cwd: wsPath, env, select: { workspace: wsPath }, cli: { set: [], flags: [] }, requireWorkspace: true });
  const orch = await createOrchestrator({ cfg, workspacePath: wsPath, env, pollMs: 20, ...(o.ws ? { ws: o.ws } : {}) });
  const url = await orch.listen({ port: 0 });
  return {
    orch, url, home, wsPath,
    async api(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers } };
      if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
      const r = await fetch(`${url}${path}`, init);
      const text = await r.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* metrics are text */ }
      return { status: r.status, headers: r.headers, body: parsed };
    },
    workflows: async () => (await orch.store.listWorkflows({}, { limit: 0, offset: 0 })).total,
    async close() {
      await orch.close(0);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A local script operation; explicit timeout and retries so config defaults play no part. */
export const script = (id: string, run: string, extra: Record<string, unknown> = {}) => {
  const { undo, ...rest } = extra;
  return { id, type: 'script', target: { run, ...(undo ? { undo } : {}) }, retries: 0, timeout: '120s', ...rest };
};

/** Poll `fn` until it returns a value; fail with `what` (and the last value) after `ms`. */
export async function until<T>(fn: () => Promise<T | undefined | false>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await fn();
    if (v) return v;
    last = v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const fileExists = (p: string) => Promise.resolve(existsSync(p));

export interface MainProcess { child: ChildProcess; out: { stdout: string; stderr: string }; exited: Promise<number | null> }

/** The orchestrator process (dist/src/orchestrator/main.js) with `args`, its output collected. */
export function spawnMain(args: string[], env: Record<string, string>): MainProcess {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'orchestrator', 'main.js'), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (b: Buffer) => { out.stdout += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { out.stderr += b.toString(); });
  return { child, out, exited: new Promise((res) => child.on('exit', (code) => res(code))) };
}

/** Its URL once it printed the ready line (matching `re`), or a failure with its output if it exited first. */
export async function listening(p: MainProcess, re = /orchestrator listening on (http:\/\/\S+)/): Promise<RegExpExecArray> {
  return until(async () => re.exec(p.out.stdout) ?? (p.child.exitCode !== null ? assert.fail(`${p.out.stdout}\n${p.out.stderr}`) : undefined), 'the ready line');
}
