// Background writes into the shared tier: a read never waits for one. The
// queue is bounded; when it is full a new fill is dropped (and counted)
// rather than letting memory grow behind slow or dead cache servers.

export interface FillCounters {
  queued: number;
  done: number;
  dropped: number;
  failed: number;
}

export class FillQueue {
  readonly counters: FillCounters = { queued: 0, done: 0, dropped: 0, failed: 0 };
  private readonly waiting: Array<() => Promise<void>> = [];
  private running = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly capacity: number, private readonly concurrency: number) {}

  get length(): number {
    return this.waiting.length;
  }

  /** Queues a write; false (and counted) when the queue is full. */
  offer(job: () => Promise<void>): boolean {
    if (this.waiting.length >= this.capacity) {
      this.counters.dropped++;
      return false;
    }
    this.counters.queued++;
    this.waiting.push(job);
    this.pump();
    return true;
  }

  /** Resolves when every queued write has finished. */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      job()
        .then(
          () => this.counters.done++,
          () => this.counters.failed++,
        )
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0 && this.waiting.length === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }
}
