// A plain bitset over blocks or inodes, with run-setting and per-range counts.
export class Bitmap {
  readonly bits: Uint8Array;
  constructor(readonly size: number) {
    this.bits = new Uint8Array(Math.ceil(size / 8));
  }

  set(i: number): void {
    this.bits[i >>> 3]! |= 1 << (i & 7);
  }

  get(i: number): boolean {
    return (this.bits[i >>> 3]! & (1 << (i & 7))) !== 0;
  }

  setRange(start: number, count: number): void {
    let i = start;
    const end = start + count;
    while (i < end && (i & 7) !== 0) this.set(i++);
    while (i + 8 <= end) {
      this.bits[i >>> 3] = 0xff;
      i += 8;
    }
    while (i < end) this.set(i++);
  }

  /** Set bits in [start, start+count). */
  countSet(start: number, count: number): number {
    let n = 0;
    const end = Math.min(start + count, this.size);
    let i = start;
    while (i < end && (i & 7) !== 0) if (this.get(i++)) n++;
    while (i + 8 <= end) {
      let b = this.bits[i >>> 3]!;
      while (b) {
        b &= b - 1;
        n++;
      }
      i += 8;
    }
    while (i < end) if (this.get(i++)) n++;
    return n;
  }

  /**
   * One on-disk bitmap block for [start, start+count): bits past `count` up to
   * the end of the block are set, as ext4 requires for padding.
   */
  block(start: number, count: number, blockSize: number): Buffer {
    const out = Buffer.alloc(blockSize);
    if (start % 8 === 0) {
      const bytes = Math.floor(count / 8);
      out.set(this.bits.subarray(start >>> 3, (start >>> 3) + bytes), 0);
      for (let i = bytes * 8; i < count; i++) if (this.get(start + i)) out[i >>> 3]! |= 1 << (i & 7);
    } else {
      for (let i = 0; i < count; i++) if (this.get(start + i)) out[i >>> 3]! |= 1 << (i & 7);
    }
    for (let i = count; i < blockSize * 8; i++) out[i >>> 3]! |= 1 << (i & 7);
    return out;
  }
}
