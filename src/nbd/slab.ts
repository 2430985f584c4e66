// Reply buffers for small replies, cut from shared slabs. Creating an
// ArrayBuffer per 4 KiB read costs more than the read itself; slices of a
// larger one cost a view. A slab is never reused, only dropped: it is freed
// once every slice of it has been written and collected, so nothing written
// can be overwritten.

const SLAB_SIZE = 512 << 10;
/** Larger buffers are allocated on their own: their cost is per byte anyway. */
const SLICE_MAX = 32 << 10;

let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let used = 0;

export function allocReply(size: number): Buffer {
  if (size > SLICE_MAX) return Buffer.allocUnsafe(size);
  if (used + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    used = 0;
  }
  const b = slab.subarray(used, used + size);
  // Keep slices 8-byte aligned.
  used += (size + 7) & ~7;
  return b;
}
