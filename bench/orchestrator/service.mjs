// bench/orchestrator: the orchestrator service in a process of its own (so the bench's clients do not
// share its event loop). node service.mjs <workspace> [postgres url]; prints "listening <url>", stops on SIGTERM.
import { loadConfig } from '../../dist/src/config/index.js';
import { createOrchestrator } from '../../dist/src/orchestrator/server.js';
import { PostgresWorkflowStore } from '../../dist/src/store/postgres/workflows.js';

const [ws, pgUrl] = process.argv.slice(2);
const cfg = await loadConfig({ cwd: ws, env: process.env, select: {}, cli: { set: [], flags: [] }, requireWorkspace: true });
// SQLite: the store the configuration names (the workspace's state.db)
const store = pgUrl ? await PostgresWorkflowStore.open(pgUrl) : undefined;
const orch = await createOrchestrator({ cfg, workspacePath: ws, env: process.env, ...(store ? { store } : {}) });
console.log(`listening ${await orch.listen({ host: '127.0.0.1', port: 0 })}`);
process.once('SIGTERM', async () => {
  await orch.close();
  await store?.close();
  process.exit(0);
});
