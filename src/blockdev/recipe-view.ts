// The block view of a recipe: readAt(buf, offset) over the image it
// describes, fetching only the chunks a read touches. This is the seam the
// NBD server, the verifier and `smr cat` all read through.
import type { Recipe, RecipeChunk } from '../chunk/types.js';
import { SmrError } from '../util/errors.js';
import type { ChunkSource } from './chunk-source.js';
import { ForwardReadAhead } from './forward-read-ahead.js';

export interface RecipeViewOptions {
  /** Chunks fetched ahead of forward scans (0 or absent: none; use it with a caching source). */
  readAhead?: number;
}

export class RecipeView {
  readonly size: number;
  readonly chunkSize: number;
  readonly chunkCount: number;
  /** index -> chunk; absent = all zeros. */
  private readonly byIndex: Array<RecipeChunk | undefined>;
  private readonly readAhead: ForwardReadAhead | null;

  constructor(readonly recipe: Recipe, private readonly source: ChunkSource, opts: RecipeViewOptions = {}) {
    this.size = recipe.imageSize;
    this.chunkSize = recipe.chunkSize;
    this.chunkCount = Math.ceil(this.size / this.chunkSize);
    this.byIndex = new Array(this.chunkCount);
    for (const c of recipe.chunks) this.byIndex[c.index] = c;
    this.readAhead = opts.readAhead ? new ForwardReadAhead(this.chunkCount, opts.readAhead, (i) => this.chunkData(i)) : null;
  }

  chunk(index: number): RecipeChunk | undefined {
    return this.byIndex[index];
  }

  chunkLength(index: number): number {
    return Math.min(this.chunkSize, this.size - index * this.chunkSize);
  }

  /** The decoded chunk, or null for an all-zero chunk. */
  async chunkData(index: number): Promise<Buffer | null> {
    const c = this.byIndex[index];
    if (c === undefined) return null;
    return this.source.get(c, this.chunkLength(index));
  }

  /**
   * Fills buf with the image's bytes from offset. Returns how many bytes were
   * read: fewer than buf.length only at the end of the image.
   */
  async readAt(buf: Buffer, offset: number): Promise<number> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new SmrError('READ_RANGE', `bad offset ${offset}`);
    const end = Math.min(this.size, offset + buf.length);
    if (end <= offset) return 0;
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((end - 1) / this.chunkSize);
    const parts: Array<Promise<void>> = [];
    for (let i = first; i <= last; i++) {
      this.readAhead?.onRead(i);
      const cStart = i * this.chunkSize;
      const from = Math.max(offset, cStart);
      const to = Math.min(end, cStart + this.chunkSize);
      const dst = from - offset;
      if (this.byIndex[i] === undefined) {
        buf.fill(0, dst, dst + (to - from));
        continue;
      }
      parts.push(
        this.chunkData(i).then((data) => {
          data!.copy(buf, dst, from - cStart, to - cStart);
        }),
      );
    }
    await Promise.all(parts);
    return end - offset;
  }
}
