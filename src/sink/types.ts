// Where a built image's bytes go. Writers call write() with strictly
// increasing, non-overlapping offsets, so a sink can be a plain file or a
// streaming chunker that never holds the whole image.
export interface ImageSink {
  /** Called once, before any write, with the device size. */
  begin(totalBytes: number): Promise<void>;
  write(offset: number, data: Buffer): Promise<void>;
  /** Everything written: make it durable and visible. */
  finish(): Promise<void>;
  /** Something failed: leave nothing behind. Safe to call more than once. */
  abort(): Promise<void>;
}
