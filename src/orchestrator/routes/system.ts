/** Health, readiness, version, Prometheus metrics and system state (spec/api.md §3.1, §3.7). */
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { statfsSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProvError } from '../../errors/index.js';
import { authorize } from '../auth.js';
import type { Ctx } from '../context.js';
import { LIVE } from '../metrics.js';
import { ok } from '../http.js';

const none = { limit: 0, offset: 0 };
const ALL = { limit: 1_000_000, offset: 0 };
const pct = (x: number) => Math.round(x * 1000) / 10;

export function systemRoutes(app: FastifyInstance, ctx: Ctx, state: { ready(): boolean }): void {
  const { store } = ctx;

  async function components() {
    const t0 = Date.now();
    let storeC: { status: string; latency_ms?: number; message?: string };
    try {
      await store.eventBounds();
      storeC = { status: 'healthy', latency_ms: Date.now() - t0 };
    } catch (e) {
      storeC = { status: 'unhealthy', message: (e as Error).message };
    }
    const workers = await store.workers().catch(() => []);
    return {
      store: storeC,
      queue: { status: storeC.status },
      workers: state.ready() ? { status: 'healthy', message: `${workers.length} engine instance(s) on the store` } : { status: 'unhealthy', message: 'the engine is not running' },
      event_bus: { status: 'healthy', message: `${ctx.ws.size} WebSocket connection(s)` },
      policy_bundle: { status: 'healthy', message: `mode ${ctx.cfg.mode}: policies are not enforced` },
    };
  }

  const health = async (req: FastifyRequest, reply: FastifyReply) => {
    const c = await components();
    const bad = Object.values(c).filter((x) => x.status !== 'healthy').length;
    return ok(reply, { status: bad === 0 ? 'healthy' : c.store.status === 'healthy' ? 'degraded' : 'unhealthy', version: ctx.version, mode: ctx.cfg.mode, workspace: ctx.workspace, uptime_s: Math.round((Date.now() - ctx.startedAt) / 1000), components: c });
  };
  app.get('/api/v1/health', health);
  app.get('/health', health);

  app.get('/api/v1/ready', async (req, reply) => {
    const c = await components();
    const failing = Object.fromEntries(Object.entries(c).filter(([, v]) => v.status !== 'healthy'));
    if (Object.keys(failing).length) {
      reply.header('Retry-After', '1');
      throw new ProvError('NOT_READY', `not ready: ${Object.keys(failing).join(', ')}`, { details: { components: failing } });
    }
    return ok(reply, { status: 'ready', components: c });
  });

  app.get('/api/v1/version', async (req, reply) => ok(reply, { version: ctx.version, api: 'v1', mode: ctx.cfg.mode, store: store.kind, instance_id: ctx.instanceId, workspace: ctx.workspace }));

  app.get('/metrics', async (req, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.code(200).header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8').send(text);
  });

  app.get('/api/v1/system/metrics', async (req, reply) => {
    authorize(req, 'system:read');
    const count = async (status: Parameters<typeof store.listWorkflows>[0]['status']) => (await store.listWorkflows(status ? { status } : {}, none)).total;
    const workers = await store.workers();
    let disk: number | null = null;
    try { const s = statfsSync(ctx.workspacePath); disk = pct(1 - s.bavail / s.blocks); } catch { /* not every filesystem answers */ }
    return ok(reply, {
      workflows: { total: await count(undefined), active: await count(LIVE), completed: await count(['completed']), failed: await count(['failed', 'rollback_failed']) },
      tasks: { queued: (await store.listTasks({ status: ['queued'] }, none)).total, running: (await store.listTasks({ status: ['running', 'rolling_back'] }, none)).total },
      queue_depth: (await store.listTasks({ status: ['queued'] }, none)).total,
      workers: { instances: workers.length, capacity: workers.reduce((n, w) => n + w.capacity, 0), busy: workers.reduce((n, w) => n + w.running_tasks, 0) },
      load: { cpu_percent: pct(Math.min(1, loadavg()[0]! / cpus().length)), memory_percent: pct(1 - freemem() / totalmem()), disk_percent: disk },
      ws_connections: ctx.ws.size,
    });
  });

  app.get('/api/v1/system/stats', async (req, reply) => {
    authorize(req, 'system:read');
    const { total } = await store.listWorkflows({}, none);
    const ended = (await store.listWorkflows({ status: ['completed', 'failed', 'cancelled', 'rolled_back', 'rollback_failed'] }, ALL)).rows;
    const rbs = (await store.rollbacks({}, ALL)).rows;
    const rbDone = rbs.filter((r) => r.status === 'completed' || r.status === 'failed');
    const bounds = await store.eventBounds();
    return ok(reply, {
      workflows_total: total,
      checkpoints_total: (await store.checkpoints({}, none)).total,
      rollbacks_total: rbs.length,
      rollback_success_rate: rbDone.length ? rbDone.filter((r) => r.status === 'completed').length / rbDone.length : null,
      avg_workflow_duration_s: ended.length ? ended.reduce((s, w) => s + (w.duration_ms ?? 0), 0) / ended.length / 1000 : null,
      store: { kind: store.kind, size_bytes: await store.sizeBytes() },
      events_retained: bounds.oldest ? bounds.latest - bounds.oldest + 1 : 0,
    });
  });

  app.get('/api/v1/system/workers', async (req, reply) => {
    authorize(req, 'system:read');
    return ok(reply, (await store.workers()).map((w) => ({ instance_id: w.instance_id, host: w.host, version: w.version, started_at: w.started_at, last_heartbeat_at: w.last_heartbeat_at, capacity: w.capacity, running_tasks: w.running_tasks })));
  });
}
