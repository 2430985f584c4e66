// Recent request latencies of one store, for the hedging delay: a request
// slower than most recent ones (the p95) is likely stuck behind a slow
// server or connection, and a second request usually answers sooner.
const SIZE = 128;
// Too few samples say nothing about the tail.
const MIN_SAMPLES = 16;

export class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;

  add(ms: number): void {
    if (this.samples.length < SIZE) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % SIZE;
  }

  /** The q-quantile (0..1) of the recent samples, or null while there are too few. */
  quantile(q: number): number | null {
    if (this.samples.length < MIN_SAMPLES) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  }
}
