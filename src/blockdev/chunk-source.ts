// Where decoded chunks come from: the store (fetch, verify, decode), possibly
// behind caches. The block view only asks for chunks by their recipe entry.
import { sharedDecoder, type ChunkDecoder } from '../chunk/chunk-decoder.js';
import type { RecipeChunk } from '../chunk/types.js';
import type { ChunkReader } from '../store/types.js';

export interface ChunkSource {
  /** The chunk's plaintext, exactly `length` bytes, verified. */
  get(chunk: RecipeChunk, length: number): Promise<Buffer>;
}

export class StoreChunkSource implements ChunkSource {
  constructor(private readonly store: ChunkReader, private readonly decoder: ChunkDecoder = sharedDecoder()) {}

  async get(chunk: RecipeChunk, length: number): Promise<Buffer> {
    return this.decoder.read(() => this.store.get(chunk.digest), chunk, length);
  }
}
