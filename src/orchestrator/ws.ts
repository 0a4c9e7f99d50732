/**
 * `/api/v1/ws` (spec/api.md §4): subscriptions to stored events by type, category or `*`,
 * with filters and `since_seq` replay, heartbeat, and the connection limits of §4.6.
 *
 * Choices where the spec leaves room: `batch_id` matches an event's workflow (a batch is a
 * workflow); order is kept per subscription — a replay for a new subscription may resend events
 * older than ones another subscription of the connection already got (de-duplicate by `seq`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ulid } from 'ulidx';
import type { WebSocket } from 'ws';
import * as z from 'zod';
import { closest } from '../cli/suggest.js';
import { ProvError } from '../errors/index.js';
import type { WorkflowStore } from '../store/workflows.js';
import type { Event, EventCategory } from '../workflow/types.js';
import { authenticate } from './auth.js';
import type { EventPump } from './events.js';
import { Q, parseWith, validationFailed } from './http.js';

export const WS_LIMITS = { connections_per_user: 10, messages_per_s: 100, subscriptions: 50, max_message_bytes: 65536 };
const MAX_INVALID = 10;
const OUTBOUND_MAX = 1000;
const EXCESS_CLOSE_MS = 5000;

export const EVENT_TYPES: Record<string, EventCategory> = {
  WorkflowStatusChanged: 'workflow', WorkflowProgressUpdate: 'workflow', CheckpointCreated: 'workflow', TaskStatusChanged: 'task',
  OperationStatusChanged: 'batch', BatchOperationUpdate: 'batch', RollbackStatusChanged: 'rollback', ResourceChanged: 'resource', LogEntry: 'log',
  SystemHealthUpdate: 'system', MetricUpdate: 'metric', SshKeyStatusChanged: 'ssh', BreakGlassStatusChanged: 'security', AuthorizationDenied: 'security',
  PolicyChanged: 'security', SecretLifecycle: 'secret',
};
const CATEGORIES: EventCategory[] = ['workflow', 'task', 'batch', 'rollback', 'resource', 'log', 'system', 'metric', 'ssh', 'security', 'secret'];
const NAMES = ['*', ...CATEGORIES, ...Object.keys(EVENT_TYPES)];
const FILTER_KEYS = ['workflow_id', 'batch_id', 'task_id', 'operation_id', 'infra', 'server', 'kind', 'status', 'level', 'component'] as const;
type FilterKey = typeof FILTER_KEYS[number];

export interface WsOptions {
  /** ping frame interval (30 s) and how long a pong may take (60 s) */
  pingMs?: number;
  pongTimeoutMs?: number;
}

const Filters = z.strictObject(Object.fromEntries(FILTER_KEYS.map((k) => [k, z.array(z.string()).optional()])) as Record<FilterKey, z.ZodOptional<z.ZodArray<z.ZodString>>>);
const ClientMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('subscribe'), id: z.string().optional(), events: z.array(z.string()).min(1), filters: Filters.optional(), since_seq: z.int().min(0).optional() }),
  z.strictObject({ type: z.literal('unsubscribe'), id: z.string().optional(), subscription: z.string().optional(), events: z.array(z.string()).optional() }),
  z.strictObject({ type: z.literal('ping'), id: z.string().optional() }),
  z.strictObject({ type: z.literal('auth'), id: z.string().optional(), token: z.string() }),
]);

const ConnectQuery = z.strictObject({
  token: Q.str, compression: Q.str, events: Q.list(), workflow_id: Q.list(), batch_id: Q.list(), task_id: Q.list(),
  batch_size: Q.int(1, 100), batch_ms: Q.int(10, 1000),
});

interface Sub { id: string; events: string[]; filters: Partial<Record<FilterKey, string[]>>; live: boolean }

/** The value(s) of a filter key in an event. */
function field(e: Event, k: FilterKey): unknown {
  const d = e.data;
  switch (k) {
    case 'workflow_id': return e.workflow_id ?? d.workflow_id;
    case 'batch_id': return d.batch_id ?? e.workflow_id ?? d.workflow_id;
    case 'task_id': return e.task_id ?? d.task_id;
    case 'infra': return d.infra ?? e.metadata.infra;
    default: return d[k];
  }
}

function matches(s: Sub, e: Event): boolean {
  const typeOk = s.events.some((n) => n === e.event_type || n === e.category || (n === '*' && e.category !== 'metric'));
  if (!typeOk) return false;
  for (const [k, vals] of Object.entries(s.filters) as [FilterKey, string[]][]) {
    const v = field(e, k);
    const have = Array.isArray(v) ? v.map(String) : v === undefined || v === null ? [] : [String(v)];
    if (!have.some((x) => vals.includes(k === 'status' || k === 'kind' || k === 'level' ? x.toLowerCase() : x))) return false;
  }
  return true;
}

class Conn {
  readonly id = `conn_${ulid()}`;
  readonly subs = new Map<string, Sub>();
  private nextSub = 1;
  private invalid = 0;
  private window = { start: 0, count: 0 };
  private excessSince: number | null = null;
  private inFlight = 0;
  private batch: Event[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private lastPong = Date.now();
  private heartbeat: NodeJS.Timeout | undefined;
  closed = false;

  constructor(readonly socket: WebSocket, readonly principal: string, private readonly hub: WsHub, private readonly batchSize: number, private readonly batchMs: number) {}

  start(pingMs: number, pongTimeoutMs: number): void {
    this.socket.on('pong', () => { this.lastPong = Date.now(); });
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastPong > pongTimeoutMs) { this.close(4008, 'heartbeat timeout'); return; }
      this.socket.ping();
    }, pingMs);
    this.heartbeat.unref();
  }

  send(msg: Record<string, unknown>): void {
    if (this.closed) return;
    if (this.inFlight >= OUTBOUND_MAX) { this.close(4009, 'slow consumer'); return; }
    this.inFlight++;
    this.socket.send(JSON.stringify(msg), () => { this.inFlight--; });
  }

  error(id: string | undefined, e: ProvError): void {
    this.send({ type: 'error', ...(id !== undefined ? { id } : {}), code: e.code, message: e.message, ...(Object.keys(e.details).length ? { details: e.details } : {}) });
  }

  deliver(e: Event, subs: Sub[]): void {
    const ev = { ...e, subscription_ids: subs.map((s) => s.id) };
    if (this.batchSize <= 1) { this.send(ev); return; }
    if (this.batch.length + this.inFlight >= OUTBOUND_MAX) { this.close(4009, 'slow consumer'); return; }
    this.batch.push(ev);
    if (this.batch.length >= this.batchSize) this.flush();
    else this.batchTimer ??= setTimeout(() => this.flush(), this.batchMs);
  }

  private flush(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (!this.batch.length) return;
    const events = this.batch.splice(0);
    this.send({ type: 'batch', timestamp: new Date().toISOString(), events });
  }

  /** The rate limit of §4.6; false when the message must be dropped. */
  private admit(): boolean {
    const now = Date.now();
    if (now - this.window.start >= 1000) {
      if (this.window.count <= WS_LIMITS.messages_per_s) this.excessSince = null;
      this.window = { start: now, count: 0 };
    }
    this.window.count++;
    if (this.window.count <= WS_LIMITS.messages_per_s) return true;
    this.excessSince ??= now;
    if (now - this.excessSince >= EXCESS_CLOSE_MS) this.close(4029, 'message rate exceeded');
    else this.error(undefined, new ProvError('RATE_LIMITED', `more than ${WS_LIMITS.messages_per_s} messages per second`, { details: { limit: WS_LIMITS.messages_per_s, window_s: 1, scope: 'ws_messages' } }));
    return false;
  }

  async onMessage(raw: Buffer, isBinary: boolean): Promise<void> {
    if (!this.admit()) return;
    let msg: z.infer<typeof ClientMessage>;
    let id: string | undefined;
    try {
      if (isBinary) throw new ProvError('BAD_REQUEST', 'messages are JSON text frames', { details: { reason: 'binary frame' } });
      let parsed: unknown;
      try { parsed = JSON.parse(raw.toString('utf8')); } catch { throw new ProvError('BAD_REQUEST', 'the message is not valid JSON', { details: { reason: 'malformed JSON' } }); }
      if (parsed && typeof parsed === 'object' && typeof (parsed as { id?: unknown }).id === 'string') id = (parsed as { id: string }).id;
      msg = parseWith(ClientMessage, parsed, 'body');
    } catch (e) {
      this.invalid++;
      if (this.invalid > MAX_INVALID) { this.close(4000, 'protocol error: too many invalid messages'); return; }
      this.error(id, e as ProvError);
      return;
    }
    switch (msg.type) {
      case 'ping': this.send({ type: 'pong', ...(msg.id !== undefined ? { id: msg.id } : {}), server_time: new Date().toISOString() }); return;
      case 'auth': this.send({ type: 'auth_ok', ...(msg.id !== undefined ? { id: msg.id } : {}), expires_at: null }); return; // solo: no token to renew
      case 'unsubscribe': {
        if (msg.subscription) this.subs.delete(msg.subscription);
        if (msg.events) for (const s of this.subs.values()) { s.events = s.events.filter((n) => !msg.events!.includes(n)); if (!s.events.length) this.subs.delete(s.id); }
        this.send({ type: 'unsubscribed', ...(msg.id !== undefined ? { id: msg.id } : {}) });
        return;
      }
      case 'subscribe':
        try { await this.subscribe(msg.events, msg.filters ?? {}, msg.since_seq, msg.id); } catch (e) { this.error(msg.id, e as ProvError); }
    }
  }

  async subscribe(events: string[], filters: Partial<Record<FilterKey, string[]>>, sinceSeq: number | undefined, reqId: string | undefined): Promise<void> {
    const bad = events.filter((n) => !NAMES.includes(n));
    if (bad.length) {
      throw validationFailed(bad.map((n) => {
        const near = closest(n, NAMES, 1)[0];
        return { path: 'events', expected: 'an event type, a category or "*"', message: `unknown event type or category ${JSON.stringify(n)}`, ...(near ? { did_you_mean: near } : {}) };
      }), 'subscribe');
    }
    if (this.subs.size >= WS_LIMITS.subscriptions) throw new ProvError('RATE_LIMITED', `at most ${WS_LIMITS.subscriptions} subscriptions per connection`, { details: { limit: WS_LIMITS.subscriptions, window_s: 0, scope: 'ws_subscriptions' } });
    const norm = Object.fromEntries(Object.entries(filters).map(([k, v]) => [k, k === 'status' || k === 'kind' || k === 'level' ? v.map((x) => x.toLowerCase()) : v]));
    const sub: Sub = { id: `sub_${this.nextSub++}`, events, filters: norm, live: sinceSeq === undefined };
    this.subs.set(sub.id, sub);
    this.send({ type: 'subscribed', ...(reqId !== undefined ? { id: reqId } : {}), subscription: sub.id, events });
    if (sinceSeq !== undefined) await this.hub.replay(this, sub, sinceSeq, reqId);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.batchTimer);
    this.socket.close(code, reason);
    this.hub.drop(this);
  }

  cleanup(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.batchTimer);
    this.hub.drop(this);
  }
}

export class WsHub {
  private readonly conns = new Set<Conn>();
  private readonly unsink: () => void;
  onCount?: (n: number) => void;

  constructor(private readonly store: WorkflowStore, private readonly pump: EventPump, private readonly o: WsOptions & { version: string }) {
    this.unsink = pump.sink((events) => this.fanOut(events));
  }

  get size(): number { return this.conns.size; }

  private fanOut(events: Event[]): void {
    for (const c of this.conns) {
      for (const e of events) {
        const subs = [...c.subs.values()].filter((s) => s.live && matches(s, e));
        if (subs.length) c.deliver(e, subs);
      }
    }
  }

  /** Stored events after `since` up to what the pump has handed on, then live. */
  replay(c: Conn, sub: Sub, since: number, reqId: string | undefined): Promise<void> {
    return this.pump.serial(async () => {
      const { oldest } = await this.store.eventBounds();
      if (oldest > 0 && since + 1 < oldest) {
        c.send({ type: 'resync_required', ...(reqId !== undefined ? { id: reqId } : {}), subscription: sub.id, oldest_seq: oldest });
      } else {
        for (let at = since; at < this.pump.last && !c.closed;) {
          const page = await this.store.events(at, 1000);
          if (!page.length) break;
          for (const e of page) if (e.seq <= this.pump.last && matches(sub, e)) c.deliver(e, [sub]);
          at = page.at(-1)!.seq;
        }
      }
      sub.live = true;
    });
  }

  drop(c: Conn): void {
    if (this.conns.delete(c)) this.onCount?.(this.conns.size);
  }

  countFor(principal: string): number {
    let n = 0;
    for (const c of this.conns) if (c.principal === principal) n++;
    return n;
  }

  register(app: FastifyInstance): void {
    const check = async (req: FastifyRequest, reply: FastifyReply) => {
      const q = parseWith(ConnectQuery, req.query, 'query');
      const p = authenticate(req);
      if (this.countFor(p.id) >= WS_LIMITS.connections_per_user) {
        reply.header('Retry-After', '5');
        throw new ProvError('RATE_LIMITED', `at most ${WS_LIMITS.connections_per_user} WebSocket connections per user`, { details: { limit: WS_LIMITS.connections_per_user, window_s: 0, scope: 'ws_connections' } });
      }
      (req as FastifyRequest & { wsQuery?: typeof q }).wsQuery = q;
    };
    app.route({
      method: 'GET', url: '/api/v1/ws', preValidation: check,
      handler: async () => { throw new ProvError('BAD_REQUEST', 'this route speaks WebSocket: send an upgrade request', { details: { reason: 'no websocket upgrade' } }); },
      wsHandler: (socket, req) => {
        const q = (req as FastifyRequest & { wsQuery: z.infer<typeof ConnectQuery> }).wsQuery;
        const c = new Conn(socket, req.principal!.id, this, q.batch_size ?? 1, q.batch_ms ?? 100);
        this.conns.add(c);
        this.onCount?.(this.conns.size);
        socket.on('message', (data, isBinary) => { void c.onMessage(data as Buffer, isBinary); });
        socket.on('close', () => c.cleanup());
        c.start(this.o.pingMs ?? 30_000, this.o.pongTimeoutMs ?? 60_000);
        c.send({ type: 'welcome', connection_id: c.id, server_version: this.o.version, heartbeat_s: Math.round((this.o.pingMs ?? 30_000) / 1000), auth: 'ok', limits: WS_LIMITS });
        // the query's events/workflow_id/batch_id/task_id make one subscription at connect time (§4.1)
        if (q.events?.length || q.workflow_id || q.batch_id || q.task_id) {
          const filters = { ...(q.workflow_id ? { workflow_id: q.workflow_id } : {}), ...(q.batch_id ? { batch_id: q.batch_id } : {}), ...(q.task_id ? { task_id: q.task_id } : {}) };
          c.subscribe(q.events?.length ? q.events : ['*'], filters, undefined, undefined).catch((e: unknown) => c.error(undefined, e as ProvError));
        }
      },
    });
  }

  /** Server shutting down: 1001 to everyone. */
  closeAll(): void {
    for (const c of [...this.conns]) c.close(1001, 'server shutting down');
    this.unsink();
  }
}
