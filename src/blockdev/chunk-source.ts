// Where decoded chunks come from: the store (fetch, verify, decode), possibly
// behind caches. The block view only asks for chunks by their recipe entry.
import { decodeChunk } from '../chunk/codec.js';
import type { RecipeChunk } from '../chunk/types.js';
import type { ChunkStore } from '../store/types.js';

export interface ChunkSource {
  /** The chunk's plaintext, exactly `length` bytes, verified. */
  get(chunk: RecipeChunk, length: number): Promise<Buffer>;
}

export class StoreChunkSource implements ChunkSource {
  constructor(private readonly store: ChunkStore) {}

  async get(chunk: RecipeChunk, length: number): Promise<Buffer> {
    const stored = await this.store.get(chunk.digest);
    return decodeChunk(stored, chunk, length);
  }
}

/**
 * A small LRU of decoded chunks with single flight: concurrent readers of a
 * missing chunk share one fetch.
 */
export class CachedChunkSource implements ChunkSource {
  private readonly cache = new Map<string, Buffer>();
  private readonly flights = new Map<string, Promise<Buffer>>();

  constructor(private readonly inner: ChunkSource, private readonly capacity: number) {}

  async get(chunk: RecipeChunk, length: number): Promise<Buffer> {
    const key = chunk.digest;
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.cache.delete(key); // refresh recency
      this.cache.set(key, hit);
      return hit;
    }
    let flight = this.flights.get(key);
    if (flight === undefined) {
      flight = this.inner.get(chunk, length).then(
        (b) => {
          this.flights.delete(key);
          if (this.capacity > 0) {
            this.cache.set(key, b);
            while (this.cache.size > this.capacity) this.cache.delete(this.cache.keys().next().value as string);
          }
          return b;
        },
        (e) => {
          this.flights.delete(key);
          throw e;
        },
      );
      this.flights.set(key, flight);
    }
    return flight;
  }
}
