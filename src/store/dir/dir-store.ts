// The local directory store. Layout (a plain HTTP server or an object store
// can hold the same tree):
//   smr-store.json                      marker: format name and version
//   chunks/sha256/<2 hex>/<64 hex>      one read-only file per chunk
//   chunks/sha256/<2 hex>/.tmp-*        a put in progress (never listed)
//   trash/                              chunks a gc is in the middle of deleting
// A new chunk is written to a temporary file in its final directory, synced,
// then renamed: a final name never holds a partial chunk, even after a crash,
// and two writers of one chunk both succeed (same bytes, same name). The
// directory entries are made durable in batches by flush(), not per chunk.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { SmrError } from '../../util/errors.js';
import { checkChunkName, chunkKey, isChunkName } from '../chunk-name.js';
import { isErrno, storeError } from '../../util/fs-errors.js';
import { makeDir } from './make-dir.js';
import { inspectStoreDir, writeMarker } from './marker.js';
import type { ChunkInfo, ChunkStore } from '../types.js';

const TEMP_PREFIX = '.tmp-';
const FANOUT = /^[0-9a-f]{2}$/;
// Parallel stats while listing: enough to keep libuv's pool busy.
const STAT_BATCH = 64;

// ENOTDIR: the store path is a file; ensureReadable() says so.
function absent(e: unknown): boolean {
  return isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR');
}

export class DirStore implements ChunkStore {
  readonly root: string;
  readonly description: string;
  private readonly chunksDir: string;
  private readonly trashDir: string;
  // Unique per process; a counter makes it unique per file.
  private readonly tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private seq = 0;
  private readable: Promise<void> | null = null;
  private writable: Promise<void> | null = null;
  private trashReady: Promise<void> | null = null;
  // Directories that gained an entry since the last flush().
  private dirty = new Set<string>();

  constructor(root: string) {
    this.root = resolve(root);
    this.description = `dir:${this.root}`;
    this.chunksDir = join(this.root, 'chunks', 'sha256');
    this.trashDir = join(this.root, 'trash');
  }

  private file(name: string): string {
    return join(this.root, chunkKey(checkChunkName(name)));
  }

  private nextTemp(dir: string, prefix: string): string {
    return join(dir, `${prefix}${this.tag}-${(this.seq++).toString(36)}`);
  }

  /** Reads need a store or an empty directory; checked once per object. */
  private ensureReadable(): Promise<void> {
    this.readable ??= inspectStoreDir(this.root).then((state) => {
      if (state === 'missing') throw new SmrError('STORE_NOT_FOUND', `the store ${this.root} does not exist`);
    });
    this.readable.catch(() => (this.readable = null));
    return this.readable;
  }

  /** Writes create the store (mkdir -p, then the marker first); once per object. */
  private ensureWritable(): Promise<void> {
    this.writable ??= this.create();
    this.writable.catch(() => (this.writable = null));
    return this.writable;
  }

  private async create(): Promise<void> {
    const state = await inspectStoreDir(this.root);
    try {
      if (state === 'missing') await makeDir(this.root);
      if (state !== 'store') {
        await writeMarker(this.root);
        this.dirty.add(this.root);
        this.dirty.add(dirname(this.root));
      }
      if (await makeDir(this.chunksDir)) {
        this.dirty.add(this.root);
        this.dirty.add(dirname(this.chunksDir));
      }
    } catch (e) {
      throw storeError(e, this.root, 'write');
    }
  }

  async has(name: string): Promise<boolean> {
    const file = this.file(name);
    try {
      await stat(file);
      return true;
    } catch (e) {
      if (!absent(e)) throw storeError(e, this.root, 'read');
    }
    await this.ensureReadable();
    return false;
  }

  async get(name: string): Promise<Buffer> {
    const file = this.file(name);
    try {
      return await readFile(file);
    } catch (e) {
      if (!absent(e)) throw storeError(e, this.root, 'read');
    }
    await this.ensureReadable();
    throw new SmrError('CHUNK_MISSING', `chunk ${name} is not in store ${this.root}`);
  }

  async put(name: string, data: Buffer): Promise<boolean> {
    const file = this.file(name);
    await this.ensureWritable();
    if (await this.touch(file)) return false;
    await this.writeNew(file, data);
    return true;
  }

  /**
   * Marks a present chunk as used now, so a gc running meanwhile keeps it.
   * False when it is not there (never was, or a gc just deleted it).
   */
  private async touch(file: string): Promise<boolean> {
    const now = new Date();
    try {
      await utimes(file, now, now);
      // The utimes may have landed on a copy that a gc had already moved to
      // its trash and judged old, just before it unlinks it: it counts only
      // if the chunk is still under its name now (see gc.ts).
      await stat(file);
      return true;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw storeError(e, this.root, 'write');
    }
  }

  private async writeNew(file: string, data: Buffer): Promise<void> {
    try {
      // The bytes reach the disk before the name does: after a crash a
      // final name holds the whole chunk or nothing.
      await writeFileAtomic(file, data, {
        sync: 'data',
        mode: 0o444,
        prefix: TEMP_PREFIX,
        // First chunk of this fan-out directory (or someone removed it).
        makeDir: async (dir) => {
          if (await makeDir(dir)) this.dirty.add(dirname(dir));
        },
      });
      this.dirty.add(dirname(file));
    } catch (e) {
      throw storeError(e, this.root, 'write');
    }
  }

  /**
   * Makes every chunk put so far durable, names included: fsyncs the
   * directories that gained entries (the chunks' bytes were synced before
   * their rename). Call before writing a recipe that refers to them.
   */
  async flush(): Promise<void> {
    const dirs = [...this.dirty];
    this.dirty = new Set();
    try {
      // Deepest first: a new fan-out directory is synced before its parent names it.
      for (const dir of dirs.sort((a, b) => b.length - a.length)) {
        const fh = await open(dir, 'r');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
    } catch (e) {
      for (const d of dirs) this.dirty.add(d);
      throw storeError(e, this.root, 'write');
    }
  }

  async close(): Promise<void> {
    await this.flush();
  }

  async *list(): AsyncIterable<ChunkInfo> {
    await this.ensureReadable();
    for (const sub of (await this.readdirOrEmpty(this.chunksDir)).filter((s) => FANOUT.test(s)).sort()) {
      const dir = join(this.chunksDir, sub);
      const names = (await this.readdirOrEmpty(dir)).filter((n) => isChunkName(n) && n.startsWith(sub)).sort();
      for (let i = 0; i < names.length; i += STAT_BATCH) {
        const batch = names.slice(i, i + STAT_BATCH);
        const stats = await Promise.all(batch.map((n) => this.statOrNull(join(dir, n))));
        for (let j = 0; j < batch.length; j++) {
          const s = stats[j];
          if (s) yield { name: batch[j]!, mtimeMs: s.mtimeMs, size: s.size };
        }
      }
    }
  }

  private async readdirOrEmpty(dir: string): Promise<string[]> {
    try {
      return await readdir(dir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return [];
      throw storeError(e, this.root, 'read');
    }
  }

  // A chunk can vanish between readdir and stat (a concurrent gc).
  private async statOrNull(file: string): Promise<{ mtimeMs: number; size: number } | null> {
    try {
      return await stat(file);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return null;
      throw storeError(e, this.root, 'read');
    }
  }

  private ensureTrash(): Promise<void> {
    this.trashReady ??= makeDir(this.trashDir).then(() => undefined);
    this.trashReady.catch(() => (this.trashReady = null));
    return this.trashReady;
  }

  /**
   * The delete step of gc (protocol in gc.ts): move into the trash, which is
   * atomic and takes the chunk away from writers; look at its mtime again;
   * if a put refreshed it before the move, move it back, else unlink it.
   */
  async deleteIfUnusedSince(name: string, unusedSinceMs: number): Promise<boolean> {
    const file = this.file(name);
    await this.ensureReadable();
    const trashed = this.nextTemp(this.trashDir, `${name}.`);
    try {
      await this.ensureTrash();
      await rename(file, trashed);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false; // gone already: another gc
      throw storeError(e, this.root, 'write');
    }
    let used: boolean;
    try {
      used = (await stat(trashed)).mtimeMs >= unusedSinceMs;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false; // a recover() put it back
      await this.restore(trashed, file);
      throw storeError(e, this.root, 'read');
    }
    if (used) {
      await this.restore(trashed, file);
      return false;
    }
    try {
      await unlink(trashed);
      return true;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw storeError(e, this.root, 'write');
    }
  }

  // Over whatever is under the name now: a writer's fresh copy has the same bytes.
  private async restore(trashed: string, file: string): Promise<void> {
    try {
      await rename(trashed, file);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw storeError(e, this.root, 'write');
    }
  }

  /**
   * Housekeeping before a gc: puts back every chunk a crashed gc left in the
   * trash (a writer may have refreshed it just before; the gc run that
   * follows judges it again), and removes temporary files that crashed
   * writers left, once they are older than `olderThanMs`.
   */
  async recover(olderThanMs: number): Promise<{ restored: number; removedTemps: number }> {
    await this.ensureReadable();
    let restored = 0;
    let removedTemps = 0;
    for (const t of await this.readdirOrEmpty(this.trashDir)) {
      const name = t.slice(0, 64);
      if (!isChunkName(name) || t[64] !== '.') continue;
      const file = this.file(name);
      try {
        await makeDir(dirname(file));
        await rename(join(this.trashDir, t), file);
        restored++;
      } catch (e) {
        // ENOENT: another gc finished with it meanwhile.
        if (!isErrno(e, 'ENOENT')) throw storeError(e, this.root, 'write');
      }
    }
    for (const sub of (await this.readdirOrEmpty(this.chunksDir)).filter((s) => FANOUT.test(s))) {
      const dir = join(this.chunksDir, sub);
      for (const n of await this.readdirOrEmpty(dir)) {
        if (!n.startsWith(TEMP_PREFIX)) continue;
        const s = await this.statOrNull(join(dir, n));
        if (s === null || s.mtimeMs >= olderThanMs) continue;
        await unlink(join(dir, n)).then(() => removedTemps++, () => {});
      }
    }
    return { restored, removedTemps };
  }
}
