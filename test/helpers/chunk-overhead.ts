// Which of a base image's chunks do not reappear in a derived image, and
// which ext4 structures they hold (from the build's region map).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { LayoutRegion } from '../../src/ext4/plan.js';

export interface ChunkDigest {
  index: number;
  digest: string;
}

/** Digests of the non-zero chunks of an image file. */
export async function chunkDigests(path: string, chunkSize: number): Promise<ChunkDigest[]> {
  const out: ChunkDigest[] = [];
  const zero = Buffer.alloc(chunkSize);
  let index = 0;
  for await (const c of createReadStream(path, { highWaterMark: chunkSize })) {
    const b = c as Buffer;
    if (!b.equals(zero.subarray(0, b.length))) out.push({ index, digest: createHash('sha256').update(b).digest('hex') });
    index++;
  }
  return out;
}

export interface Sharing {
  shared: number;
  total: number;
  /** Base chunks that do not reappear in the derived image. */
  overhead: number;
  /** Per missing chunk: its index and what it holds. */
  missing: Array<{ index: number; holds: string[] }>;
  text: string;
}

/** Region names overlapping [start, end). */
export function regionsIn(regions: LayoutRegion[], start: number, end: number): string[] {
  return regions.filter((r) => r.start < end && r.end > start).map((r) => r.what);
}

/** "header 1, inode table (layer 0) 3, ...": missing chunks counted by what they hold. */
function breakdown(missing: Array<{ holds: string[] }>): string {
  const counts = new Map<string, number>();
  for (const m of missing) {
    const key = m.holds.join(' + ') || 'unmapped';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
}

export async function sharing(base: { path: string; regions: LayoutRegion[] }, derived: string, chunkSize: number): Promise<Sharing> {
  const a = await chunkDigests(base.path, chunkSize);
  const b = new Set((await chunkDigests(derived, chunkSize)).map((c) => c.digest));
  const missing = a.filter((c) => !b.has(c.digest)).map((c) => ({
    index: c.index,
    holds: regionsIn(base.regions, c.index * chunkSize, (c.index + 1) * chunkSize),
  }));
  const shared = a.length - missing.length;
  const pct = ((100 * shared) / a.length).toFixed(1);
  const text = `${shared}/${a.length} (${pct}%) shared, ${missing.length} overhead (${breakdown(missing)})`;
  return { shared, total: a.length, overhead: missing.length, missing, text };
}
