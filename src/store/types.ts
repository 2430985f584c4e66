// Content-addressed stores of chunks, by role. Names are lowercase hex
// SHA-256 of the stored bytes. Every backend keeps the same tree, so one
// tree moves unchanged between a directory, a web server and an object store:
//   chunks/sha256/<first two hex>/<hex>
// A backend implements the roles it can: every store reads; a web server
// cannot be written; gc needs a listing and a safe delete.

/** What every store has. */
export interface StoreBase {
  /** Human-readable location, for messages ("dir:/srv/store", "s3://bucket/prefix"). */
  readonly description: string;
  /** Far away (a round trip per request): worth reading ahead and hedging. */
  readonly remote?: boolean;
  /** Frees connections and flushes what is pending. */
  close?(): Promise<void>;
}

/** Reading chunks (serve, cat, verify). */
export interface ChunkReader extends StoreBase {
  /**
   * Whether a chunk is present. It does not mark the chunk as used: writers
   * must call put (which does), never "has, then skip", or a running gc may
   * delete the chunk they rely on.
   */
  has(name: string): Promise<boolean>;
  /**
   * The stored bytes. Missing chunk: SmrError 'CHUNK_MISSING'. Callers
   * verify the digest (decodeChunk does); remote stores also check it
   * themselves so that wrong bytes count as a failed, retried request.
   */
  get(name: string): Promise<Buffer>;
}

/** Writing chunks (convert, chunk). */
export interface ChunkWriter extends StoreBase {
  /**
   * Stores bytes under their name unless present, atomically (never a
   * half-written or wrong chunk under a final name). When present, marks it
   * as used now (so a concurrent gc keeps it). Returns true when it wrote.
   */
  put(name: string, data: Buffer): Promise<boolean>;
  /** Makes every chunk put so far durable, names included (before a recipe is written). */
  flush?(): Promise<void>;
}

export interface ChunkInfo {
  name: string;
  /** Last use (ms since epoch): written, or re-used by a put. */
  mtimeMs: number;
  size: number;
}

/** What gc needs. */
export interface ChunkCollector extends StoreBase {
  /** Every chunk name with its last-use time and size. */
  list(): AsyncIterable<ChunkInfo>;
  /**
   * Removes a chunk if it is still unused since `unusedSinceMs` (see gc for
   * the protocol). Returns true when it deleted.
   */
  deleteIfUnusedSince(name: string, unusedSinceMs: number): Promise<boolean>;
  /** Cleanup before a gc: puts back what a crashed gc left half-deleted. */
  recover?(olderThanMs: number): Promise<unknown>;
}

/** A store with every role (the dir store). */
export type ChunkStore = ChunkReader & ChunkWriter & ChunkCollector;

/** A store as opened from a URI: it reads, and may write or collect. */
export type AnyStore = ChunkReader & Partial<ChunkWriter> & Partial<ChunkCollector>;
