/**
 * When a failed call is retried, and how long to wait first. Pure: no I/O; the clock and the
 * random source are arguments.
 *
 * Retried: no answer at all (network errors, timeouts), 409 (the same Idempotency-Key is still
 * being served), 429, and 5xx other than 501. The wait is exponential backoff with full jitter,
 * or the server's `Retry-After` when that is longer. Retrying is always safe: every POST keeps
 * its Idempotency-Key on each attempt, and every event its identifier.
 */

export interface RetryPolicy {
  /** Attempts after the first one. */
  readonly maxRetries: number;
  /** The backoff ceiling of the first retry; it doubles on each one. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** The longest `Retry-After` honoured. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 3,
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
};

export function retryableStatus(status: number): boolean {
  return status === 409 || status === 429 || (status >= 500 && status !== 501);
}

/** Milliseconds to wait before retry number `attempt + 1` (`attempt` 0 is the first call). */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  retryAfter: string | null = null,
  now: number = Date.now(),
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** attempt);
  const backoff = random() * ceiling;
  const asked = parseRetryAfterMs(retryAfter, now);
  if (asked === undefined) return backoff;
  return Math.min(Math.max(backoff, asked), policy.maxRetryAfterMs);
}

/** `Retry-After` in ms (delta-seconds or an HTTP date); undefined if absent or unreadable. */
export function parseRetryAfterMs(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(when - now, 0);
}
