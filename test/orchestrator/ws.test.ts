import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { startHarness, script, until, type Harness } from './harness.js';

let h: Harness;
// short heartbeat so the timeout is seen quickly; the pong window still far exceeds one ping interval
before(async () => { h = await startHarness({ ws: { pingMs: 50, pongTimeoutMs: 400 } }); });
after(async () => { await h?.close(); });

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A client that records every message and can wait for one matching a predicate. */
class Client {
  readonly ws: WebSocket;
  readonly got: Msg[] = [];
  private waiters: { pred: (m: Msg) => boolean; res: (m: Msg) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  constructor(query = '', opts: { autoPong?: boolean } = {}) {
    this.ws = new WebSocket(`${h.url.replace('http', 'ws')}/api/v1/ws${query}`, opts);
    this.opened = new Promise((res, rej) => { this.ws.once('open', () => res()); this.ws.once('unexpected-response', (_req, r) => rej(new Error(`HTTP ${r.statusCode}`))); this.ws.once('error', rej); });
    this.opened.catch(() => undefined); // awaited by the tests that expect a refusal
    this.closed = new Promise((res) => this.ws.once('close', (code, reason) => res({ code, reason: reason.toString() })));
    this.ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Msg;
      this.got.push(m);
      this.waiters = this.waiters.filter((w) => { if (w.pred(m)) { w.res(m); return false; } return true; });
    });
  }

  send(m: unknown): void { this.ws.send(typeof m === 'string' ? m : JSON.stringify(m)); }

  /** The first message (already received or coming) matching `pred`; fails after 20 s with what arrived. */
  next(pred: (m: Msg) => boolean, what: string): Promise<Msg> {
    const seen = this.got.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no ${what}; got ${JSON.stringify(this.got.map((x) => x.type === 'event' ? `${x.event_type}:${x.seq}` : x.type))}`)), 20_000);
      this.waiters.push({ pred, res: (m) => { clearTimeout(t); res(m); } });
    });
  }

  close(): void { this.ws.close(); }
}

const submit = async (name: string) => {
  const r = await h.api('POST', '/api/v1/workflows', { name, wait: true, operations: [script('a', 'true')] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data.id as string;
};
const completedOf = (id: string) => (m: Msg) => m.type === 'event' && m.event_type === 'WorkflowStatusChanged' && m.workflow_id === id && m.data.status === 'completed';

describe('orchestrator WebSocket /api/v1/ws', () => {
  it('welcomes with the limits and answers ping with the id echoed', async () => {
    const c = new Client();
    const w = await c.next((m) => m.type === 'welcome', 'welcome');
    assert.deepEqual(w.limits, { connections_per_user: 10, messages_per_s: 100, subscriptions: 50, max_message_bytes: 65536 });
    assert.equal(w.auth, 'ok');
    c.send({ type: 'ping', id: 'p1' });
    const pong = await c.next((m) => m.type === 'pong', 'pong');
    assert.equal(pong.id, 'p1');
    assert.ok(Date.parse(pong.server_time));
    c.close();
  });

  it('delivers only what a subscription asks for: one workflow of two', async () => {
    const c = new Client();
    await c.next((m) => m.type === 'welcome', 'welcome');
    // the wanted workflow is held by not_before until its subscription is in place; the other one runs meanwhile
    const r = await h.api('POST', '/api/v1/workflows', { name: 'ws-wanted', not_before: new Date(Date.now() + 1000).toISOString(), operations: [script('a', 'true')] });
    const wanted = r.body.data.id as string;
    c.send({ type: 'subscribe', id: 's1', events: ['workflow', 'task'], filters: { workflow_id: [wanted], status: ['RUNNING', 'completed'] } });
    const sub = await c.next((m) => m.type === 'subscribed' && m.id === 's1', 'subscribed');
    assert.equal(sub.subscription, 'sub_1');
    const other = await submit('ws-other');
    await c.next(completedOf(wanted), 'the wanted workflow completing');
    const events = c.got.filter((m) => m.type === 'event');
    assert.ok(events.length > 0);
    for (const e of events) {
      assert.equal(e.workflow_id, wanted, `only ${wanted}, got ${e.event_type} of ${e.workflow_id} (other: ${other})`);
      assert.ok(['running', 'completed'].includes(e.data.status), `status filter: ${e.event_type} ${e.data.status}`);
      assert.deepEqual(e.subscription_ids, ['sub_1']);
      assert.ok(['workflow', 'task'].includes(e.category));
    }
    assert.ok(events.every((e, i) => i === 0 || e.seq > events[i - 1]!.seq), 'in seq order');
    c.close();
  });

  it('replays stored events after since_seq, in order, before live ones', async () => {
    const id = await submit('ws-replay');
    const c = new Client();
    await c.next((m) => m.type === 'welcome', 'welcome');
    c.send({ type: 'subscribe', id: 'r', events: ['*'], filters: { workflow_id: [id] }, since_seq: 0 });
    await c.next(completedOf(id), 'the replayed completion');
    const events = c.got.filter((m) => m.type === 'event');
    assert.equal(events[0]!.event_type, 'WorkflowStatusChanged');
    assert.deepEqual([events[0]!.data.status, events[1]!.data.status], ['pending', 'queued']);
    assert.ok(events.every((e, i) => i === 0 || e.seq > events[i - 1]!.seq), 'in seq order');
    const from = events[1]!.seq;
    const c2 = new Client();
    await c2.opened;
    c2.send({ type: 'subscribe', id: 'r2', events: ['workflow'], filters: { workflow_id: [id] }, since_seq: from });
    await c2.next(completedOf(id), 'the completion after since_seq');
    assert.ok(c2.got.filter((m) => m.type === 'event').every((e) => e.seq > from));
    c.close();
    c2.close();
  });

  it('asks for a resync when since_seq is older than what the store keeps', async () => {
    await submit('ws-pruned');
    const cut = new Date().toISOString();
    await submit('ws-kept');
    await h.orch.store.prune(cut);
    const c = new Client();
    await c.next((m) => m.type === 'welcome', 'welcome');
    c.send({ type: 'subscribe', id: 'old', events: ['*'], since_seq: 0 });
    const r = await c.next((m) => m.type === 'resync_required', 'resync_required');
    assert.equal(r.id, 'old');
    assert.equal(r.oldest_seq, (await h.orch.store.eventBounds()).oldest);
    c.close();
  });

  it('the 51st subscription gets RATE_LIMITED; bad subscriptions get errors with did_you_mean', async () => {
    const c = new Client();
    await c.next((m) => m.type === 'welcome', 'welcome');
    for (let i = 0; i < 50; i++) c.send({ type: 'subscribe', id: `s${i}`, events: ['workflow'] });
    await c.next((m) => m.type === 'subscribed' && m.id === 's49', '50 subscriptions');
    c.send({ type: 'subscribe', id: 's50', events: ['workflow'] });
    const e = await c.next((m) => m.type === 'error' && m.id === 's50', 'the 51st refused');
    assert.equal(e.code, 'RATE_LIMITED');
    c.send({ type: 'unsubscribe', id: 'u', subscription: 'sub_1' });
    await c.next((m) => m.type === 'unsubscribed' && m.id === 'u', 'unsubscribed');
    c.send({ type: 'subscribe', id: 'typo', events: ['worklfow'] });
    const t = await c.next((m) => m.type === 'error' && m.id === 'typo', 'unknown event name refused');
    assert.equal(t.code, 'VALIDATION_FAILED');
    assert.equal(t.details.issues[0].did_you_mean, 'workflow');
    c.close();
  });

  it('closes 1009 on a message over 64 KiB and 4000 after more than 10 invalid messages', async () => {
    const big = new Client();
    await big.opened;
    big.send({ type: 'ping', id: 'x'.repeat(70 * 1024) });
    assert.equal((await big.closed).code, 1009);

    const bad = new Client();
    await bad.opened;
    for (let i = 0; i < 11; i++) bad.send('{not json');
    assert.equal((await bad.closed).code, 4000);
    assert.equal(bad.got.filter((m) => m.type === 'error').length, 10);
  });

  it('closes 4008 when pings go unanswered; a client that answers stays', async () => {
    const mute = new Client('', { autoPong: false });
    const live = new Client();
    await Promise.all([mute.opened, live.opened]);
    assert.equal((await mute.closed).code, 4008);
    live.send({ type: 'ping', id: 'still' });
    assert.equal((await live.next((m) => m.type === 'pong' && m.id === 'still', 'pong on the live client')).id, 'still');
    live.close();
  });

  it('refuses the 11th connection of a user with 429 at upgrade', async () => {
    await until(async () => (await h.api('GET', '/api/v1/system/metrics')).body.data.ws_connections === 0, 'earlier connections to be gone');
    const open = Array.from({ length: 10 }, () => new Client());
    await Promise.all(open.map((c) => c.opened));
    const extra = new Client();
    await assert.rejects(extra.opened, /HTTP 429/);
    for (const c of open) c.close();
    await Promise.all(open.map((c) => c.closed));
  });

  it('subscribes from the query at connect time, and refuses a bad query with 400', async () => {
    await until(async () => (await h.api('GET', '/api/v1/system/metrics')).body.data.ws_connections === 0, 'earlier connections to be gone');
    const id = await submit('ws-query');
    const c = new Client(`?events=workflow&workflow_id=${id}`);
    await c.next((m) => m.type === 'subscribed', 'the query subscription');
    const bad = new Client('?batch_size=1000');
    await assert.rejects(bad.opened, /HTTP 400/);
    c.close();
  });
});
