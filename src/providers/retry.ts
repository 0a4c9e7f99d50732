/**
 * Bounded exponential backoff with full jitter, shared by the HTTP providers. A server's
 * Retry-After (seconds or an HTTP date) wins over the computed delay, capped by `maxDelayMs`.
 */

export interface RetryPolicy {
  /** attempts in all, the first one included */
  attempts: number;
  baseMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 500, maxDelayMs: 30_000 };

export function backoffMs(policy: RetryPolicy, attempt: number, retryAfter?: string | null): number {
  const fromHeader = parseRetryAfter(retryAfter);
  if (fromHeader !== undefined) return Math.min(fromHeader, policy.maxDelayMs);
  const ceiling = Math.min(policy.baseMs * 2 ** attempt, policy.maxDelayMs);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function parseRetryAfter(v: string | null | undefined): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(t); reject(signal!.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
