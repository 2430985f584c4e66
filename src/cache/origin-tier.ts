// The origin store as the last tier: it either has the chunk or the read
// fails, so a missing chunk is an error (with the store's own code) rather
// than a miss.
import type { ChunkReader } from '../store/types.js';
import type { ChunkTier } from './tier.js';

export class OriginTier implements ChunkTier {
  readonly name = 'origin';
  constructor(private readonly store: ChunkReader) {}

  get(digest: string): Promise<Buffer> {
    return this.store.get(digest);
  }
}
