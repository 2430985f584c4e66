// Where long operations report how far they are: the CLI draws it on a
// terminal (util/progress.ts), libraries only count (oci, image).
export interface ProgressSink {
  /** Called with cumulative counters; implementations decide how to render. */
  update(state: { phase: string; done: number; total?: number; detail?: string; unit?: 'bytes' | 'items' }): void;
  done(): void;
}
