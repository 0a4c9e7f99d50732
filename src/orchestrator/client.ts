/**
 * A small client of the orchestrator API (spec/api.md §3) for the CLI: Node's fetch, the
 * envelope unwrapped, API errors turned into ProvError with the same code, and one
 * Idempotency-Key per client (one per CLI invocation, api.md §1.7), so a retried POST after a
 * network error never submits twice.
 */
import { randomUUID } from 'node:crypto';
import { EXIT, ProvError, exitCodeFor } from '../errors/index.js';
import type { BatchWorkflow } from '../model/index.js';
import type { Status } from '../workflow/types.js';

/** The fields of a `Workflow` (api.md §2.3) the CLI reads; the rest passes through. */
export interface WireWorkflow { id: string; name: string; kind: string; status: Status; execution: string; [k: string]: unknown }

export interface Health {
  status: 'healthy' | 'degraded' | 'unhealthy';
  version?: string;
  mode?: string;
  /** the workspace the orchestrator serves */
  workspace?: string;
  uptime_s?: number;
  components?: Record<string, { status: string; latency_ms?: number; message?: string }>;
}

export interface SubmitOptions { priority?: number; wait?: boolean; wait_timeout_s?: number; check_mode?: boolean; labels?: Record<string, string> }

/**
 * An API error whose code the CLI's table does not know exits by its HTTP status (cli.md §9):
 * 400 → 2, 401/403 → 4, 404 → 5, 409 → 6, 422 → 3 for definition problems, 503 → 9.
 */
export class ApiError extends ProvError {
  constructor(code: string, message: string, readonly status: number, opts: ConstructorParameters<typeof ProvError>[2]) { super(code, message, opts); }
  override get exitCode(): number {
    const known = exitCodeFor(this.code);
    if (known !== EXIT.FAILED || ['OPERATION_FAILED', 'PROVIDER_ERROR', 'COMMAND_FAILED', 'SMOKE_TEST_FAILED', 'WORKFLOW_FAILED'].includes(this.code)) return known;
    if (['UNKNOWN_REFERENCE', 'DEPENDENCY_CYCLE', 'POLICY_INVALID'].includes(this.code)) return EXIT.INVALID;
    if (this.code === 'MFA_LOCKED') return EXIT.AUTH;
    const byStatus: Record<number, number> = { 400: EXIT.USAGE, 401: EXIT.AUTH, 403: EXIT.AUTH, 404: EXIT.NOT_FOUND, 409: EXIT.CONFLICT, 503: EXIT.UNAVAILABLE };
    return byStatus[this.status] ?? EXIT.FAILED;
  }
}

export class OrchestratorClient {
  readonly url: string;
  private readonly idempotencyKey = randomUUID();

  constructor(url: string, private readonly o: { token?: string; timeoutMs?: number } = {}) {
    this.url = url.replace(/\/+$/, '');
  }

  /** The health answer, or undefined when nothing answered within `timeoutMs` (the `auto` probe). */
  async probe(timeoutMs: number): Promise<Health | undefined> {
    try {
      return await this.request<Health>('GET', '/api/v1/health', undefined, timeoutMs);
    } catch (e) {
      if (e instanceof ProvError && e.code === 'UNAVAILABLE') return undefined;
      throw e;
    }
  }

  health(): Promise<Health> { return this.request('GET', '/api/v1/health'); }
  version(): Promise<{ version: string; api: string; mode: string; store: string; instance_id: string }> { return this.request('GET', '/api/v1/version'); }
  systemMetrics(): Promise<{ workflows?: { active?: number }; queue_depth?: number; workers?: { instances?: number; capacity?: number; busy?: number } }> { return this.request('GET', '/api/v1/system/metrics'); }
  workers(): Promise<{ instance_id: string; host: string; capacity: number; running_tasks: number; last_heartbeat_at: string }[]> { return this.request('GET', '/api/v1/system/workers'); }

  submitBatch(spec: BatchWorkflow, o: SubmitOptions = {}): Promise<WireWorkflow> { return this.request('POST', '/api/v1/batches', { ...spec, ...o }); }
  getWorkflow(id: string): Promise<WireWorkflow> { return this.request('GET', `/api/v1/workflows/${encodeURIComponent(id)}`); }
  cancel(id: string, body: { reason?: string; rollback?: boolean } = {}): Promise<WireWorkflow> { return this.request('POST', `/api/v1/workflows/${encodeURIComponent(id)}/cancel`, body); }
  rollback(id: string, body: { force?: boolean; reason?: string } = {}): Promise<Record<string, unknown>> { return this.request('POST', `/api/v1/workflows/${encodeURIComponent(id)}/rollback`, body); }
  resume(id: string): Promise<WireWorkflow> { return this.request('POST', `/api/v1/workflows/${encodeURIComponent(id)}/resume`, {}); }

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = this.o.timeoutMs ?? 30_000): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method === 'POST') headers['idempotency-key'] = this.idempotencyKey;
    if (this.o.token) headers.authorization = `Bearer ${this.o.token}`;
    let res: Response;
    try {
      res = await fetch(this.url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const why = e instanceof Error && e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : causeOf(e);
      throw new ProvError('UNAVAILABLE', `the orchestrator at ${this.url} is unreachable (${why})`, {
        hint: 'start it with `provisioning orchestrator start`, or run in this process with --direct', details: { url: this.url }, cause: e,
      });
    }
    const text = await res.text();
    let env: { success?: boolean; data?: unknown; error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined;
    try { env = JSON.parse(text) as typeof env; } catch { env = undefined; }
    if (res.ok && env?.success) return env.data as T;
    const err = env?.error;
    const details = { ...err?.details, status: res.status, url: this.url + path };
    const hint = typeof err?.details?.hint === 'string' ? err.details.hint : undefined;
    throw new ApiError(err?.code ?? (res.status === 503 ? 'UNAVAILABLE' : 'OPERATION_FAILED'), err?.message ?? `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status, { details, ...(hint ? { hint } : {}) });
  }
}

function causeOf(e: unknown): string {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  return c?.code ?? c?.message ?? (e instanceof Error ? e.message : String(e));
}
