// A streaming image sink that cuts what the builder writes into chunks as it
// goes: no image file exists at any time. Writes come in increasing offsets;
// a chunk is handed to the chunker as soon as the writer moves past it, and
// the gaps between writes are zeros.
//
// Begun with beginHeld, it also takes a build in one pass: the size comes at
// the end (resize), and the first bytes (the image header, known last) are
// kept in memory and may be written at any time before finish.
import type { Chunker } from '../chunk/chunker.js';
import type { HeldHeadSink } from './types.js';

export class ChunkSink implements HeldHeadSink {
  private total = 0;
  /** Chunk being filled (-1: none yet); chunks below `emitted` are with the chunker. */
  private current = -1;
  private emitted = 0;
  private buf: Buffer | null = null;
  private cursor = 0;
  private held: Buffer | null = null;

  constructor(private readonly chunker: Chunker) {}

  get imageSize(): number {
    return this.total;
  }

  async begin(totalBytes: number): Promise<void> {
    this.total = totalBytes;
  }

  async beginHeld(heldBytes: number): Promise<void> {
    if (heldBytes % this.chunker.chunkSize !== 0) throw new Error(`ChunkSink: held head ${heldBytes} is not a whole number of chunks`);
    this.total = Infinity;
    this.held = Buffer.alloc(heldBytes);
    this.cursor = heldBytes;
    this.emitted = heldBytes / this.chunker.chunkSize;
  }

  async resize(totalBytes: number): Promise<void> {
    if (totalBytes < this.cursor) throw new Error(`ChunkSink: size ${totalBytes} is below what was written (${this.cursor})`);
    this.total = totalBytes;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (this.held !== null && offset + data.length <= this.held.length) {
      data.copy(this.held, offset);
      return;
    }
    if (offset < this.cursor || offset + data.length > this.total) {
      throw new Error(`ChunkSink: write at ${offset}+${data.length} out of order or past the end (${this.cursor}, ${this.total})`);
    }
    const cs = this.chunker.chunkSize;
    let pos = 0;
    while (pos < data.length) {
      const at = offset + pos;
      const index = Math.floor(at / cs);
      if (index !== this.current) await this.moveTo(index);
      const within = at - index * cs;
      const n = Math.min(cs - within, data.length - pos);
      if (this.buf === null) this.buf = this.chunker.buffer(this.chunkLength(index));
      data.copy(this.buf, within, pos, pos + n);
      pos += n;
    }
    this.cursor = offset + data.length;
  }

  private chunkLength(index: number): number {
    const cs = this.chunker.chunkSize;
    return Math.min(cs, this.total - index * cs);
  }

  /** Emits the current chunk and the all-zero ones up to (not including) index. */
  private async moveTo(index: number): Promise<void> {
    for (let i = this.emitted; i < index; i++) {
      if (i === this.current && this.buf !== null) await this.chunker.add(i, this.buf);
      else this.chunker.addZero(this.chunkLength(i));
      this.buf = null;
    }
    this.emitted = Math.max(this.emitted, index);
    this.current = index;
  }

  async finish(): Promise<void> {
    const last = Math.ceil(this.total / this.chunker.chunkSize);
    await this.moveTo(last);
    if (this.held === null) return;
    const cs = this.chunker.chunkSize;
    for (let i = 0; i < this.held.length / cs; i++) {
      // Each chunk must own its memory: it is moved to a worker.
      const chunk = Buffer.from(this.held.subarray(i * cs, (i + 1) * cs));
      await this.chunker.add(i, chunk);
    }
    this.held = null;
  }

  async abort(): Promise<void> {
    this.buf = null;
    this.held = null;
    await this.chunker.abort();
  }
}
