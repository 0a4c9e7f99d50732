import { ProvError } from '../../errors/index.js';
import type { Credentials } from '../credentials.js';
import { backoffMs, sleep, type RetryPolicy } from '../retry.js';

/**
 * A small client of the UpCloud API 1.3 (HTTP basic auth, JSON). Retries 429 and 5xx with
 * backoff (Retry-After respected), bounded by the policy; every other failure becomes a
 * ProvError carrying UpCloud's `error_code` and `error_message`, never the credentials.
 */

export interface UpCloudClientOptions {
  baseUrl: string;
  credentials: Credentials;
  retry: RetryPolicy;
  /** per request */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RequestOptions<T> {
  /**
   * Asked before a retry of a request that is not idempotent: a 5xx may come after the change
   * was made, so a result found here (e.g. the server, by its tags) ends the retries.
   */
  beforeRetry?: () => Promise<T | undefined>;
}

export interface ApiError { status: number; code: string; message: string }

export class UpCloudApiError extends ProvError {
  readonly status: number;
  readonly apiCode: string;
  constructor(code: string, message: string, e: ApiError, hint: string) {
    super(code, message, { hint, details: { provider: 'upcloud', status: e.status, provider_code: e.code } });
    this.status = e.status;
    this.apiCode = e.code;
  }
}

const HINTS: Record<string, string> = {
  AUTHENTICATION_FAILED: 'check providers.upcloud.username / .password (an API user with API access enabled in the UpCloud hub)',
  INSUFFICIENT_CREDITS: 'add credits to the UpCloud account',
  ZONE_NOT_FOUND: "list the zones with 'provisioning provider catalog upcloud'",
  PLAN_NOT_FOUND: "list the plans with 'provisioning provider catalog upcloud'",
  SERVER_STATE_ILLEGAL: 'the server is busy (maintenance); retry in a minute',
};

export class UpCloudClient {
  constructor(private readonly opts: UpCloudClientOptions) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown, opts: RequestOptions<T> = {}): Promise<T> {
    return this.request<T>('POST', path, body, opts);
  }

  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  async request<T>(method: string, path: string, body?: unknown, opts: RequestOptions<T> = {}): Promise<T> {
    const { retry, credentials } = this.opts;
    const url = this.opts.baseUrl.replace(/\/+$/, '') + path;
    const auth = 'Basic ' + Buffer.from(`${credentials.get('username')}:${credentials.get('password')}`).toString('base64');
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        const signals = [AbortSignal.timeout(this.opts.timeoutMs ?? 60_000), ...(this.opts.signal ? [this.opts.signal] : [])];
        res = await fetch(url, {
          method,
          headers: { authorization: auth, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.any(signals),
        });
      } catch (err) {
        if (this.opts.signal?.aborted) throw err;
        // A connection that failed before any answer is retried like a 503.
        if (attempt + 1 < retry.attempts) { await sleep(backoffMs(retry, attempt), this.opts.signal); continue; }
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
        throw new ProvError('UNAVAILABLE', `UpCloud API unreachable at ${this.opts.baseUrl} (${cause}) after ${retry.attempts} attempts`, {
          hint: 'check the network and providers.upcloud.api_url', details: { provider: 'upcloud' },
        });
      }
      if (res.ok) {
        const text = await res.text();
        return (text ? JSON.parse(text) : undefined) as T;
      }
      const retryable = res.status === 429 || res.status >= 500;
      if (retryable && attempt + 1 < retry.attempts) {
        await res.body?.cancel();
        await sleep(backoffMs(retry, attempt, res.headers.get('retry-after')), this.opts.signal);
        const done = await opts.beforeRetry?.();
        if (done !== undefined) return done;
        continue;
      }
      throw this.toError(method, path, res.status, await res.text(), retryable ? attempt + 1 : undefined);
    }
  }

  private toError(method: string, path: string, status: number, text: string, attempts?: number): UpCloudApiError {
    let e: ApiError = { status, code: `HTTP_${status}`, message: text.slice(0, 200) || `HTTP ${status}` };
    try {
      const parsed = JSON.parse(text) as { error?: { error_code?: string; error_message?: string } };
      if (parsed.error?.error_code) e = { status, code: parsed.error.error_code, message: parsed.error.error_message ?? '' };
    } catch { /* not JSON: keep the raw text */ }
    e.message = this.opts.credentials.scrub(e.message);
    const where = `${method} ${path.split('?')[0]}`;
    const tries = attempts ? ` (after ${attempts} attempts)` : '';
    if (status === 401) {
      return new UpCloudApiError('AUTH_REQUIRED', `UpCloud refused the credentials: ${e.code}: ${e.message}`, e, HINTS.AUTHENTICATION_FAILED!);
    }
    if (status === 403) return new UpCloudApiError('FORBIDDEN', `UpCloud: ${e.code}: ${e.message} (${where})`, e, 'the API user lacks the permission for this operation');
    const code = status === 429 || status >= 500 ? 'UNAVAILABLE' : 'PROVIDER_ERROR';
    return new UpCloudApiError(code, `UpCloud ${where} failed${tries}: ${e.code}: ${e.message}`, e,
      HINTS[e.code] ?? (code === 'UNAVAILABLE' ? 'UpCloud is busy or down; retry later' : 'see the UpCloud API documentation for this error code'));
  }
}
