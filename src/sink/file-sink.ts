// Writes an image to a file: a temporary file next to the target, sparse
// (ranges never written and all-zero writes stay holes), renamed into place
// only when complete, so a failed build never leaves a partial IMAGE.
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SmrError } from '../util/errors.js';
import type { ImageSink } from './types.js';

const FLUSH_AT = 1 << 20;
const ZEROS = Buffer.alloc(FLUSH_AT);

function isZero(b: Buffer): boolean {
  for (let o = 0; o < b.length; o += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - o);
    if (b.compare(ZEROS, 0, n, o, o + n) !== 0) return false;
  }
  return true;
}

export class FileSink implements ImageSink {
  private fh: FileHandle | null = null;
  private readonly tmp: string;
  private pending: Buffer[] = [];
  private pendingAt = 0;
  private pendingLen = 0;
  private lastEnd = 0;
  private total = 0;
  private done = false;

  constructor(private readonly path: string) {
    this.tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  }

  async begin(totalBytes: number): Promise<void> {
    try {
      this.fh = await open(this.tmp, 'wx', 0o644);
      await this.fh.truncate(totalBytes);
    } catch (e) {
      await this.abort();
      throw new SmrError('OUTPUT_FAILED', `cannot create ${this.path}: ${(e as Error).message}`);
    }
    this.total = totalBytes;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (offset < this.lastEnd || offset + data.length > this.total) {
      throw new Error(`FileSink: write at ${offset}+${data.length} out of order or past the end`);
    }
    this.lastEnd = offset + data.length;
    if (this.pendingLen > 0 && offset !== this.pendingAt + this.pendingLen) await this.flush();
    if (this.pendingLen === 0) this.pendingAt = offset;
    this.pending.push(data);
    this.pendingLen += data.length;
    if (this.pendingLen >= FLUSH_AT) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingLen === 0) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
    const at = this.pendingAt;
    this.pending = [];
    this.pendingLen = 0;
    if (isZero(buf)) return; // keep the hole
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await this.fh!.write(buf, off, buf.length - off, at + off);
        off += bytesWritten;
      }
    } catch (e) {
      throw new SmrError('OUTPUT_FAILED', `cannot write ${this.path}: ${(e as Error).message}`);
    }
  }

  async finish(): Promise<void> {
    try {
      await this.flush();
      await this.fh!.sync();
      await this.fh!.close();
      this.fh = null;
      await rename(this.tmp, this.path);
      this.done = true;
    } catch (e) {
      await this.abort();
      if (e instanceof SmrError) throw e;
      throw new SmrError('OUTPUT_FAILED', `cannot finish ${this.path}: ${(e as Error).message}`);
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    if (this.fh) {
      await this.fh.close().catch(() => {});
      this.fh = null;
    }
    await unlink(this.tmp).catch(() => {});
  }
}
