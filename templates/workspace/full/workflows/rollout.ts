import { defineWorkflow } from 'provisioning';

// Create the servers of infra 'main', then install PostgreSQL and the web tier.
// Run it with `provisioning batch submit workflows/rollout.ts` (add --check first).
export default defineWorkflow({
  name: 'rollout',
  version: '1.0.0',
  infra: 'main',
  parallel_limit: 3,
  rollback_enabled: true,
  defaults: { retries: 2, timeout: '20m' },
  operations: [
    { id: 'db-server', type: 'server_create', target: 'db-01' },
    { id: 'web-servers', type: 'server_create', target: ['web-01', 'web-02'] },
    { id: 'postgres', type: 'taskserv_create', target: { taskserv: 'postgres', servers: ['db-01'] }, dependencies: ['db-server'] },
    { id: 'nginx', type: 'taskserv_create', target: 'nginx', dependencies: ['web-servers', 'postgres'] },
  ],
});
