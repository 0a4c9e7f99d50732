/**
 * Idempotency-Key (spec/api.md §1.7): `(principal, method, route, key) → (body hash, response)`,
 * kept in the workflow store so a retry reaching another instance on the same PostgreSQL
 * database replays too. The key is claimed in a transaction before the work starts (a second
 * arrival meanwhile gets 409 IDEMPOTENCY_IN_PROGRESS). Only successful answers are kept: an
 * error releases the key, so a corrected or later retry is handled afresh.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProvError } from '../errors/index.js';
import type { WorkflowStore } from '../store/workflows.js';
import type { IdempotencyRecord } from '../workflow/types.js';
import { validationFailed } from './http.js';

export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

export interface Answer { status: number; data: unknown; location?: string }
interface Stored { body: unknown; location?: string; released?: boolean }

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export function send(reply: FastifyReply, a: Answer): FastifyReply {
  if (a.location) reply.header('Location', a.location);
  return reply.code(a.status).send({ success: true, data: a.data });
}

export async function idempotent(store: WorkflowStore, req: FastifyRequest, reply: FastifyReply, principal: string, run: () => Promise<Answer>): Promise<FastifyReply> {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return send(reply, await run());
  const key = Array.isArray(raw) ? raw.join(',') : raw;
  if (key.length < 1 || key.length > 255) throw validationFailed([{ path: 'Idempotency-Key', expected: '1–255 characters', message: `Idempotency-Key must have 1–255 characters, got ${key.length}` }], 'header');
  const scoped = sha(`${principal}\n${req.method}\n${req.routeOptions.url ?? req.url}\n${key}`);
  const bodySha = sha(JSON.stringify(req.body ?? null));
  const now = Date.now();
  const prior = await store.tx(async (t) => {
    const r = await t.getIdempotency(scoped);
    const live = r && !(r.response as Stored | null)?.released && now - Date.parse(r.created_at) < IDEMPOTENCY_TTL_MS ? r : undefined;
    if (live) return live;
    await t.putIdempotency({ key: scoped, body_sha256: bodySha, status: null, response: null, created_at: new Date(now).toISOString() });
    return undefined;
  });
  if (prior) {
    if (prior.body_sha256 !== bodySha) throw new ProvError('IDEMPOTENCY_KEY_MISMATCH', 'this Idempotency-Key was used with a different body', { details: { idempotency_key: key }, hint: 'use a new key for a different request' });
    if (prior.status === null) throw new ProvError('IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is still being handled', { details: { idempotency_key: key } });
    const stored = prior.response as Stored;
    reply.header('Idempotency-Replayed', 'true');
    if (stored.location) reply.header('Location', stored.location);
    return reply.code(prior.status).send(stored.body);
  }
  const put = (r: Partial<IdempotencyRecord>) => store.tx((t) => t.putIdempotency({ key: scoped, body_sha256: bodySha, status: null, response: null, created_at: new Date(now).toISOString(), ...r }));
  let answer: Answer;
  try {
    answer = await run();
  } catch (e) {
    await put({ response: { body: null, released: true } satisfies Stored });
    throw e;
  }
  await put({ status: answer.status, response: { body: { success: true, data: answer.data }, ...(answer.location ? { location: answer.location } : {}) } satisfies Stored });
  return send(reply, answer);
}
