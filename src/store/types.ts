// A content-addressed store of chunks. Names are lowercase hex SHA-256 of
// the stored bytes. The same tree layout works for a local directory, a
// plain HTTP server or an object store:
//   chunks/sha256/<first two hex>/<hex>
export interface ChunkStore {
  /** Human-readable location, for messages ("dir:/srv/store"). */
  readonly description: string;
  /** Whether a chunk is present. */
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
  close?(): Promise<void>;
}
