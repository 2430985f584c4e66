// The read path of a chunk: decoded chunks in memory (LRU-K), then a stack of
// tiers asked in order (local disk, the shared fleet, ..., the origin store
// last). Concurrent requests for one missing chunk share one fetch (single
// flight). Whatever tier answers, the bytes are verified here and only here
// (decodeChunk checks the digest, and the key where encrypted); a hit fills
// the tiers above the one that had it.
import { sharedDecoder, type ChunkDecoder } from '../chunk/chunk-decoder.js';
import type { RecipeChunk } from '../chunk/types.js';
import type { ChunkSource } from '../blockdev/chunk-source.js';
import type { ChunkReader } from '../store/types.js';
import { SmrError } from '../util/errors.js';
import type { DiskCache } from './disk-cache.js';
import type { LruKCache } from './lru-k.js';
import { OriginTier } from './origin-tier.js';
import { emptyCounters, type ChunkTier, type TierCounters, type TierObserver } from './tier.js';

/** A tier's name: 'memory', then each ChunkTier's ('disk', 'shared', 'origin', ...). */
export type Tier = string;

export interface TierStats {
  memoryHits: number;
  memoryMisses: number;
  /** Chunks no tier could give (the read failed). */
  errors: number;
  /** Per tier, by name, in read order. */
  tiers: Record<string, TierCounters>;
  readonly originFetches: number;
  readonly originBytes: number;
}

export interface TieredOptions {
  memory: LruKCache<Buffer>;
  /** The local disk tier, asked first after memory. */
  disk?: DiskCache;
  /** Tiers between memory and the origin, in read order (disk, shared, ...). */
  tiers?: ChunkTier[];
  /** Told of every tier's answer, with its latency (metrics). */
  observe?: TierObserver;
  /** Verifies and decodes (default: the process's shared decoder, worker threads under load). */
  decoder?: ChunkDecoder;
  /** Called once per chunk that had to be fetched below memory. */
  onFetch?: (chunk: RecipeChunk, tier: string, ms: number, storedBytes: number) => void;
}

export class TieredChunkSource implements ChunkSource {
  readonly stats: TierStats;
  readonly tiers: readonly ChunkTier[];
  private readonly flights = new Map<string, Promise<Buffer>>();

  private readonly decoder: ChunkDecoder;

  constructor(store: ChunkReader, private readonly opts: TieredOptions) {
    this.decoder = opts.decoder ?? sharedDecoder();
    this.tiers = [...(opts.disk ? [opts.disk] : []), ...(opts.tiers ?? []), new OriginTier(store)];
    const tiers = Object.fromEntries(this.tiers.map((t) => [t.name, emptyCounters()]));
    this.stats = {
      memoryHits: 0,
      memoryMisses: 0,
      errors: 0,
      tiers,
      // The totals older readers of --stats-out know.
      get originFetches() {
        return tiers.origin!.hits;
      },
      get originBytes() {
        return tiers.origin!.bytes;
      },
    };
  }

  async get(chunk: RecipeChunk, length: number): Promise<Buffer> {
    const hit = this.opts.memory.get(chunk.digest);
    if (hit !== undefined) {
      this.stats.memoryHits++;
      return hit;
    }
    let f = this.flights.get(chunk.digest);
    if (f === undefined) {
      this.stats.memoryMisses++;
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
    let lastError: unknown = null;
    for (let i = 0; i < this.tiers.length; i++) {
      const tier = this.tiers[i]!;
      const counters = this.stats.tiers[tier.name]!;
      const started = performance.now();
      let stored: Buffer | null;
      try {
        stored = await tier.get(chunk.digest);
      } catch (e) {
        counters.errors++;
        this.opts.observe?.(tier.name, 'error', performance.now() - started, 0);
        lastError = e;
        continue;
      }
      if (stored === null) {
        counters.misses++;
        this.opts.observe?.(tier.name, 'miss', performance.now() - started, 0);
        continue;
      }
      const answeredMs = performance.now() - started; // the tier's time, not the decoding's
      let data: Buffer;
      try {
        const bytes = stored;
        data = await this.decoder.read(async () => bytes, chunk, length);
      } catch (e) {
        counters.corrupt++;
        this.opts.observe?.(tier.name, 'corrupt', answeredMs, stored.length);
        tier.rejected?.(chunk.digest);
        lastError = e;
        continue;
      }
      counters.hits++;
      counters.bytes += stored.length;
      this.opts.observe?.(tier.name, 'hit', answeredMs, stored.length);
      for (let j = 0; j < i; j++) this.tiers[j]!.put?.(chunk.digest, stored);
      this.opts.memory.set(chunk.digest, data, data.length);
      this.opts.onFetch?.(chunk, tier.name, performance.now() - t0, stored.length);
      return data;
    }
    this.stats.errors++;
    const why = lastError instanceof Error ? lastError.message : lastError === null ? 'no tier has it' : String(lastError);
    throw new SmrError((lastError as SmrError | null)?.code ?? 'CHUNK_FETCH_FAILED', `chunk ${chunk.index} (${chunk.digest}): ${why}`);
  }
}
