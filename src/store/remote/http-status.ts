// Which failed requests a remote store retries: the ones that may pass on
// their own (the server is overloaded, restarting, or a connection broke).
import { isTransientNetworkError } from '../../util/network-errors.js';

/** 5xx, 429 (throttled) and 408 may pass; other statuses are answers. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** A network failure, also when fetch wraps it ("fetch failed", cause ECONNRESET). */
export function isRetryableNetworkError(err: unknown): boolean {
  if (isTransientNetworkError(err)) return true;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return err instanceof TypeError && (cause === undefined || isTransientNetworkError(cause) || /other side closed|socket/i.test(String((cause as Error).message)));
}

/** Seconds in a Retry-After header, as ms, when the server gives one. */
export function retryAfterMs(value: string | null | undefined): number | null {
  const s = Number(value);
  return value && Number.isFinite(s) && s > 0 ? s * 1000 : null;
}
