// Turns an image, chunk by chunk, into stored chunks and a recipe. All-zero
// chunks are dropped (the recipe leaves them out); the others are encoded in
// worker threads and put into the store, a bounded number at a time.
import { SmrError } from '../util/errors.js';
import type { ChunkWriter } from '../store/types.js';
import { isAllZero } from '../util/zero.js';
import { WorkerPool } from './worker-pool.js';
import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, RECIPE_MEDIA_TYPE, type Compression, type Encryption, type Recipe, type RecipeChunk } from './types.js';

export interface EncodeTask {
  plain: ArrayBuffer;
  length: number;
  compression: Compression;
  level?: number;
  encryption: Encryption;
  salt?: Uint8Array;
}

export interface EncodeResult {
  /** The task's plaintext buffer, handed back for the next chunk. */
  plain: ArrayBuffer;
  digest: string;
  stored: ArrayBuffer;
  storedLength: number;
  key?: Uint8Array;
}

export interface ChunkerOptions {
  chunkSize?: number;
  compression: Compression;
  /** Compression level (default: the codec's DEFAULT_LEVEL). */
  level?: number;
  encryption: Encryption;
  salt?: Buffer;
  /** Worker threads (default: one per core). */
  workers?: number;
  onProgress?: (s: ChunkerStats) => void;
}

export interface ChunkerStats {
  chunks: number;
  zeroChunks: number;
  /** Chunks written to the store (the rest were there already). */
  newChunks: number;
  plainBytes: number;
  storedBytes: number;
  newStoredBytes: number;
}

export function checkChunkSize(n: number): number {
  if (!Number.isInteger(n) || n < MIN_CHUNK_SIZE || n > MAX_CHUNK_SIZE || (n & (n - 1)) !== 0) {
    throw new SmrError('USAGE', `chunk size ${n} must be a power of two from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes`);
  }
  return n;
}

export class Chunker {
  readonly chunkSize: number;
  readonly stats: ChunkerStats = { chunks: 0, zeroChunks: 0, newChunks: 0, plainBytes: 0, storedBytes: 0, newStoredBytes: 0 };
  private readonly pool: WorkerPool<EncodeTask, EncodeResult>;
  private readonly done: RecipeChunk[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;
  private readonly maxInFlight: number;
  /** Plaintext buffers of a whole chunk, back from the workers (at most maxInFlight). */
  private readonly free: ArrayBuffer[] = [];

  constructor(private readonly store: ChunkWriter, private readonly opts: ChunkerOptions) {
    this.chunkSize = checkChunkSize(opts.chunkSize ?? DEFAULT_CHUNK_SIZE);
    this.pool = new WorkerPool(new URL('./encode-worker.js', import.meta.url), opts.workers);
    this.maxInFlight = this.pool.size * 4;
  }

  /**
   * A zeroed buffer of `length` bytes for a chunk's plaintext: a whole chunk
   * reuses one a worker is done with, which spares the allocation, its page
   * faults and the garbage collections that 512 KiB buffers set off.
   */
  buffer(length: number): Buffer {
    const ab = length === this.chunkSize ? this.free.pop() : undefined;
    return ab ? Buffer.from(ab).fill(0) : Buffer.alloc(length);
  }

  /**
   * One chunk of plaintext. `data` must own its memory (it is transferred to
   * a worker and unusable afterwards); shorter than chunkSize only at the end.
   */
  async add(index: number, data: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    this.stats.chunks++;
    this.stats.plainBytes += data.length;
    if (isAllZero(data)) {
      this.stats.zeroChunks++;
      return;
    }
    const p = this.encodeAndStore(index, data).catch((e) => {
      this.failure ??= e;
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    while (this.inFlight.size >= this.maxInFlight) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  /** A chunk known to be all zeros (a gap the writer skipped). */
  addZero(length: number): void {
    this.stats.chunks++;
    this.stats.zeroChunks++;
    this.stats.plainBytes += length;
  }

  /**
   * A chunk encoded earlier with this chunker's options and already put into
   * its store (smr copy re-encoding recipes that share chunks): recorded in
   * the recipe, not encoded or stored again.
   */
  addEncoded(index: number, plainLength: number, chunk: Omit<RecipeChunk, 'index'>): void {
    if (this.failure) throw this.failure;
    this.stats.chunks++;
    this.stats.plainBytes += plainLength;
    this.stats.storedBytes += chunk.storedLength;
    this.done.push({ ...chunk, index });
    this.opts.onProgress?.(this.stats);
  }

  private async encodeAndStore(index: number, data: Buffer): Promise<void> {
    const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : Buffer.from(data);
    const r = await this.pool.run(
      {
        plain: owned.buffer as ArrayBuffer,
        length: owned.length,
        compression: this.opts.compression,
        level: this.opts.level,
        encryption: this.opts.encryption,
        salt: this.opts.salt ? new Uint8Array(this.opts.salt) : undefined,
      },
      [owned.buffer as ArrayBuffer],
    );
    if (r.plain.byteLength === this.chunkSize && this.free.length < this.maxInFlight) this.free.push(r.plain);
    const stored = Buffer.from(r.stored, 0, r.storedLength);
    const wrote = await this.store.put(r.digest, stored);
    this.stats.storedBytes += r.storedLength;
    if (wrote) {
      this.stats.newChunks++;
      this.stats.newStoredBytes += r.storedLength;
    }
    const chunk: RecipeChunk = { index, digest: r.digest, storedLength: r.storedLength };
    if (r.key) {
      chunk.key = Buffer.from(r.key);
      if (this.opts.salt) chunk.salt = this.opts.salt; // as parseRecipe sets it
    }
    this.done.push(chunk);
    this.opts.onProgress?.(this.stats);
  }

  /** Waits for every chunk, then returns the recipe. */
  async finish(imageSize: number, source: Recipe['source']): Promise<Recipe> {
    try {
      await Promise.all(this.inFlight);
      if (this.failure) throw this.failure;
    } finally {
      await this.pool.close();
    }
    const chunks = this.done.sort((a, b) => a.index - b.index);
    return {
      mediaType: RECIPE_MEDIA_TYPE,
      version: 1,
      source,
      imageSize,
      chunkSize: this.chunkSize,
      encoding: {
        compression: this.opts.compression,
        encryption: this.opts.encryption,
        ...(this.opts.encryption !== 'none' && this.opts.salt ? { salt: this.opts.salt } : {}),
      },
      chunks,
    };
  }

  async abort(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    await this.pool.close();
  }
}
