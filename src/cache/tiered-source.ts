// The read path of a chunk, tier by tier: decoded chunks in memory (LRU-K),
// stored chunks on local disk, then the origin store. Concurrent requests for
// one missing chunk share one fetch (single flight). Every chunk from disk or
// origin is verified before use (decodeChunk checks its digest).
import { decodeChunk } from '../chunk/codec.js';
import type { RecipeChunk } from '../chunk/types.js';
import type { ChunkSource } from '../blockdev/chunk-source.js';
import type { ChunkReader } from '../store/types.js';
import { SmrError } from '../util/errors.js';
import type { DiskCache } from './disk-cache.js';
import type { LruKCache } from './lru-k.js';

export type Tier = 'memory' | 'disk' | 'origin';

export interface TierStats {
  memoryHits: number;
  diskHits: number;
  originFetches: number;
  originBytes: number;
  errors: number;
}

export interface TieredOptions {
  memory: LruKCache<Buffer>;
  disk?: DiskCache;
  /** Called once per chunk that had to be fetched below memory. */
  onFetch?: (chunk: RecipeChunk, tier: Exclude<Tier, 'memory'>, ms: number, storedBytes: number) => void;
}

export class TieredChunkSource implements ChunkSource {
  readonly stats: TierStats = { memoryHits: 0, diskHits: 0, originFetches: 0, originBytes: 0, errors: 0 };
  private readonly flights = new Map<string, Promise<Buffer>>();

  constructor(private readonly store: ChunkReader, private readonly opts: TieredOptions) {}

  async get(chunk: RecipeChunk, length: number): Promise<Buffer> {
    const hit = this.opts.memory.get(chunk.digest);
    if (hit !== undefined) {
      this.stats.memoryHits++;
      return hit;
    }
    let f = this.flights.get(chunk.digest);
    if (f === undefined) {
      f = this.fetch(chunk, length).finally(() => this.flights.delete(chunk.digest));
      this.flights.set(chunk.digest, f);
    }
    return f;
  }

  /** Whether the chunk is already in memory (for prefetch accounting). */
  inMemory(digest: string): boolean {
    return this.opts.memory.has(digest);
  }

  private async fetch(chunk: RecipeChunk, length: number): Promise<Buffer> {
    const t0 = performance.now();
    let tier: 'disk' | 'origin' = 'disk';
    let fromDisk = this.opts.disk ? await this.opts.disk.get(chunk.digest) : null;
    let data: Buffer | null = null;
    if (fromDisk !== null) {
      try {
        data = decodeChunk(fromDisk, chunk, length);
        this.stats.diskHits++;
      } catch {
        fromDisk = null; // undecodable (a wrong key?): ask the origin
      }
    }
    let storedBytes = fromDisk?.length ?? 0;
    if (data === null) {
      tier = 'origin';
      let stored: Buffer;
      try {
        stored = await this.store.get(chunk.digest);
        data = decodeChunk(stored, chunk, length);
      } catch (e) {
        this.stats.errors++;
        const why = e instanceof Error ? e.message : String(e);
        throw new SmrError((e as SmrError).code ?? 'CHUNK_FETCH_FAILED', `chunk ${chunk.index} (${chunk.digest}): ${why}`);
      }
      storedBytes = stored.length;
      this.stats.originFetches++;
      this.stats.originBytes += stored.length;
      if (this.opts.disk) void this.opts.disk.put(chunk.digest, stored);
    }
    this.opts.memory.set(chunk.digest, data, data.length);
    this.opts.onFetch?.(chunk, tier, performance.now() - t0, storedBytes);
    return data;
  }
}
