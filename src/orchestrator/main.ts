/**
 * The orchestrator process: `node dist/src/orchestrator/main.js --workspace <path> [--port n] [--host h]`.
 * Loads the workspace's config (PROVISIONING_* variables apply), opens the workflow store,
 * starts the engine and the HTTP service, and prints one line once it serves:
 *   orchestrator listening on http://127.0.0.1:9090 (store sqlite /path/state.db)
 * Then one JSON line per request and per engine log line on stdout (never tokens or bodies).
 * SIGTERM / SIGINT: stop accepting, give running tasks `orchestrator.shutdown_grace`, hand the
 * rest back to the store, close it, exit 0. The CLI's `orchestrator start|stop` rely on exactly
 * this: the argv, the ready line, SIGTERM = graceful.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import { parseDuration } from '../config/schema.js';
import { asProvError } from '../errors/index.js';
import { createOrchestrator } from './server.js';

const line = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { workspace: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } }, strict: true });
  if (!values.workspace) {
    process.stderr.write('usage: main.js --workspace <path> [--port n] [--host h]\n');
    return 2;
  }
  const ws = resolve(values.workspace);
  // --port 0 (any free port, for tests) is outside the config key's range, so it bypasses config
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    process.stderr.write(`--port must be an integer 0–65535, got ${values.port}\n`);
    return 2;
  }
  const flags = values.host !== undefined ? [{ key: 'orchestrator.host', value: values.host, flag: '--host' }] : [];
  const cfg = await loadConfig({ cwd: ws, env: process.env, select: { workspace: ws }, cli: { set: [], flags }, requireWorkspace: true });
  const orch = await createOrchestrator({ cfg, workspacePath: ws, env: process.env, log: line });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      line({ ts: new Date().toISOString(), level: 'info', msg: `${signal}: shutting down` });
      await orch.close(parseDuration(cfg.get('orchestrator.shutdown_grace')) ?? 30_000);
      line({ ts: new Date().toISOString(), level: 'info', msg: 'stopped' });
      process.exit(0);
    })().catch((e: unknown) => {
      line({ ts: new Date().toISOString(), level: 'error', msg: `shutdown failed: ${asProvError(e).message}` });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const url = await orch.listen(port !== undefined ? { port } : {});
  process.stdout.write(`orchestrator listening on ${url} (store ${orch.store.kind} ${orch.store.location})\n`);
  return -1;
}

main(process.argv.slice(2)).then((code) => { if (code >= 0) process.exit(code); }, (e: unknown) => {
  const err = asProvError(e);
  const problems = Array.isArray(err.details.errors) ? (err.details.errors as { message: string }[]).map((p) => `  ${p.message}\n`).join('') : '';
  process.stderr.write(`error[${err.code}]: ${err.message}\n${problems}${err.hint ? `  hint: ${err.hint}\n` : ''}`);
  process.exit(err.exitCode);
});
