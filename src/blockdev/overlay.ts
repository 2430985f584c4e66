// Copy-on-write overlay for a writable export: writes land in a sparse data
// file at their own offsets, 4 KiB blocks at a time, and two bitmaps say which
// blocks hold data and which were zeroed (TRIM, WRITE_ZEROES) without data.
// Reads merge overlay and base. The base (store, recipe) is never modified.
//
// Durability: FLUSH (and FUA writes) fsync the data file and then replace the
// map file atomically, so after a crash the overlay is as of the last flush,
// which is what a disk with a volatile write cache promises.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bitmap } from '../ext4/bitmap.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { SmrError } from '../util/errors.js';

export const OVERLAY_BLOCK = 4096;
const MAP_MAGIC = Buffer.from('SMROVL01');

export type BaseRead = (buf: Buffer, offset: number) => Promise<void>;

export class Overlay {
  private readonly blocks: number;
  private readonly dataMap: Bitmap;
  private readonly zeroMap: Bitmap;
  private dirty = false;
  /** Writes run one at a time: read-modify-write of partial blocks must not interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly identity: string,
    private readonly temporary: boolean,
  ) {
    this.blocks = Math.ceil(size / OVERLAY_BLOCK);
    this.dataMap = new Bitmap(this.blocks);
    this.zeroMap = new Bitmap(this.blocks);
  }

  /**
   * Opens (or creates) the overlay in dir for an image of `size` bytes whose
   * base is identified by `identity` (a digest of the recipe). Without dir,
   * a temporary overlay that close() discards.
   */
  static async open(dir: string | undefined, size: number, identity: string): Promise<Overlay> {
    const temporary = dir === undefined;
    const d = dir ?? (await mkdtemp(join(tmpdir(), 'smr-overlay-')));
    await mkdir(d, { recursive: true });
    const fh = await open(join(d, 'data'), 'a+').then(async (h) => {
      await h.close();
      return open(join(d, 'data'), 'r+');
    });
    await fh.truncate(size);
    const o = new Overlay(d, fh, size, identity, temporary);
    if (!temporary) await o.load();
    return o;
  }

  private async load(): Promise<void> {
    let raw: Buffer;
    try {
      raw = await readFile(join(this.dir, 'map'));
    } catch {
      return; // a new overlay
    }
    const bytes = this.dataMap.bits.length;
    const idLen = 64;
    if (raw.length !== MAP_MAGIC.length + 8 + idLen + 2 * bytes || !raw.subarray(0, 8).equals(MAP_MAGIC)) {
      throw new SmrError('OVERLAY_INVALID', `${this.dir}/map is not an overlay map for an image of ${this.size} bytes`);
    }
    const id = raw.subarray(16, 16 + idLen).toString('latin1');
    if (id !== this.identity || Number(raw.readBigUInt64LE(8)) !== this.size) {
      throw new SmrError('OVERLAY_MISMATCH', `the overlay in ${this.dir} belongs to another image; use another --overlay directory`);
    }
    this.dataMap.bits.set(raw.subarray(16 + idLen, 16 + idLen + bytes));
    this.zeroMap.bits.set(raw.subarray(16 + idLen + bytes));
  }

  static identityOf(recipeBytes: Buffer): string {
    return createHash('sha256').update(recipeBytes).digest('hex');
  }

  /** Per block: 'base', 'data' (in the overlay) or 'zero'. */
  stateOf(block: number): 'base' | 'data' | 'zero' {
    return this.dataMap.get(block) ? 'data' : this.zeroMap.get(block) ? 'zero' : 'base';
  }

  async read(buf: Buffer, offset: number, base: BaseRead): Promise<void> {
    const end = offset + buf.length;
    let pos = offset;
    const parts: Array<Promise<unknown>> = [];
    while (pos < end) {
      const b = Math.floor(pos / OVERLAY_BLOCK);
      const state = this.stateOf(b);
      // Extend the run while the state stays the same.
      let runEnd = Math.min(end, (b + 1) * OVERLAY_BLOCK);
      while (runEnd < end && this.stateOf(Math.floor(runEnd / OVERLAY_BLOCK)) === state) runEnd = Math.min(end, runEnd + OVERLAY_BLOCK - (runEnd % OVERLAY_BLOCK));
      const dst = buf.subarray(pos - offset, runEnd - offset);
      if (state === 'zero') dst.fill(0);
      else if (state === 'data') parts.push(this.readData(dst, pos));
      else parts.push(base(dst, pos));
      pos = runEnd;
    }
    await Promise.all(parts);
  }

  private async readData(dst: Buffer, pos: number): Promise<void> {
    let off = 0;
    while (off < dst.length) {
      const { bytesRead } = await this.fh.read(dst, off, dst.length - off, pos + off);
      if (bytesRead === 0) {
        dst.fill(0, off);
        break;
      }
      off += bytesRead;
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  write(data: Buffer, offset: number, base: BaseRead, fua: boolean): Promise<void> {
    return this.serial(async () => {
      await this.writeBlocks(data, offset, base);
      if (fua) await this.persist();
    });
  }

  /** TRIM and WRITE_ZEROES: whole blocks become 'zero'; partial edges get zeros written. */
  zero(offset: number, length: number, base: BaseRead, fua: boolean): Promise<void> {
    return this.serial(async () => {
      const end = offset + length;
      const firstFull = Math.ceil(offset / OVERLAY_BLOCK);
      const lastFull = Math.floor(end / OVERLAY_BLOCK); // exclusive
      if (firstFull >= lastFull) {
        await this.writeBlocks(Buffer.alloc(length), offset, base);
      } else {
        if (offset < firstFull * OVERLAY_BLOCK) await this.writeBlocks(Buffer.alloc(firstFull * OVERLAY_BLOCK - offset), offset, base);
        for (let b = firstFull; b < lastFull; b++) {
          this.zeroMap.set(b);
          this.clearBit(this.dataMap, b);
        }
        if (end > lastFull * OVERLAY_BLOCK) await this.writeBlocks(Buffer.alloc(end - lastFull * OVERLAY_BLOCK), lastFull * OVERLAY_BLOCK, base);
        this.dirty = true;
      }
      if (fua) await this.persist();
    });
  }

  private clearBit(m: Bitmap, b: number): void {
    m.bits[b >>> 3]! &= ~(1 << (b & 7));
  }

  private async writeBlocks(data: Buffer, offset: number, base: BaseRead): Promise<void> {
    const end = offset + data.length;
    const first = Math.floor(offset / OVERLAY_BLOCK);
    const last = Math.floor((end - 1) / OVERLAY_BLOCK);
    const start = first * OVERLAY_BLOCK;
    const stop = Math.min(this.size, (last + 1) * OVERLAY_BLOCK);
    let out = data;
    if (offset !== start || end !== stop) {
      // Partial blocks at the edges: fill them from what the image holds now.
      out = Buffer.alloc(stop - start);
      if (offset !== start) await this.read(out.subarray(0, Math.min(OVERLAY_BLOCK, stop - start)), start, base);
      const lastStart = last * OVERLAY_BLOCK;
      if (end !== stop && (last !== first || offset === start)) await this.read(out.subarray(lastStart - start), lastStart, base);
      data.copy(out, offset - start);
    }
    let off = 0;
    while (off < out.length) {
      const { bytesWritten } = await this.fh.write(out, off, out.length - off, start + off);
      off += bytesWritten;
    }
    for (let b = first; b <= last; b++) {
      this.dataMap.set(b);
      this.clearBit(this.zeroMap, b);
    }
    this.dirty = true;
  }

  flush(): Promise<void> {
    return this.serial(() => this.persist());
  }

  private async persist(): Promise<void> {
    if (this.temporary || !this.dirty) return;
    await this.fh.sync();
    const head = Buffer.alloc(16 + 64);
    MAP_MAGIC.copy(head, 0);
    head.writeBigUInt64LE(BigInt(this.size), 8);
    head.write(this.identity, 16, 'latin1');
    await writeFileAtomic(join(this.dir, 'map'), Buffer.concat([head, this.dataMap.bits, this.zeroMap.bits]), { sync: 'all' });
    this.dirty = false;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh.close();
    if (this.temporary) await rm(this.dir, { recursive: true, force: true });
  }
}
