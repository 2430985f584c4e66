// Retrying with exponential backoff and jitter: the one policy shared by the
// registry client and every remote store. Jitter spreads the retries of many
// clients that failed together (a server restart, a throttled bucket) so
// they do not come back in one burst.

export interface RetryPolicy {
  /** Tries in all, the first included (1 = no retry). */
  attempts: number;
  /** Delay before the first retry; doubles with each one. */
  backoffMs: number;
  /** Cap on one delay (default 10 s). */
  maxBackoffMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, backoffMs: 250 };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The wait before retry number `retry` (1 = the first retry): base·2^(retry-1), ±50 %, capped. */
export function backoffDelay(policy: RetryPolicy, retry: number): number {
  const base = Math.min(policy.backoffMs * 2 ** Math.max(0, retry - 1), policy.maxBackoffMs ?? 10_000);
  return base * (0.5 + Math.random());
}

/**
 * Runs `attempt` until it succeeds, `retryable` says no, or the policy's
 * attempts are spent; the last error is thrown. `retryable` may return a
 * number: the server asked for that wait in ms (Retry-After).
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  retryable: (err: unknown) => boolean | number,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const verdict = retryable(err);
      if (verdict === false || n >= policy.attempts) throw err;
      await sleep(typeof verdict === 'number' ? Math.min(verdict, policy.maxBackoffMs ?? 10_000) : backoffDelay(policy, n));
    }
  }
}
