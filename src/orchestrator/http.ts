/**
 * The HTTP conventions of spec/api.md §1 and §6 that every route shares: the envelope, error
 * codes → statuses, strict validation of bodies and queries (zod, with "did you mean"),
 * pagination with its headers, and list filters (comma lists, case-insensitive enums,
 * absolute or relative time windows).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as z from 'zod';
import { closest } from '../cli/suggest.js';
import { parseDuration } from '../config/schema.js';
import { ProvError } from '../errors/index.js';
import { problemsFromIssues, schemasAt, type PathSegment } from '../model/problems.js';
import type { Page } from '../workflow/types.js';

export const MAX_BODY_BYTES = 1024 * 1024;

const STATUS: Record<string, number> = {
  BAD_REQUEST: 400, VALIDATION_FAILED: 400,
  AUTH_REQUIRED: 401, TOKEN_INVALID: 401, TOKEN_EXPIRED: 401, TOKEN_REVOKED: 401,
  FORBIDDEN: 403, MFA_REQUIRED: 403, TOKEN_SCOPE: 403,
  NOT_FOUND: 404, METHOD_NOT_ALLOWED: 405,
  ALREADY_EXISTS: 409, INVALID_STATE: 409, LOCKED: 409, VERSION_CONFLICT: 409, IDEMPOTENCY_IN_PROGRESS: 409, AUTH_DISABLED: 409, READ_ONLY: 409,
  PAYLOAD_TOO_LARGE: 413, UNSUPPORTED_MEDIA_TYPE: 415,
  DEFINITION_INVALID: 422, UNKNOWN_REFERENCE: 422, DEPENDENCY_CYCLE: 422, IDEMPOTENCY_KEY_MISMATCH: 422, UNSUPPORTED: 422,
  // the workspace's own definitions or config refuse the submit: well-formed, cannot be processed
  INFRA_REQUIRED: 422, ENV_MISMATCH: 422, CONFIG_INVALID: 422,
  RATE_LIMITED: 429,
  NOT_READY: 503, UNAVAILABLE: 503, DEPENDENCY_UNAVAILABLE: 503,
};

export const statusOf = (code: string): number => STATUS[code] ?? 500;

export interface ErrorBody { success: false; error: { code: string; message: string; details: Record<string, unknown>; hint?: string; request_id: string } }

/** The error envelope; anything that is not one of ours becomes INTERNAL with no detail (the log has it). */
export function errorBody(e: ProvError, requestId: string): { status: number; body: ErrorBody } {
  const status = statusOf(e.code);
  if (status === 500) return { status, body: { success: false, error: { code: 'INTERNAL', message: 'internal error', details: {}, request_id: requestId } } };
  const wire = wireError(e);
  return { status: statusOf(wire.code), body: { success: false, error: { ...wire, ...(e.hint ? { hint: e.hint } : {}), request_id: requestId } } };
}

/** Definition problems keep their shape as `issues` (§6.2). */
function wireError(e: ProvError): { code: string; message: string; details: Record<string, unknown> } {
  if (e.code !== 'DEFINITION_INVALID' || !Array.isArray(e.details.errors)) return { code: e.code, message: e.message, details: e.details };
  const issues = e.details.errors as { code: string; message: string }[];
  return { code: e.code, message: issues.length === 1 ? issues[0]!.message : e.message, details: { issues } };
}

export interface Issue { path: string; expected: string; message: string; did_you_mean?: string }

export const validationFailed = (issues: Issue[], what = 'request'): ProvError =>
  new ProvError('VALIDATION_FAILED', issues.length === 1 ? `${what}: ${issues[0]!.message}` : `${what}: ${issues.length} problems`, { details: { issues } });

const shapeKeys = (schema: z.ZodType, at: PathSegment[]): string[] =>
  schemasAt(schema as never, at).flatMap((s) => { const d = (s as unknown as { _zod: { def: { type: string; shape?: object } } })._zod.def; return d.type === 'object' && d.shape ? Object.keys(d.shape) : []; });

/** Parse a body or query strictly; every problem becomes an issue (unknown keys with did_you_mean). */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: 'body' | 'query'): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issues = problemsFromIssues(r.error.issues, schema as never, value ?? {}).map((p): Issue => {
    const out: Issue = { path: p.path, expected: p.expected, message: p.message };
    if (p.code === 'DEF_UNKNOWN_KEY') {
      const key = String(p.at.at(-1));
      const near = closest(key, shapeKeys(schema, p.at.slice(0, -1)), 1)[0];
      if (near) { out.did_you_mean = near; out.message += `; did you mean \`${near}\`?`; }
    }
    return out;
  });
  throw validationFailed(issues, what);
}

export function ok(reply: FastifyReply, data: unknown, status = 200): FastifyReply {
  return reply.code(status).send({ success: true, data });
}

// ── queries ──────────────────────────────────────────────────────────────────────

/** A query value given once; repeating it (`?a=1&a=2`) is joined like a comma list. */
const qstr = z.union([z.string(), z.array(z.string()).transform((a) => a.join(','))]);
export const Q = {
  str: qstr.optional(),
  int: (min: number, max: number) => qstr.transform(Number).pipe(z.number().int().min(min).max(max)).optional(),
  bool: qstr.pipe(z.enum(['true', 'false'])).transform((v) => v === 'true').optional(),
  /** comma list; with `values`, an enum matched case-insensitively */
  list: (values?: readonly string[]) => qstr.transform((v, ctx) => {
    const items = v.split(',').map((x) => x.trim()).filter(Boolean).map((x) => (values ? x.toLowerCase() : x));
    for (const x of items) {
      if (values && !values.includes(x)) {
        const near = closest(x, values, 1)[0];
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(x)} is not one of ${values.join(', ')}${near ? `; did you mean \`${near}\`?` : ''}`, params: { def: 'DEF_ENUM', expected: `a comma list of ${values.join(', ')}` } });
      }
    }
    return items;
  }).optional(),
  /** RFC 3339, or relative to now (`24h`, `7d`) */
  time: qstr.transform((v, ctx) => {
    const d = parseDuration(v);
    if (d !== undefined) return new Date(Date.now() - d).toISOString();
    const t = Date.parse(v);
    if (/^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(t)) return new Date(t).toISOString();
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is neither an RFC 3339 time nor a relative one like 24h or 7d`, params: { expected: 'an RFC 3339 time or a duration such as 24h, 7d' } });
    return z.NEVER;
  }).optional(),
};

export const PAGE = { limit: Q.int(1, 1000), offset: Q.int(0, Number.MAX_SAFE_INTEGER) };
export const pageOf = (q: { limit?: number | undefined; offset?: number | undefined }): Page => ({ limit: q.limit ?? 50, offset: q.offset ?? 0 });

/** A list answer: `meta`, X-Total-Count and Link rel next/prev (api.md §1.4). */
export function sendPage(req: FastifyRequest, reply: FastifyReply, rows: unknown[], total: number, page: Page): FastifyReply {
  const url = new URL(req.url, 'http://x');
  const at = (offset: number) => { url.searchParams.set('offset', String(offset)); url.searchParams.set('limit', String(page.limit)); return `<${url.pathname}${url.search}>`; };
  const links: string[] = [];
  if (page.offset + page.limit < total) links.push(`${at(page.offset + page.limit)}; rel="next"`);
  if (page.offset > 0) links.push(`${at(Math.max(0, page.offset - page.limit))}; rel="prev"`);
  reply.header('X-Total-Count', String(total));
  if (links.length) reply.header('Link', links.join(', '));
  return reply.code(200).send({ success: true, data: rows, meta: { total, limit: page.limit, offset: page.offset } });
}
