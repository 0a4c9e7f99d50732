/**
 * The orchestrator service (spec/api.md §1, §3, §4, §6): an HTTP + WebSocket front around the
 * workflow engine. The engine runs in this process against the workflow store; every route
 * reads the store or changes it through `WorkflowControl`, so several instances (PostgreSQL) or
 * a CLI running a workflow directly (SQLite) see the same state.
 */
import { randomUUID } from 'node:crypto';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { cliVersion } from '../cli/main.js';
import type { Config } from '../config/index.js';
import { parseDuration } from '../config/schema.js';
import { WorkflowControl } from '../engine/control.js';
import { engineOptions, openWorkflowStore } from '../engine/host.js';
import { createOperationRunner } from '../engine/operations.js';
import { Engine } from '../engine/worker.js';
import { ProvError, asProvError } from '../errors/index.js';
import type { WorkflowStore } from '../store/workflows.js';
import { FINAL, type Event, type WorkflowRow } from '../workflow/types.js';
import { SOLO, type Principal } from './auth.js';
import type { Ctx } from './context.js';
import { EventPump } from './events.js';
import { MAX_BODY_BYTES, errorBody } from './http.js';
import { createMetrics } from './metrics.js';
import { checkpointRoutes } from './routes/checkpoints.js';
import { infraRoutes } from './routes/infra.js';
import { systemRoutes } from './routes/system.js';
import { workflowRoutes } from './routes/workflows.js';
import { WsHub, type WsOptions } from './ws.js';

export interface OrchestratorOptions {
  cfg: Config;
  workspacePath: string;
  env: Record<string, string | undefined>;
  /** default: the store `orchestrator.storage.*` names (opened and closed here) */
  store?: WorkflowStore;
  instanceId?: string;
  /** one JSON object per request and per engine log line (main.ts writes them to stdout) */
  log?: (entry: Record<string, unknown>) => void;
  ws?: WsOptions;
  /** how often the engine looks for work nobody announced (tests lower it) */
  pollMs?: number;
}

export interface Orchestrator {
  app: FastifyInstance;
  engine: Engine;
  control: WorkflowControl;
  store: WorkflowStore;
  /** set once listening: http://host:port */
  url: string;
  listen(o?: { host?: string; port?: number }): Promise<string>;
  /** stop accepting, let running tasks finish for `graceMs`, hand the rest back, close */
  close(graceMs?: number): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;
const PRUNE_EVERY_MS = 3600_000;

export async function createOrchestrator(o: OrchestratorOptions): Promise<Orchestrator> {
  const { cfg } = o;
  const ownStore = !o.store;
  const store = o.store ?? (await openWorkflowStore(cfg));
  const version = cliVersion();
  const log = o.log ?? (() => undefined);
  const engine = new Engine(store, createOperationRunner({ workspacePath: o.workspacePath, env: o.env }), engineOptions(cfg, {
    version, ...(o.instanceId ? { instanceId: o.instanceId } : {}), ...(o.pollMs ? { pollMs: o.pollMs } : {}),
  }));
  const controlFor = (p: Principal) => {
    const c = new WorkflowControl(store, p.id);
    c.onChange = () => engine.wake();
    return c;
  };
  const metrics = createMetrics(store);
  const pump = new EventPump(store);
  const ws = new WsHub(store, pump, { ...o.ws, version });
  ws.onCount = (n) => metrics.wsConnections.set(n);
  let closing = false;
  let started = false;
  const waiters = new Set<() => void>();

  const ctx: Ctx = {
    cfg, store, engine, pump, ws, metrics, workspacePath: o.workspacePath, workspace: cfg.target.workspace?.name ?? '', env: o.env,
    instanceId: engine.instanceId, version, startedAt: Date.now(), control: controlFor,
    waitFinal: (id, ms) => new Promise<WorkflowRow | undefined>((resolve) => {
      let done = false;
      const finish = (w: WorkflowRow | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        waiters.delete(stop);
        resolve(w);
      };
      const stop = () => finish(undefined);
      const check = () => { store.getWorkflow(id).then((w) => { if (w && FINAL.has(w.status)) finish(w); }, () => undefined); };
      const timer = setTimeout(stop, ms);
      const unsubscribe = pump.sink((events: Event[]) => { if (events.some((e) => e.workflow_id === id)) check(); });
      waiters.add(stop);
      check();
    }),
  };

  const app = Fastify({
    bodyLimit: MAX_BODY_BYTES, logger: false, requestIdHeader: false,
    genReqId: (req) => { const h = req.headers['x-request-id']; return typeof h === 'string' && REQUEST_ID.test(h) ? h : `req_${randomUUID().replace(/-/g, '')}`; },
  });

  // JSON only: anything else is 415; an empty body is no body
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    if (body === '') { done(null, undefined); return; }
    try {
      done(null, JSON.parse(body as string));
    } catch (e) {
      done(new ProvError('BAD_REQUEST', `malformed JSON: ${(e as Error).message}`, { details: { reason: 'malformed JSON' } }), undefined);
    }
  });

  // every route's pattern, to tell 405 from 404
  const routes: { methods: string[]; re: RegExp }[] = [];
  app.addHook('onRoute', (r) => {
    const methods = (Array.isArray(r.method) ? r.method : [r.method]).map(String);
    routes.push({ methods, re: new RegExp(`^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z_]+/g, '[^/]+')}/?$`) });
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('X-Request-Id', req.id);
    if (closing) {
      reply.header('Retry-After', '5');
      throw new ProvError('UNAVAILABLE', 'the orchestrator is shutting down', { details: { reason: 'shutting down' } });
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.http.requests.inc({ route, method: req.method, code: String(reply.statusCode) });
    metrics.http.duration.observe({ route, method: req.method }, seconds);
    const url = new URL(req.url, 'http://x');
    url.searchParams.delete('token');
    log({ ts: new Date().toISOString(), level: 'info', msg: 'request', request_id: req.id, method: req.method, path: url.pathname + url.search, route, status: reply.statusCode, duration_ms: Math.round(reply.elapsedTime * 10) / 10, principal: req.principal?.id ?? null });
  });

  app.setErrorHandler((err: FastifyError | ProvError, req, reply) => {
    const e = err instanceof ProvError ? err : fromFastify(err as FastifyError);
    const { status, body } = errorBody(e, req.id);
    if (status === 500) log({ ts: new Date().toISOString(), level: 'error', msg: 'unexpected error', request_id: req.id, error: err.message, stack: err.stack });
    if (status === 429 && !reply.hasHeader('Retry-After')) reply.header('Retry-After', '1');
    return reply.code(status).send(body);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = [...new Set(routes.filter((r) => r.re.test(path)).flatMap((r) => r.methods))];
    const e = allowed.length
      ? new ProvError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`, { details: { allowed } })
      : new ProvError('NOT_FOUND', `no route ${req.method} ${path}`, { details: { resource_type: 'route', id: path } });
    if (allowed.length) reply.header('Allow', allowed.join(', '));
    const { status, body } = errorBody(e, req.id);
    return reply.code(status).send(body);
  });

  await app.register(websocket, { options: { maxPayload: 64 * 1024, perMessageDeflate: true } });
  await app.register(async (scope) => {
    systemRoutes(scope, ctx, { ready: () => started && !closing });
    workflowRoutes(scope, ctx);
    checkpointRoutes(scope, ctx);
    infraRoutes(scope, ctx);
    ws.register(scope);
  });

  // the engine's own lines (not task output) go to the process log
  let logSeq = 0;
  pump.sink(async () => {
    if (!o.log) return;
    for (let page = await store.logs({ after_seq: logSeq, limit: 1000 }); page.length; page = await store.logs({ after_seq: logSeq, limit: 1000 })) {
      for (const l of page) {
        logSeq = l.seq;
        if (l.component === 'engine') log({ ts: l.timestamp, level: l.level, msg: l.message, component: l.component, ...(l.workflow_id ? { workflow_id: l.workflow_id } : {}), ...(l.operation_id ? { operation_id: l.operation_id } : {}) });
      }
    }
  });
  // task durations, from the status changes that end a task
  pump.sink(async (events) => {
    for (const e of events) {
      if (e.event_type !== 'TaskStatusChanged' || !FINAL.has(e.data.status as WorkflowRow['status']) || !e.task_id) continue;
      const op = await store.getTask(e.task_id);
      if (op?.duration_ms != null) metrics.taskDuration.observe({ kind: String(e.data.kind), status: String(e.data.status) }, op.duration_ms / 1000);
    }
  });

  const retentionMs = parseDuration(cfg.get('orchestrator.retention')) ?? 30 * 86_400_000;
  let pruner: NodeJS.Timeout | undefined;

  const orch: Orchestrator = {
    app, engine, control: controlFor(SOLO), store, url: '',
    async listen(l = {}) {
      const host = l.host ?? String(cfg.get('orchestrator.host'));
      const port = l.port ?? Number(cfg.get('orchestrator.port'));
      if (o.log) logSeq = await latestLogSeq(store);
      await pump.start();
      await engine.start();
      started = true;
      const prune = () => { store.prune(new Date(Date.now() - retentionMs).toISOString()).catch((e: unknown) => log({ ts: new Date().toISOString(), level: 'warn', msg: `prune failed: ${asProvError(e).message}` })); };
      prune();
      pruner = setInterval(prune, PRUNE_EVERY_MS);
      pruner.unref();
      await app.listen({ host, port });
      const addr = app.server.address();
      const bound = typeof addr === 'object' && addr ? addr : { address: host, port };
      orch.url = `http://${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`;
      return orch.url;
    },
    async close(graceMs = 0) {
      if (closing) return;
      closing = true;
      clearInterval(pruner);
      for (const w of [...waiters]) w();
      ws.closeAll();
      await Promise.all([app.close(), started ? engine.stop(graceMs) : Promise.resolve()]);
      pump.stop();
      if (ownStore) await store.close();
    },
  };
  return orch;
}

/** The newest log seq, so a restarted process does not print old lines again (the store has no cheaper way to ask). */
async function latestLogSeq(store: WorkflowStore): Promise<number> {
  let seq = 0;
  for (let page = await store.logs({ after_seq: 0, limit: 1000 }); page.length; page = await store.logs({ after_seq: seq, limit: 1000 })) seq = page.at(-1)!.seq;
  return seq;
}

function fromFastify(err: FastifyError): ProvError {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProvError('UNSUPPORTED_MEDIA_TYPE', 'request bodies are application/json', { details: {} });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProvError('PAYLOAD_TOO_LARGE', `the body is larger than ${MAX_BODY_BYTES} bytes`, { details: { max_bytes: MAX_BODY_BYTES } });
    default:
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new ProvError('BAD_REQUEST', err.message, { details: { reason: err.code ?? 'bad request' } });
      return asProvError(err);
  }
}
