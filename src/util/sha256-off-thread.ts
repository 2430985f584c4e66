// SHA-256 of a stream on another thread. A layer's diff_id covers every
// uncompressed byte, and hashing 2 GB takes seconds that the main thread
// needs for parsing and writing. Input is copied into 1 MiB batches (a copy
// is ~20x cheaper than hashing); a batch is moved, not copied, to the worker
// and comes back for reuse, so at most BATCHES MiB are held.
import { WorkerPool } from '../chunk/worker-pool.js';

export type Sha256Task =
  | { op: 'update'; stream: number; batch: ArrayBuffer; length: number }
  | { op: 'digest' | 'drop'; stream: number };

const BATCH_BYTES = 1 << 20;
const BATCHES = 4;

let pool: WorkerPool<Sha256Task, ArrayBuffer | string | null> | null = null;
let nextStream = 0;

/** One worker for the process: tasks run in order, so a stream's updates do too. */
function worker(): WorkerPool<Sha256Task, ArrayBuffer | string | null> {
  pool ??= new WorkerPool(new URL('./sha256-worker.js', import.meta.url), 1, { unrefWhenIdle: true });
  return pool;
}

export class OffThreadSha256 {
  private readonly stream = nextStream++;
  private readonly free: ArrayBuffer[] = [];
  private readonly sent: Array<Promise<ArrayBuffer | string | null>> = [];
  private batch: Buffer | null = null;
  private filled = 0;
  private made = 0;

  /** Adds bytes; the returned promise (when any) must be awaited before the next call. */
  update(chunk: Uint8Array): void | Promise<void> {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.batch === null) {
        const ab = this.free.pop() ?? (this.made < BATCHES ? (this.made++, new ArrayBuffer(BATCH_BYTES)) : null);
        if (ab === null) return this.waitForBatch().then(() => this.update(chunk.subarray(pos)));
        this.batch = Buffer.from(ab);
        this.filled = 0;
      }
      const n = Math.min(chunk.length - pos, BATCH_BYTES - this.filled);
      this.batch.set(chunk.subarray(pos, pos + n), this.filled);
      this.filled += n;
      pos += n;
      if (this.filled === BATCH_BYTES) this.send();
    }
  }

  /** Hex digest of everything added. */
  async digest(): Promise<string> {
    if (this.filled > 0) this.send();
    const d = worker().run({ op: 'digest', stream: this.stream });
    await Promise.all(this.sent);
    return (await d) as string;
  }

  /** Forgets the stream (after a failure). */
  drop(): void {
    if (pool !== null) void pool.run({ op: 'drop', stream: this.stream }).catch(() => {});
  }

  private send(): void {
    const ab = this.batch!.buffer as ArrayBuffer;
    this.sent.push(worker().run({ op: 'update', stream: this.stream, batch: ab, length: this.filled }, [ab]));
    this.batch = null;
    this.filled = 0;
  }

  private async waitForBatch(): Promise<void> {
    this.free.push((await this.sent.shift()!) as ArrayBuffer);
  }
}
