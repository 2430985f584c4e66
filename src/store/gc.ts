// Garbage collection of a chunk store that converts may be writing to.
//
// A chunk is deleted only when no kept recipe references it AND nobody has
// written or re-used it within the grace period. A chunk's mtime is its last
// use: put() writes a new chunk, and for one already present refreshes the
// mtime instead (utimes). gc judges against T - grace - slack, T its start.
//
// Why a convert running meanwhile loses nothing (the same idea as the Lambda
// paper's collector, which takes an unreferenced root through "retired",
// where a use revives it, and "expired" before deleting anything):
//  1. The listing is only a hint. Each candidate is decided again by the
//     store's deleteIfUnusedSince, which first retires it: an atomic rename
//     into the store's trash. From then on no put can reach that file; a put
//     finds the name empty and writes the chunk again (writers hold the bytes).
//  2. It then reads the retired file's mtime again. A put that refreshed the
//     chunk before the rename shows there: the chunk is renamed back (over any
//     copy a writer made meanwhile: same bytes). Only a chunk still old after
//     retirement has expired, and is unlinked.
//  3. One gap is left: a put's utimes looks the name up, then sets the time,
//     and a gc can retire and judge the file in between. So put() checks that
//     the name still exists after its utimes, and writes the chunk if not.
// So every chunk put after T - grace is under its name when gc ends. A
// convert is safe from any gc that starts within the grace period of its
// first put; a later gc must be given its recipe to keep.
//
// Default grace: one hour, far above the time a convert takes and any clock
// skew between hosts sharing a store over a network file system.
import { SmrError } from '../util/errors.js';
import type { ChunkCollector } from './types.js';

export const DEFAULT_GRACE_MS = 60 * 60 * 1000;

// File times come from the kernel's coarse clock, up to a tick behind
// Date.now() (from a server's clock on a network file system): a chunk
// written just after T can look a little older than T.
const CLOCK_SLACK_MS = 2000;

const DELETE_CONCURRENCY = 16;

export interface GcOptions {
  graceMs: number;
  /** Count what would go, delete nothing. */
  dryRun?: boolean;
  /** Chunks looked at so far. */
  onProgress?: (done: number) => void;
}

export interface GcResult {
  /** Referenced by a kept recipe. */
  kept: number;
  /** Deleted (with dryRun: would be). */
  deleted: number;
  deletedBytes: number;
  /** Unreferenced but used within the grace period. */
  young: number;
}

export async function gc(store: ChunkCollector, keep: Iterable<string>, opts: GcOptions): Promise<GcResult> {
  if (!Number.isFinite(opts.graceMs) || opts.graceMs < 0) {
    throw new SmrError('USAGE', `gc grace period must be a duration of 0 or more milliseconds, not ${opts.graceMs}`);
  }
  const keepSet = keep instanceof Set ? (keep as Set<string>) : new Set(keep);
  const unusedSince = Date.now() - opts.graceMs - CLOCK_SLACK_MS;
  // Optional housekeeping (DirStore has it): undo what a crashed gc or
  // writer left behind before judging anything.
  if (!opts.dryRun) await store.recover?.(unusedSince);
  const r: GcResult = { kept: 0, deleted: 0, deletedBytes: 0, young: 0 };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  let seen = 0;
  const judge = async (name: string, size: number): Promise<void> => {
    if (opts.dryRun || (await store.deleteIfUnusedSince(name, unusedSince))) {
      r.deleted++;
      r.deletedBytes += size;
    } else r.young++; // re-used since the listing (or already gone)
    opts.onProgress?.(++seen);
  };
  for await (const c of store.list()) {
    if (keepSet.has(c.name) || c.mtimeMs >= unusedSince) {
      r[keepSet.has(c.name) ? 'kept' : 'young']++;
      opts.onProgress?.(++seen);
      continue;
    }
    // Deletions are a few round trips each: overlap them.
    const p = judge(c.name, c.size).catch((e: unknown) => void (failure ??= e));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    while (inFlight.size >= DELETE_CONCURRENCY) await Promise.race(inFlight);
    if (failure) break;
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  return r;
}
