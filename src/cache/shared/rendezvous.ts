// Rendezvous (highest random weight) placement: each node scores each key by
// a hash of both, and a key lives on the top-scoring nodes. Adding or removing
// a node moves only the keys it wins or held, and every worker with the same
// node list agrees without coordinating.
import { createHash } from 'node:crypto';

/** The indexes of `nodes` in descending score for `key`. */
export function rankNodes(nodeIds: readonly string[], key: string): number[] {
  const scored = nodeIds.map((id, i) => ({ i, score: createHash('sha256').update(id).update('\0').update(key).digest().readBigUInt64BE(0) }));
  scored.sort((a, b) => (a.score > b.score ? -1 : a.score < b.score ? 1 : a.i - b.i));
  return scored.map((s) => s.i);
}
