// How every remote store reads a chunk: one request at a time is never
// trusted to answer. Each request has a timeout; a request that is slower
// than the store's recent p95 gets a twin (hedging: the first good answer
// wins, the other is aborted); failures that may pass (5xx, 429/SlowDown,
// resets, timeouts, wrong bytes) are retried with backoff and jitter; and
// every chunk's digest is checked here, so a server that returns wrong
// bytes fails only that request, which is retried like any other failure.
import { createHash } from 'node:crypto';
import { SmrError } from '../../util/errors.js';
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from '../../util/retry.js';
import { LatencyWindow } from './latency-window.js';

export interface RemoteReadOptions {
  retry?: RetryPolicy;
  /** Per request (default 30 s). */
  timeoutMs?: number;
  /** Hedging delay: 'auto' (the recent p95, the default), 'off', or fixed ms. */
  hedge?: 'auto' | 'off' | number;
}

export interface RemoteReadStats {
  requests: number;
  hedges: number;
  hedgeWins: number;
  retries: number;
  corrupt: number;
  timeouts: number;
}

/** One request for a chunk's bytes; null when the store says it has no such chunk. */
export type FetchOnce = (name: string, signal: AbortSignal) => Promise<Buffer | null>;

/** A backend's verdict on a failed request: retry (optionally after ms), or give up. */
export type Classify = (err: unknown) => boolean | number;

class TimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

class WrongBytesError extends Error {}

// Below this, a hedge costs more than it saves (connection set-up, server queueing).
const MIN_HEDGE_MS = 5;

export class RemoteReader {
  readonly stats: RemoteReadStats = { requests: 0, hedges: 0, hedgeWins: 0, retries: 0, corrupt: 0, timeouts: 0 };
  private readonly latency = new LatencyWindow();
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;

  constructor(
    private readonly description: string,
    private readonly fetchOnce: FetchOnce,
    private readonly classify: Classify,
    private readonly opts: RemoteReadOptions = {},
  ) {
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** The chunk's bytes, verified; CHUNK_MISSING when the store has none. */
  async get(name: string): Promise<Buffer> {
    let last: unknown;
    const data = await withRetries(
      this.retry,
      (n) => {
        if (n > 1) this.stats.retries++;
        return this.hedged(name);
      },
      (err) => {
        last = err;
        return err instanceof TimeoutError || err instanceof WrongBytesError || this.classify(err);
      },
    ).catch((err: unknown) => {
      if (err instanceof SmrError) throw err;
      const why = err instanceof Error ? err.message : String(err);
      const code = last instanceof WrongBytesError ? 'CHUNK_CORRUPT' : 'STORE_UNAVAILABLE';
      throw new SmrError(code, `${this.description}: chunk ${name}: ${why} (after ${this.retry.attempts} attempts)`, { cause: err });
    });
    if (data === null) throw new SmrError('CHUNK_MISSING', `chunk ${name} is not in store ${this.description}`);
    return data;
  }

  private hedgeDelay(): number | null {
    const h = this.opts.hedge ?? 'auto';
    if (h === 'off') return null;
    const ms = h === 'auto' ? this.latency.quantile(0.95) : h;
    return ms === null ? null : Math.max(MIN_HEDGE_MS, ms);
  }

  /** The first request, and a second one if the first is slow; the first good answer wins. */
  private hedged(name: string): Promise<Buffer | null> {
    const delay = this.hedgeDelay();
    const first = this.request(name);
    if (delay === null) return first.result;
    return new Promise((resolve, reject) => {
      let settled = false;
      let failures = 0;
      let firstError: unknown;
      let second: ReturnType<RemoteReader['request']> | null = null;
      const win = (data: Buffer | null, which: 'first' | 'second') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (which === 'second') this.stats.hedgeWins++;
        (which === 'first' ? second : first)?.abort();
        resolve(data);
      };
      const lose = (err: unknown) => {
        firstError ??= err;
        // Wait for the twin when there is one still running.
        if (++failures === (second ? 2 : 1) && !settled) {
          settled = true;
          clearTimeout(timer);
          second?.abort();
          reject(firstError);
        }
      };
      const timer = setTimeout(() => {
        if (settled) return;
        this.stats.hedges++;
        second = this.request(name);
        second.result.then((d) => win(d, 'second'), lose);
      }, delay);
      first.result.then((d) => win(d, 'first'), (err) => {
        // A failed first request with no twin yet: let retries handle it.
        if (second === null) {
          clearTimeout(timer);
          settled = true;
          reject(err);
        } else lose(err);
      });
    });
  }

  /** One request with its timeout and digest check. */
  private request(name: string): { result: Promise<Buffer | null>; abort(): void } {
    const controller = new AbortController();
    const t0 = performance.now();
    this.stats.requests++;
    const timer = setTimeout(() => {
      this.stats.timeouts++;
      controller.abort(new TimeoutError(`no answer in ${Math.round(this.timeoutMs / 1000)} s`));
    }, this.timeoutMs);
    const result = this.fetchOnce(name, controller.signal)
      .then((data) => {
        if (data !== null && createHash('sha256').update(data).digest('hex') !== name) {
          this.stats.corrupt++;
          throw new WrongBytesError('the store returned bytes that do not match the chunk digest');
        }
        this.latency.add(performance.now() - t0);
        return data;
      })
      .catch((err: unknown) => {
        // An abort by our timer surfaces as the client's AbortError: report the timeout.
        if (controller.signal.aborted && controller.signal.reason instanceof TimeoutError) throw controller.signal.reason;
        throw err;
      })
      .finally(() => clearTimeout(timer));
    return { result, abort: () => controller.abort(new Error('hedged: the other request answered')) };
  }
}
