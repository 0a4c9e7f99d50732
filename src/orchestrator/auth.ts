/**
 * The one place authorization plugs in (spec/api.md §1.6). Solo mode: every request runs as
 * `local:<os-user>` with the `admin` role and everything is allowed; the principal is recorded
 * on the request (request log, `submitted_by`, idempotency scope). Token verification and
 * Cedar evaluation replace the body of `authorize` when auth arrives.
 */
import { userInfo } from 'node:os';
import type { FastifyRequest } from 'fastify';

export interface Principal { id: string; roles: string[] }

/** The resource a route acts on: `Workflow::"wf_…"`, `Server::"<infra>/<name>"` … */
export interface Resource { type: string; id: string; attrs?: Record<string, unknown> }

declare module 'fastify' {
  interface FastifyRequest { principal?: Principal }
}

/** the solo-mode principal */
export const SOLO: Principal = { id: `local:${userInfo().username}`, roles: ['admin'] };

/** Who is asking; throws (401/403) once auth exists. */
export function authenticate(req: FastifyRequest): Principal {
  req.principal ??= SOLO;
  return req.principal;
}

/** May the caller do `action` on `resource`? Solo: yes. Returns the principal. */
export function authorize(req: FastifyRequest, action: string, resource?: Resource): Principal {
  void action;
  void resource;
  return authenticate(req);
}
