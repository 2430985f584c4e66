// What the NBD server serves: a block device with a name. The server knows
// nothing of recipes or caches; exports adapt them to this interface.

export interface Extent {
  /** Bytes from the previous extent's end (the first starts at the query offset). */
  length: number;
  /** Neither, or both: a hole that reads as zeros. */
  hole: boolean;
  zero: boolean;
}

export interface BlockExport {
  readonly name: string;
  readonly description?: string;
  readonly size: number;
  readonly readOnly: boolean;
  /** Preferred I/O size hint (e.g. the chunk size); minimum is 1, maximum 32 MiB. */
  readonly preferredBlockSize?: number;
  /** Fills buf from offset (offset + buf.length <= size). Rejects with an errno-style error to fail only this request. */
  read(buf: Buffer, offset: number): Promise<void>;
  /**
   * Allocation status from offset, covering at least one byte and at most
   * length bytes (extents may end short; the server merges/clips).
   */
  blockStatus(offset: number, length: number): Promise<Extent[]>;
  /** Fetch ahead into the cache (NBD_CMD_CACHE); may be a no-op. */
  cache?(offset: number, length: number): Promise<void>;
  /** Writable exports only. */
  write?(data: Buffer, offset: number, fua: boolean): Promise<void>;
  trim?(offset: number, length: number): Promise<void>;
  writeZeroes?(offset: number, length: number, fua: boolean): Promise<void>;
  flush?(): Promise<void>;
}

/** Errors an export may throw to set the NBD error of one request. */
export class ExportError extends Error {
  constructor(readonly errno: 'EIO' | 'EPERM' | 'EINVAL' | 'ENOSPC' | 'ENOMEM' | 'EOVERFLOW' | 'ENOTSUP', message: string) {
    super(message);
  }
}
