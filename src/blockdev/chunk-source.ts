// Where decoded chunks come from: the store (fetch, verify, decode), possibly
// behind caches. The block view only asks for chunks by their recipe entry.
import { decodeChunk } from '../chunk/codec.js';
import type { RecipeChunk } from '../chunk/types.js';
import type { ChunkReader } from '../store/types.js';

export interface ChunkSource {
  /** The chunk's plaintext, exactly `length` bytes, verified. */
  get(chunk: RecipeChunk, length: number): Promise<Buffer>;
}

export class StoreChunkSource implements ChunkSource {
  constructor(private readonly store: ChunkReader) {}

  async get(chunk: RecipeChunk, length: number): Promise<Buffer> {
    const stored = await this.store.get(chunk.digest);
    return decodeChunk(stored, chunk, length);
  }
}
