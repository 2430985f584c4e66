// An export's extents as base:allocation runs: clipped to the request, with
// neighbours of equal status merged and nonsense (empty or fractional
// lengths) cut off, so a buggy export cannot make us send an invalid reply.
import { STATE_HOLE, STATE_ZERO } from './constants.js';
import type { Extent } from './export.js';

/** Flat (length, flags) pairs; at most maxRuns of them, covering at most length bytes. */
export function extentRuns(extents: readonly Extent[], length: number, maxRuns: number): number[] {
  const runs: number[] = [];
  let covered = 0;
  for (const e of extents) {
    if (covered >= length) break;
    if (!Number.isSafeInteger(e.length) || e.length <= 0) break;
    const len = Math.min(e.length, length - covered);
    const flags = (e.hole ? STATE_HOLE : 0) | (e.zero ? STATE_ZERO : 0);
    const n = runs.length;
    if (n > 0 && runs[n - 1] === flags) {
      runs[n - 2]! += len;
    } else {
      if (n / 2 >= maxRuns) break;
      runs.push(len, flags);
    }
    covered += len;
  }
  return runs;
}
