// Cumulative byte counters for a ProgressSink, throttled so a renderer is
// not called for every 16 KiB socket chunk.
import { Throttle } from '../util/throttle.js';
import type { ProgressSink } from '../util/progress-sink.js';

export class ProgressCounter {
  private done = 0;
  private readonly throttle = new Throttle();

  constructor(
    private readonly sink: ProgressSink | undefined,
    private readonly phase: string,
    private readonly total: number | undefined,
    private readonly detail?: string,
  ) {}

  /** Adds `n` bytes (negative when a restarted download throws bytes away). */
  add(n: number, detail?: string): void {
    this.done += n;
    if (this.throttle.due()) this.emit(detail);
  }

  /** Final numbers, then the sink's done(). */
  finish(): void {
    if (!this.sink) return;
    this.emit();
    this.sink.done();
  }

  private emit(detail = this.detail): void {
    if (!this.sink) return;
    const state: { phase: string; done: number; total?: number; detail?: string } = { phase: this.phase, done: this.done };
    if (this.total !== undefined) state.total = this.total;
    if (detail !== undefined) state.detail = detail;
    this.sink.update(state);
  }
}
