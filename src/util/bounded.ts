// A list worked through with at most `limit` calls under way at once.
/**
 * Calls `fn` for each item in list order, at most `limit` at a time. The
 * first failure stops new items from starting; once every call already under
 * way has settled, that failure is thrown (so no work goes on in the
 * background after the caller has moved on). An aborted `signal` also stops
 * new items from starting, and the loop ends without error once the calls
 * under way have settled.
 */
export async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (failure === null && !signal?.aborted && next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
}
