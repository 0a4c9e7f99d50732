/** Checkpoints and rollbacks (spec/api.md §3.5). */
import type { FastifyInstance } from 'fastify';
import * as z from 'zod';
import { notFound } from '../../engine/control.js';
import { dropUndefined, ProvError } from '../../errors/index.js';
import { toWireWorkflow } from '../../workflow/wire.js';
import { authorize } from '../auth.js';
import type { Ctx } from '../context.js';
import { PAGE, Q, ok, pageOf, parseWith, sendPage } from '../http.js';
import { idempotent } from '../idempotency.js';

const CheckpointQuery = z.strictObject({ ...PAGE, workflow_id: Q.str, trigger: Q.list(['operation', 'interval', 'manual', 'pre_rollback']), from: Q.time, to: Q.time });
const CreateBody = z.strictObject({ workflow_id: z.string().min(1), name: z.string().min(1).max(200), description: z.string().optional() });
const RestoreBody = z.strictObject({ resume: z.boolean().optional() });
const RollbackQuery = z.strictObject({ ...PAGE, workflow_id: Q.str, status: Q.list(['queued', 'running', 'completed', 'failed']), mode: Q.list(['full', 'partial']) });
const ALL = { limit: 1_000_000, offset: 0 };

type Params = { id: string };

export function checkpointRoutes(app: FastifyInstance, ctx: Ctx): void {
  const { store } = ctx;

  app.get('/api/v1/checkpoints', async (req, reply) => {
    const q = parseWith(CheckpointQuery, req.query, 'query');
    authorize(req, 'checkpoint:read');
    const page = pageOf(q);
    const { rows, total } = await store.checkpoints(dropUndefined({ workflow_id: q.workflow_id, trigger: q.trigger, from: q.from, to: q.to }), page);
    return sendPage(req, reply, rows, total, page);
  });

  app.post('/api/v1/checkpoints', async (req, reply) => {
    const b = parseWith(CreateBody, req.body, 'body');
    const p = authorize(req, 'checkpoint:create', { type: 'Workflow', id: b.workflow_id });
    if (!(await store.getWorkflow(b.workflow_id))) throw notFound('workflow', b.workflow_id);
    return idempotent(store, req, reply, p.id, async () => {
      // the engine records progress only at step boundaries, so "now" is one
      const c = await ctx.control(p).checkpoint(b.workflow_id, b.name, b.description ?? null);
      return { status: 202, data: c, location: `/api/v1/checkpoints/${c.id}` };
    });
  });

  app.get<{ Params: Params }>('/api/v1/checkpoints/:id', async (req, reply) => {
    authorize(req, 'checkpoint:read', { type: 'Checkpoint', id: req.params.id });
    const c = await store.getCheckpoint(req.params.id);
    if (!c) throw notFound('checkpoint', req.params.id);
    return ok(reply, c);
  });

  app.post<{ Params: Params }>('/api/v1/checkpoints/:id/restore', async (req, reply) => {
    const b = parseWith(RestoreBody, req.body, 'body');
    const p = authorize(req, 'workflow:resume', { type: 'Checkpoint', id: req.params.id });
    if (!(await store.getCheckpoint(req.params.id))) throw notFound('checkpoint', req.params.id);
    if (b.resume === false) throw new ProvError('UNSUPPORTED', 'restoring without resuming is not supported', { details: { feature: 'restore with resume: false', reason: 'the engine re-queues a restored workflow' } });
    return idempotent(store, req, reply, p.id, async () => {
      const w = await ctx.control(p).restore(req.params.id);
      return { status: 202, data: toWireWorkflow(w, await store.getOperations(w.id)), location: `/api/v1/workflows/${w.id}` };
    });
  });

  app.get('/api/v1/rollbacks', async (req, reply) => {
    const q = parseWith(RollbackQuery, req.query, 'query');
    authorize(req, 'workflow:read');
    const page = pageOf(q);
    const { rows, total } = await store.rollbacks(dropUndefined({ workflow_id: q.workflow_id, status: q.status, mode: q.mode }), page);
    return sendPage(req, reply, rows, total, page);
  });

  app.get('/api/v1/rollbacks/stats', async (req, reply) => {
    parseWith(z.strictObject({}), req.query, 'query');
    authorize(req, 'workflow:read');
    const { rows } = await store.rollbacks({}, ALL);
    const completed = rows.filter((r) => r.status === 'completed').length;
    const failed = rows.filter((r) => r.status === 'failed').length;
    const timed = rows.filter((r) => r.duration_ms !== null);
    return ok(reply, {
      total: rows.length, completed, failed,
      success_rate: completed + failed ? completed / (completed + failed) : null,
      avg_duration_ms: timed.length ? timed.reduce((s, r) => s + r.duration_ms!, 0) / timed.length : null,
    });
  });

  app.get<{ Params: Params }>('/api/v1/rollbacks/:id', async (req, reply) => {
    authorize(req, 'workflow:read', { type: 'Rollback', id: req.params.id });
    const r = await store.getRollback(req.params.id);
    if (!r) throw notFound('rollback', req.params.id);
    return ok(reply, r);
  });
}
