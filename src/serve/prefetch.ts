// Fetches the chunks of a recorded trace, in trace order, with bounded
// concurrency, into the caches, ahead of the client. Entries that do not
// belong to this recipe (another image's trace) are skipped.
import type { RecipeView } from '../blockdev/recipe-view.js';
import { forEachBounded } from '../util/bounded.js';
import type { TraceEntry } from './trace.js';

export interface PrefetchStats {
  planned: number;
  fetched: number;
  skipped: number;
  failed: number;
  done: boolean;
}

export function startPrefetch(view: RecipeView, trace: TraceEntry[], concurrency: number, log: (msg: string) => void): { stats: PrefetchStats; finished: Promise<void>; stop(): void } {
  const stats: PrefetchStats = { planned: 0, fetched: 0, skipped: 0, failed: 0, done: false };
  const plan = trace.filter((t) => {
    const ok = view.chunk(t.index)?.digest === t.digest;
    if (!ok) stats.skipped++;
    return ok;
  });
  stats.planned = plan.length;
  const stop = new AbortController();
  // A failed fetch is counted and logged, never thrown: prefetch is only a hint.
  const fetch = async (t: TraceEntry) => {
    try {
      await view.chunkData(t.index);
      stats.fetched++;
    } catch (e) {
      stats.failed++;
      log(`prefetch of chunk ${t.index} failed: ${(e as Error).message}`);
    }
  };
  const finished = forEachBounded(plan, concurrency, fetch, stop.signal).then(() => {
    stats.done = true;
  });
  return { stats, finished, stop: () => stop.abort() };
}
