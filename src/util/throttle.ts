// At most one event per interval: a progress line redrawn, or a counter
// handed to its renderer, ten times a second rather than for every 16 KiB
// socket read. The clock can be given, so tests need no waiting.
const PROGRESS_INTERVAL_MS = 100;

export class Throttle {
  private last = -Infinity;

  constructor(
    private readonly intervalMs = PROGRESS_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** True (and the interval starts again) when the last true is an interval ago or more. */
  due(): boolean {
    const t = this.now();
    if (t - this.last < this.intervalMs) return false;
    this.last = t;
    return true;
  }
}
