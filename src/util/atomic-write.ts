// Files that appear under their name only complete: written under a unique
// temporary name in the same directory (so the rename stays on one file
// system and is atomic), optionally synced, then renamed into place. A
// failure removes the temporary file; the final name is never partial.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * What reaches the disk before the rename: 'data' (fdatasync: the bytes),
 * 'all' (fsync: bytes and metadata), or 'none' when a crash may lose the
 * file (caches that rebuild). The directory entry itself is the caller's
 * to sync, often in batches.
 */
export type SyncBeforeRename = 'none' | 'data' | 'all';

export interface TempFileOptions {
  /** Permission bits of the new file; default 0o644. */
  mode?: number;
  /**
   * Called once when the directory does not exist, before a second try:
   * creates it (and may note that its parent gained an entry).
   */
  makeDir?: (dir: string) => Promise<unknown>;
}

/** A file being written under a temporary name; commit() renames it into place. */
export class TempFile {
  private closed = false;

  private constructor(readonly path: string, readonly handle: FileHandle) {}

  /** Creates `dir/<prefix><pid>-<random>`, exclusively, open for reading and writing. */
  static async create(dir: string, prefix: string, opts: TempFileOptions = {}): Promise<TempFile> {
    const path = join(dir, `${prefix}${process.pid}-${randomBytes(6).toString('hex')}`);
    const mode = opts.mode ?? 0o644;
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx+', mode);
    } catch (e) {
      if (opts.makeDir === undefined || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await opts.makeDir(dir);
      handle = await open(path, 'wx+', mode);
    }
    return new TempFile(path, handle);
  }

  /** Syncs as asked, closes, renames to `target`; on failure discards and rethrows. */
  async commit(target: string, sync: SyncBeforeRename = 'none'): Promise<void> {
    try {
      if (sync === 'data') await this.handle.datasync();
      else if (sync === 'all') await this.handle.sync();
      await this.close();
      await rename(this.path, target);
    } catch (e) {
      await this.discard();
      throw e;
    }
  }

  /** Closes and removes the temporary file; safe to call more than once. */
  async discard(): Promise<void> {
    await this.close().catch(() => {});
    await unlink(this.path).catch(() => {});
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** The temporary-name prefix beside `path`: hidden, and naming the file it becomes. */
export function tempPrefixFor(path: string): string {
  return `.${basename(path)}.tmp-`;
}

export interface AtomicWriteOptions extends TempFileOptions {
  sync?: SyncBeforeRename;
  /** Temporary-name prefix; default tempPrefixFor(path). */
  prefix?: string;
}

/** Writes `data` to `path` atomically: readers see the old file or the whole new one. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const file = await TempFile.create(dirname(path), opts.prefix ?? tempPrefixFor(path), opts);
  try {
    await file.handle.writeFile(data);
  } catch (e) {
    await file.discard();
    throw e;
  }
  await file.commit(path, opts.sync);
}
