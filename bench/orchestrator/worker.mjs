// bench/orchestrator: an engine instance in a process of its own, for the kill -9 measurement.
//   node worker.mjs <state.db> <ms per operation> <capacity>
// Works on every workflow in the store, as the orchestrator service does, with a runner that sleeps;
// prints when its modules were loaded and when the engine runs ("imported <epoch ms> started <epoch ms>"), and stops on SIGTERM.
import { Engine } from '../../dist/src/engine/worker.js';
import { SqliteWorkflowStore } from '../../dist/src/store/sqlite/workflows.js';
import { noopRunner } from './lib.mjs';

const imported = Date.now();
const [file, ms, capacity] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const store = new SqliteWorkflowStore(file);
const engine = new Engine(store, noopRunner(ms), { capacity, leaseMs: 30_000, heartbeatMs: 5_000 });
await engine.start();
console.log(`imported ${imported} started ${Date.now()}`);
process.once('SIGTERM', async () => {
  await engine.stop();
  await store.close();
  process.exit(0);
});
