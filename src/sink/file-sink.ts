// Writes an image to a file: a temporary file next to the target, sparse
// (ranges never written and all-zero writes stay holes), renamed into place
// only when complete, so a failed build never leaves a partial IMAGE.
import { execFile } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TempFile, tempPrefixFor } from '../util/atomic-write.js';
import { SmrError } from '../util/errors.js';
import { describeWriteError } from '../util/fs-errors.js';
import { isAllZero } from '../util/zero.js';
import { BLOCK_SIZE } from '../ext4/constants.js';
import type { RandomAccessSink } from './types.js';

const FLUSH_AT = 1 << 20;
/** Writes queued to the thread pool at once, so decoding goes on meanwhile. */
const MAX_IN_FLIGHT = 16;
const ZEROS = Buffer.alloc(FLUSH_AT); // written over small hidden ranges
/**
 * Bytes written between background syncs. The image is synced before it is
 * renamed into place; syncing as it is written lets the disk work while the
 * build does, and leaves only the tail for that last sync.
 */
const SYNC_EVERY = 64 << 20;

/** Below this a range is overwritten with zeros rather than punched. */
const PUNCH_MIN = 256 * 1024;

function punchHole(path: string, start: number, length: number): Promise<boolean> {
  // Node has no fallocate(2); util-linux's fallocate is on every Linux system.
  return new Promise((resolve) => {
    execFile('fallocate', ['--punch-hole', '--keep-size', '--offset', String(start), '--length', String(length), path], (err) => resolve(!err));
  });
}

export class FileSink implements RandomAccessSink {
  readonly randomAccess = true as const;
  private file: TempFile | null = null;
  private fh: FileHandle | null = null;
  private inFlight = new Set<Promise<void>>();
  private failed: unknown = null;
  private pending: Buffer[] = [];
  private pendingAt = 0;
  private pendingLen = 0;
  private done = false;
  private unsynced = 0;
  private syncing: Promise<void> | null = null;

  constructor(private readonly path: string) {}

  async begin(totalBytes: number): Promise<void> {
    try {
      this.file = await TempFile.create(dirname(this.path), tempPrefixFor(this.path));
      this.fh = this.file.handle;
      await this.fh.truncate(totalBytes);
    } catch (e) {
      await this.abort();
      throw new SmrError('OUTPUT_FAILED', `cannot create ${this.path}: ${describeWriteError(e, dirname(this.path))}`);
    }
  }

  async resize(totalBytes: number): Promise<void> {
    await this.settle();
    try {
      await this.fh!.truncate(totalBytes);
    } catch (e) {
      throw new SmrError('OUTPUT_FAILED', `cannot size ${this.path}: ${(e as Error).message}`);
    }
  }

  /**
   * Writes at any offset; a range must not be written twice (zeros are skipped).
   * A write that ends inside a block owns the rest of that block (ext4 blocks
   * have one owner), so a block-aligned write right after it joins the same
   * batch across the zero gap: one system call for many small files, not one each.
   */
  async write(offset: number, data: Buffer): Promise<void> {
    if (this.pendingLen > 0) {
      const end = this.pendingAt + this.pendingLen;
      const gap = offset - end;
      if (gap > 0 && gap < BLOCK_SIZE && offset % BLOCK_SIZE === 0) {
        this.pending.push(ZEROS.subarray(0, gap));
        this.pendingLen += gap;
      } else if (gap !== 0) {
        await this.flush();
      }
    }
    if (this.pendingLen === 0) this.pendingAt = offset;
    this.pending.push(data);
    this.pendingLen += data.length;
    if (this.pendingLen >= FLUSH_AT) await this.flush();
  }

  async clear(ranges: Array<{ start: number; end: number }>): Promise<void> {
    await this.settle();
    for (const r of ranges) {
      const len = r.end - r.start;
      if (len >= PUNCH_MIN && (await punchHole(this.file!.path, r.start, len))) continue;
      for (let o = r.start; o < r.end; o += ZEROS.length) {
        await this.writeAt([ZEROS.subarray(0, Math.min(ZEROS.length, r.end - o))], o);
      }
    }
  }

  private async flush(): Promise<void> {
    if (this.pendingLen === 0) return;
    const bufs = this.pending;
    const at = this.pendingAt;
    const length = this.pendingLen;
    this.pending = [];
    this.pendingLen = 0;
    if (bufs.every(isAllZero)) return; // keep the hole
    if (this.failed) throw this.failed;
    const p: Promise<void> = this.writeAt(bufs, at).then(
      () => void this.inFlight.delete(p),
      (e) => {
        this.inFlight.delete(p);
        this.failed ??= e;
      },
    );
    this.inFlight.add(p);
    this.unsynced += length;
    if (this.unsynced >= SYNC_EVERY && this.syncing === null) this.syncInBackground();
    if (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight);
  }

  private syncInBackground(): void {
    this.unsynced = 0;
    // A failed sync fails the build: Linux may not report it again on the next one.
    this.syncing = this.fh!.datasync().then(
      () => void (this.syncing = null),
      (e) => {
        this.syncing = null;
        this.failed ??= this.writeFailed(e);
      },
    );
  }

  private writeFailed(e: unknown): SmrError {
    return new SmrError('OUTPUT_FAILED', `cannot write ${this.path}: ${describeWriteError(e, dirname(this.path))}`);
  }

  /** Waits for every queued write; rethrows the first failure. */
  private async settle(): Promise<void> {
    await this.flush();
    await Promise.all(this.inFlight);
    await this.syncing;
    if (this.failed) throw this.failed;
  }

  private async writeAt(bufs: Buffer[], at: number): Promise<void> {
    try {
      const total = bufs.reduce((n, b) => n + b.length, 0);
      const { bytesWritten } = await this.fh!.writev(bufs, at);
      if (bytesWritten < total) {
        // Short writes are rare (signals, quotas): finish with plain writes.
        const rest = Buffer.concat(bufs).subarray(bytesWritten);
        for (let off = 0; off < rest.length; ) {
          const r = await this.fh!.write(rest, off, rest.length - off, at + bytesWritten + off);
          if (r.bytesWritten === 0) throw new Error('the write made no progress');
          off += r.bytesWritten;
        }
      }
    } catch (e) {
      throw this.writeFailed(e);
    }
  }

  async finish(): Promise<void> {
    try {
      await this.settle();
      await this.file!.commit(this.path, 'all');
      this.done = true;
    } catch (e) {
      await this.abort();
      if (e instanceof SmrError) throw e;
      throw new SmrError('OUTPUT_FAILED', `cannot finish ${this.path}: ${(e as Error).message}`);
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    await Promise.allSettled(this.inFlight);
    await this.syncing;
    await this.file?.discard();
  }
}
