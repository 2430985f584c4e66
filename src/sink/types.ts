// Where a built image's bytes go.
//
// A streaming sink (e.g. a chunker) takes writes at strictly increasing,
// non-overlapping offsets, so it never needs to hold the whole image. A
// random-access sink (a file) takes writes anywhere and can turn ranges back
// into holes; the builder then reads every layer only once.
export interface ImageSink {
  /** Called once, before any write, with the device size. */
  begin(totalBytes: number): Promise<void>;
  write(offset: number, data: Buffer): Promise<void>;
  /** Everything written: make it durable and visible. */
  finish(): Promise<void>;
  /** Something failed: leave nothing behind. Safe to call more than once. */
  abort(): Promise<void>;
}

export interface RandomAccessSink extends ImageSink {
  readonly randomAccess: true;
  /** Makes the ranges read as zeros again (holes where the platform allows). */
  clear(ranges: Array<{ start: number; end: number }>): Promise<void>;
  /** Sets the device size once it is known (writes may precede it). */
  resize(totalBytes: number): Promise<void>;
}

export function isRandomAccess(s: ImageSink): s is RandomAccessSink {
  return (s as Partial<RandomAccessSink>).randomAccess === true;
}

/**
 * A streaming sink that can also take a build in one pass: begun without a
 * size, it holds the first `heldBytes` (written last, in any order) and takes
 * everything after them in increasing offsets; the size comes before the end.
 */
export interface HeldHeadSink extends ImageSink {
  beginHeld(heldBytes: number): Promise<void>;
  /** Sets the device size once it is known, before the writes past the data. */
  resize(totalBytes: number): Promise<void>;
}

export function canHoldHead(s: ImageSink): s is HeldHeadSink {
  return typeof (s as Partial<HeldHeadSink>).beginHeld === 'function';
}
