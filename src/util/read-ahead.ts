// Keeps a producer (a decompressor in the thread pool or another process)
// busy while the consumer works: pulls up to `maxBytes` ahead into a queue.
// Without it each stage waits on the other and two cores do the work of one.
export function readAhead(source: AsyncIterable<Buffer>, maxBytes: number): AsyncIterable<Buffer> & { cancel(): void } {
  const it = source[Symbol.asyncIterator]();
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: { error: unknown } | null = null;
  let cancelled = false;
  let wakeConsumer: (() => void) | null = null;
  let wakeProducer: (() => void) | null = null;

  const signal = (w: (() => void) | null) => w?.();

  void (async () => {
    try {
      while (!cancelled) {
        if (queued >= maxBytes) {
          await new Promise<void>((r) => (wakeProducer = r));
          wakeProducer = null;
          continue;
        }
        const r = await it.next();
        if (r.done) break;
        queue.push(r.value);
        queued += r.value.length;
        signal(wakeConsumer);
      }
    } catch (e) {
      failure = { error: e };
    }
    ended = true;
    signal(wakeConsumer);
  })();

  return {
    cancel() {
      cancelled = true;
      signal(wakeProducer);
      void it.return?.();
    },
    [Symbol.asyncIterator]() {
      return {
        async next(): Promise<IteratorResult<Buffer>> {
          for (;;) {
            if (queue.length > 0) {
              const v = queue.shift()!;
              queued -= v.length;
              signal(wakeProducer);
              return { done: false, value: v };
            }
            if (failure) throw failure.error;
            if (ended) return { done: true, value: undefined };
            await new Promise<void>((r) => (wakeConsumer = r));
            wakeConsumer = null;
          }
        },
        async return(): Promise<IteratorResult<Buffer>> {
          return { done: true, value: undefined };
        },
      };
    },
  };
}
