// A recipe served as an NBD export: reads go through the block view (and the
// copy-on-write overlay when writable), allocation status comes from the
// recipe (zero chunks are holes) and the overlay, and a failed chunk fetch
// fails only the request that needed it, with the chunk and the reason logged.
import type { RecipeView } from '../blockdev/recipe-view.js';
import { OVERLAY_BLOCK, type Overlay } from '../blockdev/overlay.js';
import { ExportError, type BlockExport, type Extent } from '../nbd/export.js';
import type { TraceRecorder } from './trace.js';

export interface RecipeExportOptions {
  name: string;
  description?: string;
  view: RecipeView;
  overlay?: Overlay;
  trace?: TraceRecorder;
  /** Whether a chunk is already in memory (to count reads prefetch got ahead of). */
  isCached?: (digest: string) => boolean;
  log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export interface ExportStats {
  /** Distinct chunks the clients have read. */
  chunksRead: number;
  /** Of those, how many were already in memory at the first read (prefetched). */
  firstReadsCached: number;
  readErrors: number;
}

export class RecipeExport implements BlockExport {
  readonly name: string;
  readonly description?: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly preferredBlockSize: number;
  private readonly view: RecipeView;
  private readonly overlay?: Overlay;
  private readonly seen = new Set<number>();
  readonly stats: ExportStats = { chunksRead: 0, firstReadsCached: 0, readErrors: 0 };

  constructor(private readonly opts: RecipeExportOptions) {
    this.name = opts.name;
    this.description = opts.description;
    this.view = opts.view;
    this.overlay = opts.overlay;
    this.size = this.view.size;
    this.readOnly = this.overlay === undefined;
    this.preferredBlockSize = Math.min(this.view.chunkSize, 32 << 20);
  }

  /** The base image, with tracing and errors mapped to EIO. */
  private readonly base = async (buf: Buffer, offset: number): Promise<void> => {
    const cs = this.view.chunkSize;
    for (let i = Math.floor(offset / cs); i <= Math.floor((offset + buf.length - 1) / cs); i++) {
      const c = this.view.chunk(i);
      if (c === undefined || this.seen.has(i)) continue;
      this.seen.add(i);
      this.stats.chunksRead++;
      if (this.opts.isCached?.(c.digest)) this.stats.firstReadsCached++;
      this.opts.trace?.note(i, c.digest);
    }
    try {
      await this.view.readAt(buf, offset);
    } catch (e) {
      this.stats.readErrors++;
      const msg = `${this.name}: read of ${buf.length} bytes at ${offset} failed: ${(e as Error).message}`;
      this.opts.log('error', msg);
      throw new ExportError('EIO', msg);
    }
  };

  async read(buf: Buffer, offset: number): Promise<void> {
    if (this.overlay) await this.overlay.read(buf, offset, this.base);
    else await this.base(buf, offset);
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    const end = Math.min(this.size, offset + length);
    const out: Extent[] = [];
    const push = (len: number, hole: boolean) => {
      const last = out[out.length - 1];
      if (last && last.hole === hole) last.length += len;
      else out.push({ length: len, hole, zero: hole });
    };
    const cs = this.view.chunkSize;
    let pos = offset;
    while (pos < end) {
      // The overlay decides block by block where it has a say.
      if (this.overlay) {
        const state = this.overlay.stateOf(Math.floor(pos / OVERLAY_BLOCK));
        if (state !== 'base') {
          const stop = Math.min(end, (Math.floor(pos / OVERLAY_BLOCK) + 1) * OVERLAY_BLOCK);
          push(stop - pos, state === 'zero');
          pos = stop;
          continue;
        }
      }
      const i = Math.floor(pos / cs);
      let stop = Math.min(end, (i + 1) * cs);
      if (this.overlay) stop = Math.min(stop, (Math.floor(pos / OVERLAY_BLOCK) + 1) * OVERLAY_BLOCK);
      push(stop - pos, this.view.chunk(i) === undefined);
      pos = stop;
    }
    return out;
  }

  async cache(offset: number, length: number): Promise<void> {
    const cs = this.view.chunkSize;
    const end = Math.min(this.size, offset + length);
    const fetches: Array<Promise<unknown>> = [];
    for (let i = Math.floor(offset / cs); i * cs < end; i++) {
      if (this.view.chunk(i)) fetches.push(this.view.chunkData(i));
    }
    try {
      await Promise.all(fetches);
    } catch (e) {
      this.opts.log('warn', `${this.name}: cache of ${length} bytes at ${offset}: ${(e as Error).message}`);
      throw new ExportError('EIO', (e as Error).message);
    }
  }

  async write(data: Buffer, offset: number, fua: boolean): Promise<void> {
    if (!this.overlay) throw new ExportError('EPERM', 'read-only export');
    await this.overlay.write(data, offset, this.base, fua);
  }

  async trim(offset: number, length: number): Promise<void> {
    if (!this.overlay) throw new ExportError('EPERM', 'read-only export');
    await this.overlay.zero(offset, length, this.base, false);
  }

  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    if (!this.overlay) throw new ExportError('EPERM', 'read-only export');
    await this.overlay.zero(offset, length, this.base, fua);
  }

  async flush(): Promise<void> {
    await this.overlay?.flush();
  }
}
