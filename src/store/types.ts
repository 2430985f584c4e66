// A content-addressed store of chunks. Names are lowercase hex SHA-256 of
// the stored bytes. The same tree layout works for a local directory, a
// plain HTTP server or an object store:
//   chunks/sha256/<first two hex>/<hex>
export interface ChunkStore {
  /** Human-readable location, for messages ("dir:/srv/store"). */
  readonly description: string;
  /**
   * Whether a chunk is present. It does not mark the chunk as used: writers
   * must call put (which does), never "has, then skip", or a running gc may
   * delete the chunk they rely on.
   */
  has(name: string): Promise<boolean>;
  /**
   * The stored bytes. Missing chunk: SmrError 'CHUNK_MISSING'. The caller
   * verifies the digest (stores do not).
   */
  get(name: string): Promise<Buffer>;
  /**
   * Stores bytes under their name unless present, atomically (never a
   * half-written chunk under a final name). When present, marks it as used
   * now (so a concurrent gc keeps it). Returns true when it wrote.
   */
  put(name: string, data: Buffer): Promise<boolean>;
  /** Every chunk name with its last-use time (ms since epoch) and size. */
  list(): AsyncIterable<{ name: string; mtimeMs: number; size: number }>;
  /**
   * Removes a chunk if it is still unused since `unusedSinceMs` (see gc for
   * the protocol). Returns true when it deleted.
   */
  deleteIfUnusedSince(name: string, unusedSinceMs: number): Promise<boolean>;
  /** Makes every chunk put so far durable, names included (before a recipe is written). */
  flush?(): Promise<void>;
  /** Cleanup before a gc: puts back what a crashed gc left half-deleted. */
  recover?(olderThanMs: number): Promise<unknown>;
  close?(): Promise<void>;
}
