// One level of the chunk read path below the decoded-chunk memory cache: the
// local disk, the shared fleet, the origin store, or anything added later.
// A tier hands back stored bytes exactly as the origin stores them (compressed,
// encrypted where the recipe is) and is never trusted: the tiered source
// verifies every chunk against its digest, in one place, whichever tier it
// came from, and tells the tier when its bytes failed.

export interface ChunkTier {
  /** Stable name for stats and metrics ("disk", "shared", "origin"). */
  readonly name: string;
  /** The stored bytes named `digest`, or null when this tier does not have them. May throw. */
  get(digest: string): Promise<Buffer | null>;
  /** Offered verified stored bytes after a hit below this tier; never throws, may work in the background. */
  put?(digest: string, stored: Buffer): void;
  /** The bytes this tier returned for `digest` failed verification (drop them). */
  rejected?(digest: string): void;
}

export interface TierCounters {
  hits: number;
  misses: number;
  errors: number;
  /** Hits whose bytes failed the digest (then the next tier was asked). */
  corrupt: number;
  /** Stored bytes returned by hits. */
  bytes: number;
}

export const emptyCounters = (): TierCounters => ({ hits: 0, misses: 0, errors: 0, corrupt: 0, bytes: 0 });

/** What happened when one tier was asked for one chunk, with how long it took. */
export type TierOutcome = 'hit' | 'miss' | 'error' | 'corrupt';
export type TierObserver = (tier: string, outcome: TierOutcome, ms: number, bytes: number) => void;
