/**
 * `GET /metrics` (Prometheus text 0.0.4, spec/api.md §3.1). Counts of workflows, tasks and
 * rollbacks are read from the store at scrape time, so they cover every instance sharing it;
 * HTTP and WebSocket series are this process's own.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { WorkflowStore } from '../store/workflows.js';
import type { Status, WorkflowKind } from '../workflow/types.js';
import { OPERATION_TYPES } from '../model/schema.js';

const STATUSES: Status[] = ['pending', 'queued', 'running', 'cancelling', 'completed', 'failed', 'cancelled', 'skipped', 'rolling_back', 'rolled_back', 'rollback_failed'];
const KINDS: WorkflowKind[] = ['server', 'taskserv', 'cluster', 'batch', 'custom'];
export const LIVE: Status[] = ['pending', 'queued', 'running', 'cancelling', 'rolling_back'];
const none = { limit: 0, offset: 0 };

export interface Metrics {
  registry: Registry;
  http: { requests: Counter<'route' | 'method' | 'code'>; duration: Histogram<'route' | 'method'> };
  wsConnections: Gauge;
  taskDuration: Histogram<'kind' | 'status'>;
}

export function createMetrics(store: WorkflowStore): Metrics {
  const registry = new Registry();
  const registers = [registry];
  new Gauge({
    name: 'provisioning_workflows_total', help: 'Workflows in the store by kind and status', labelNames: ['kind', 'status'], registers,
    async collect() {
      this.reset();
      for (const kind of KINDS) for (const status of STATUSES) {
        const { total } = await store.listWorkflows({ kind: [kind], status: [status] }, none);
        if (total) this.set({ kind, status }, total);
      }
    },
  });
  new Gauge({ name: 'provisioning_workflows_active', help: 'Workflows not yet final', registers, async collect() { this.set((await store.listWorkflows({ status: LIVE }, none)).total); } });
  new Gauge({
    name: 'provisioning_tasks_total', help: 'Tasks (current attempts of operations) by kind and status', labelNames: ['kind', 'status'], registers,
    async collect() {
      this.reset();
      for (const type of OPERATION_TYPES) for (const status of STATUSES) {
        const kind = type.replace('_', '.');
        const { total } = await store.listTasks({ kind: [kind], status: [status] }, none);
        if (total) this.set({ kind, status }, total);
      }
    },
  });
  new Gauge({ name: 'provisioning_queue_depth', help: 'Tasks queued for a worker slot', registers, async collect() { this.set((await store.listTasks({ status: ['queued'] }, none)).total); } });
  new Gauge({ name: 'provisioning_workers_busy', help: 'Running tasks over every engine instance', registers, async collect() { this.set((await store.workers()).reduce((n, w) => n + w.running_tasks, 0)); } });
  new Gauge({
    name: 'provisioning_rollbacks_total', help: 'Rollbacks by status', labelNames: ['status'], registers,
    async collect() { for (const status of ['queued', 'running', 'completed', 'failed']) this.set({ status }, (await store.rollbacks({ status: [status] }, none)).total); },
  });
  // SSH temporary keys are not served yet (spec/api.md §3.8)
  new Gauge({ name: 'provisioning_ssh_keys_active', help: 'Active SSH temporary keys', registers });
  return {
    registry,
    http: {
      requests: new Counter({ name: 'provisioning_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'code'], registers }),
      duration: new Histogram({ name: 'provisioning_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['route', 'method'], registers }),
    },
    wsConnections: new Gauge({ name: 'provisioning_ws_connections', help: 'Open WebSocket connections', registers }),
    taskDuration: new Histogram({ name: 'provisioning_task_duration_seconds', help: 'Duration of tasks that ended, seen by this instance', labelNames: ['kind', 'status'], registers,
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600] }),
  };
}
