// A streaming image sink that cuts what the builder writes into chunks as it
// goes: no image file exists at any time. Writes come in increasing offsets;
// a chunk is handed to the chunker as soon as the writer moves past it, and
// the gaps between writes are zeros.
import type { Chunker } from '../chunk/chunker.js';
import type { ImageSink } from './types.js';

export class ChunkSink implements ImageSink {
  private total = 0;
  private current = -1;
  private buf: Buffer | null = null;
  private cursor = 0;

  constructor(private readonly chunker: Chunker) {}

  get imageSize(): number {
    return this.total;
  }

  async begin(totalBytes: number): Promise<void> {
    this.total = totalBytes;
  }

  async write(offset: number, data: Buffer): Promise<void> {
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
      if (this.buf === null) this.buf = Buffer.alloc(this.chunkLength(index));
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
    for (let i = Math.max(this.current, 0); i < index; i++) {
      if (i === this.current && this.buf !== null) await this.chunker.add(i, this.buf);
      else this.chunker.addZero(this.chunkLength(i));
      this.buf = null;
    }
    this.current = index;
  }

  async finish(): Promise<void> {
    const last = Math.ceil(this.total / this.chunker.chunkSize);
    await this.moveTo(last);
  }

  async abort(): Promise<void> {
    this.buf = null;
    await this.chunker.abort();
  }
}
