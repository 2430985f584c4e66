// Bytes received but not yet parsed. Messages are cut out of the socket's
// chunks without joining them: a message inside one chunk is a view of it,
// only one that straddles chunks is copied.

const EMPTY = Buffer.alloc(0);

export class ByteQueue {
  private chunks: Array<Buffer | undefined> = [];
  private first = 0;
  /** Offset into chunks[first]. */
  private head = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Removes and returns n bytes (n <= length). */
  take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const c = this.chunks[this.first]!;
    if (c.length - this.head >= n) {
      const out = c.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    this.takeInto(out, 0);
    return out;
  }

  /** Moves bytes into target from pos until it is full or the queue empty; returns how many. */
  takeInto(target: Buffer, pos: number): number {
    let copied = 0;
    while (pos + copied < target.length && this.length > 0) {
      const c = this.chunks[this.first]!;
      const n = Math.min(c.length - this.head, target.length - pos - copied);
      c.copy(target, pos + copied, this.head, this.head + n);
      copied += n;
      this.advance(n);
    }
    return copied;
  }

  /** Drops up to n bytes; returns how many. */
  skip(n: number): number {
    let dropped = 0;
    while (dropped < n && this.length > 0) {
      const c = this.chunks[this.first]!;
      const k = Math.min(c.length - this.head, n - dropped);
      dropped += k;
      this.advance(k);
    }
    return dropped;
  }

  clear(): void {
    this.chunks = [];
    this.first = 0;
    this.head = 0;
    this.length = 0;
  }

  private advance(n: number): void {
    this.length -= n;
    this.head += n;
    if (this.head === this.chunks[this.first]!.length) {
      this.chunks[this.first] = undefined; // let it be collected
      this.first++;
      this.head = 0;
      if (this.first === this.chunks.length) {
        this.chunks.length = 0;
        this.first = 0;
      } else if (this.first > 64) {
        this.chunks = this.chunks.slice(this.first);
        this.first = 0;
      }
    }
  }
}
