// Decoding chunks on the read path (digest check, decryption, decompression)
// costs ~1-2 ms of CPU per 512 KiB chunk: on one thread it caps a cold
// sequential read at one core's speed. A lone read is decoded right here
// (no hand-off latency); while other decodes are in flight, chunks go to a
// pool of worker threads (see defaultDecodeWorkers). The pool starts on
// first need and does not keep the process alive when idle.
import { availableParallelism } from 'node:os';
import { decodeChunk } from './codec.js';
import { WorkerPool } from './worker-pool.js';

export interface DecodeTask {
  stored: Uint8Array;
  digest: string;
  key?: Uint8Array;
  salt?: Uint8Array;
  length: number;
}

type ChunkRef = { digest: string; key?: Buffer; salt?: Buffer };

export class ChunkDecoder {
  private pool: WorkerPool<DecodeTask, ArrayBuffer> | null = null;
  /** Chunk reads between fetch start and decode end. */
  private reads = 0;
  /** How many decodes went to a worker (stats). */
  offloaded = 0;

  constructor(private readonly workers = availableParallelism()) {}

  /** Fetches a chunk's stored bytes with `fetch`, then verifies and decodes them. */
  async read(fetch: () => Promise<Buffer>, chunk: ChunkRef, length: number): Promise<Buffer> {
    this.reads++;
    try {
      const stored = await fetch();
      // Alone: decode inline (no hand-off). With other reads in flight: a worker.
      if (this.workers < 1 || this.reads === 1) return decodeChunk(stored, chunk, length);
      return await this.offload(stored, chunk, length);
    } finally {
      this.reads--;
    }
  }

  private async offload(stored: Buffer, chunk: ChunkRef, length: number): Promise<Buffer> {
    this.pool ??= new WorkerPool<DecodeTask, ArrayBuffer>(new URL('./decode-worker.js', import.meta.url), this.workers, { unrefWhenIdle: true });
    this.offloaded++;
    const task: DecodeTask = { stored, digest: chunk.digest, length, ...(chunk.key ? { key: chunk.key } : {}), ...(chunk.salt ? { salt: chunk.salt } : {}) };
    return Buffer.from(await this.pool.run(task));
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }
}

let shared: ChunkDecoder | undefined;

/**
 * Workers by default: one per core beyond the main thread's, none on one or
 * two cores. A hand-off costs ~0.3 ms of CPU per 512 KiB chunk (copy in,
 * message, wake-up) on top of ~1.3 ms of decoding; on two cores the main
 * thread and the NBD client already keep both busy, and measured cold reads
 * were no faster with workers there (see bench/serve).
 */
export function defaultDecodeWorkers(cores = availableParallelism()): number {
  return cores >= 3 ? cores - 1 : 0;
}

/**
 * One decoder for the process (serve, cat, verify share its workers).
 * SMR_DECODE_WORKERS=N sets the pool size (0: always decode inline).
 */
export function sharedDecoder(): ChunkDecoder {
  const env = process.env.SMR_DECODE_WORKERS;
  shared ??= new ChunkDecoder(env !== undefined && /^\d+$/.test(env) ? Number(env) : defaultDecodeWorkers());
  return shared;
}
