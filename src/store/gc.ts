// Garbage collection of a chunk store that others may be writing to.
//
// A chunk is deleted only when no kept recipe references it AND nobody has
// written or re-used it within the grace period: put() refreshes the mtime of
// a chunk it finds present. The delete itself is retire-then-check
// (DirStore.deleteIfUnusedSince): rename into trash, re-read the mtime, put it
// back if a writer touched it in between; a writer that comes after the
// rename finds nothing and writes the chunk again, since writers always hold
// the bytes. So a convert running during gc loses nothing as long as it
// finishes within the grace period (like the Lambda paper's collector, which
// keeps roots through retired and expired states before deleting).
import type { ChunkStore } from './types.js';

export interface GcResult {
  kept: number;
  deleted: number;
  deletedBytes: number;
  young: number;
}

export async function gc(
  store: ChunkStore,
  keep: Iterable<string>,
  opts: { graceMs: number; dryRun?: boolean; onProgress?: (done: number) => void },
): Promise<GcResult> {
  const keepSet = keep instanceof Set ? (keep as Set<string>) : new Set(keep);
  const r: GcResult = { kept: 0, deleted: 0, deletedBytes: 0, young: 0 };
  const threshold = Date.now() - opts.graceMs;
  let seen = 0;
  for await (const c of store.list()) {
    opts.onProgress?.(++seen);
    if (keepSet.has(c.name)) {
      r.kept++;
    } else if (c.mtimeMs >= threshold) {
      r.young++;
    } else if (opts.dryRun) {
      r.deleted++;
      r.deletedBytes += c.size;
    } else if (await store.deleteIfUnusedSince(c.name, threshold)) {
      r.deleted++;
      r.deletedBytes += c.size;
    } else {
      r.young++;
    }
  }
  return r;
}
