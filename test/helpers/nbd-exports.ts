// Exports for testing the NBD server: seeded random content with holes that
// blockStatus reports exactly, a writable one over a Buffer, and wrappers that
// slow an export down or make it fail on demand.
import { createCipheriv, createHash } from 'node:crypto';
import { ExportError, type BlockExport, type Extent } from '../../src/nbd/export.js';

/** Seeded pseudo-random bytes: AES-CTR keystream, fast enough for hundreds of MB. */
export function randomBytes(seed: number | string, length: number): Buffer {
  const key = createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** A small seeded PRNG for layouts and test choices (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export interface Layout {
  /** Sorted, disjoint [start, end) ranges that are holes; the rest is data. */
  holes: Array<[number, number]>;
}

/**
 * Alternating data and hole runs of random length (multiples of `align`,
 * between align and maxRun), starting with data.
 */
export function randomLayout(seed: number, size: number, align = 4096, maxRun = 1 << 20): Layout {
  const rnd = prng(seed);
  const holes: Array<[number, number]> = [];
  let pos = 0;
  let hole = false;
  while (pos < size) {
    const len = Math.min(size - pos, align * (1 + Math.floor(rnd() * (maxRun / align))));
    if (hole) holes.push([pos, pos + len]);
    pos += len;
    hole = !hole;
  }
  return { holes };
}

/** Extents of [offset, offset+length) under a layout. */
export function layoutExtents(layout: Layout, size: number, offset: number, length: number): Extent[] {
  const end = Math.min(size, offset + length);
  const out: Extent[] = [];
  let pos = offset;
  for (const [hs, he] of layout.holes) {
    if (he <= pos) continue;
    if (hs >= end) break;
    if (hs > pos) out.push({ length: hs - pos, hole: false, zero: false });
    const stop = Math.min(he, end);
    out.push({ length: stop - Math.max(hs, pos), hole: true, zero: true });
    pos = stop;
  }
  if (pos < end) out.push({ length: end - pos, hole: false, zero: false });
  return out;
}

export interface MemoryExportOptions {
  name: string;
  description?: string;
  size: number;
  seed?: number;
  /** Hole granularity; default 4096. */
  align?: number;
  maxRun?: number;
  preferredBlockSize?: number;
}

/** Read-only: random data with zero holes, reported by blockStatus. */
export class MemoryExport implements BlockExport {
  readonly name: string;
  readonly description?: string;
  readonly size: number;
  readonly readOnly = true;
  readonly preferredBlockSize?: number;
  readonly data: Buffer;
  readonly layout: Layout;
  reads = 0;

  constructor(o: MemoryExportOptions) {
    this.name = o.name;
    this.description = o.description;
    this.size = o.size;
    this.preferredBlockSize = o.preferredBlockSize;
    const seed = o.seed ?? 1;
    this.data = randomBytes(seed, o.size);
    this.layout = randomLayout(seed, o.size, o.align, o.maxRun);
    for (const [s, e] of this.layout.holes) this.data.fill(0, s, e);
  }

  async read(buf: Buffer, offset: number): Promise<void> {
    this.reads++;
    this.data.copy(buf, 0, offset, offset + buf.length);
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    return layoutExtents(this.layout, this.size, offset, length);
  }
}

/** Writable, over a Buffer; counts what it was asked to do. */
export class BufferExport implements BlockExport {
  readonly readOnly = false;
  readonly calls = { write: 0, trim: 0, writeZeroes: 0, flush: 0, cache: 0, fua: 0 };

  constructor(
    readonly name: string,
    readonly data: Buffer,
    readonly description?: string,
  ) {}

  get size(): number {
    return this.data.length;
  }

  async read(buf: Buffer, offset: number): Promise<void> {
    this.data.copy(buf, 0, offset, offset + buf.length);
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    return [{ length: Math.min(length, this.size - offset), hole: false, zero: false }];
  }

  async write(data: Buffer, offset: number, fua: boolean): Promise<void> {
    this.calls.write++;
    if (fua) this.calls.fua++;
    data.copy(this.data, offset);
  }

  async trim(offset: number, length: number): Promise<void> {
    this.calls.trim++;
    this.data.fill(0, offset, offset + length);
  }

  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    this.calls.writeZeroes++;
    if (fua) this.calls.fua++;
    this.data.fill(0, offset, offset + length);
  }

  async flush(): Promise<void> {
    this.calls.flush++;
  }

  async cache(): Promise<void> {
    this.calls.cache++;
  }
}

export interface Faults {
  /** Milliseconds each read and blockStatus waits first. */
  delayMs?: number;
  /** Reads touching [start, end) fail with this. */
  failRange?: { start: number; end: number; error: () => Error };
}

/** Wraps an export with delays and failures, keeping everything else. */
export function faulty<T extends BlockExport>(inner: T, faults: Faults): BlockExport {
  const wait = () => (faults.delayMs ? new Promise((r) => setTimeout(r, faults.delayMs)) : Promise.resolve());
  return {
    name: inner.name,
    description: inner.description,
    size: inner.size,
    readOnly: inner.readOnly,
    preferredBlockSize: inner.preferredBlockSize,
    async read(buf, offset) {
      await wait();
      const f = faults.failRange;
      if (f && offset < f.end && offset + buf.length > f.start) throw f.error();
      return inner.read(buf, offset);
    },
    async blockStatus(offset, length) {
      await wait();
      return inner.blockStatus(offset, length);
    },
  };
}

export { ExportError };
