// The local directory store. Layout (the same tree can be served by a plain
// HTTP server or copied to an object store):
//   smr-store.json                      marker, format version
//   chunks/sha256/<2 hex>/<64 hex>      one file per chunk, named by content
//   trash/                              chunks gc is in the middle of deleting
// Writes are atomic: a temporary file in the same directory, then rename;
// two writers of one chunk both succeed (same content, same name).
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SmrError } from '../util/errors.js';
import type { ChunkStore } from './types.js';

const MARKER = 'smr-store.json';
const NAME = /^[0-9a-f]{64}$/;

function fsWhy(e: unknown, store: string): SmrError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new SmrError('STORE_FULL', `no space left on the device holding the store ${store}`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new SmrError('STORE_NOT_WRITABLE', `the store ${store} is not writable (${code})`);
  return new SmrError('STORE_IO', `store ${store}: ${(e as Error).message}`);
}

export class DirStore implements ChunkStore {
  readonly description: string;
  private markerChecked = false;
  private markerWritten = false;

  constructor(readonly root: string) {
    this.description = `dir:${root}`;
  }

  private path(name: string): string {
    if (!NAME.test(name)) throw new SmrError('CHUNK_NAME', `'${name}' is not a chunk name (64 lowercase hex digits)`);
    return join(this.root, 'chunks', 'sha256', name.slice(0, 2), name);
  }

  /** Reads need an existing store; an empty or missing directory has no chunks. */
  private async checkMarker(): Promise<void> {
    if (this.markerChecked) return;
    try {
      await readFile(join(this.root, MARKER));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw fsWhy(e, this.description);
      let entries: string[];
      try {
        entries = await readdir(this.root);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'ENOENT') throw new SmrError('STORE_NOT_FOUND', `store ${this.root} does not exist`);
        throw fsWhy(e2, this.description);
      }
      if (entries.length > 0) throw new SmrError('STORE_INVALID', `${this.root} is not a stream-my-root store (no ${MARKER})`);
    }
    this.markerChecked = true;
  }

  private async ensureMarker(): Promise<void> {
    if (this.markerWritten) return;
    await this.checkMarker().catch((e: SmrError) => {
      if (e.code !== 'STORE_NOT_FOUND') throw e;
    });
    try {
      await mkdir(join(this.root, 'chunks', 'sha256'), { recursive: true });
      await writeFile(join(this.root, MARKER), `${JSON.stringify({ format: 'stream-my-root-store', version: 1 })}\n`, { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    } catch (e) {
      throw fsWhy(e, this.description);
    }
    this.markerWritten = true;
  }

  async has(name: string): Promise<boolean> {
    const p = this.path(name);
    try {
      await stat(p);
      return true;
    } catch {
      return false;
    }
  }

  async get(name: string): Promise<Buffer> {
    const p = this.path(name);
    try {
      return await readFile(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        await this.checkMarker();
        throw new SmrError('CHUNK_MISSING', `chunk ${name} is not in store ${this.root}`);
      }
      throw fsWhy(e, this.description);
    }
  }

  async put(name: string, data: Buffer): Promise<boolean> {
    const p = this.path(name);
    await this.ensureMarker();
    // Present: mark as used now, so a gc running meanwhile keeps it.
    try {
      const now = new Date();
      await utimes(p, now, now);
      return false;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsWhy(e, this.description);
    }
    const dir = join(this.root, 'chunks', 'sha256', name.slice(0, 2));
    const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(dir, { recursive: true });
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(data);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, p);
      return true;
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw fsWhy(e, this.description);
    }
  }

  async *list(): AsyncIterable<{ name: string; mtimeMs: number; size: number }> {
    await this.checkMarker();
    const base = join(this.root, 'chunks', 'sha256');
    let subs: string[];
    try {
      subs = (await readdir(base)).sort();
    } catch {
      return;
    }
    for (const sub of subs) {
      let names: string[];
      try {
        names = (await readdir(join(base, sub))).sort();
      } catch {
        continue;
      }
      for (const n of names) {
        if (!NAME.test(n)) continue;
        const s = await stat(join(base, sub, n)).catch(() => null);
        if (s) yield { name: n, mtimeMs: s.mtimeMs, size: s.size };
      }
    }
  }

  /**
   * The delete step of gc: move to trash (atomic), then look again. A put that
   * refreshed the chunk just before the move shows in its mtime: move it back.
   * A put just after finds it gone and writes it again (it has the bytes).
   */
  async deleteIfUnusedSince(name: string, unusedSinceMs: number): Promise<boolean> {
    const p = this.path(name);
    const trashDir = join(this.root, 'trash');
    const t = join(trashDir, `${name}.${process.pid}.${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(trashDir, { recursive: true });
      await rename(p, t);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fsWhy(e, this.description);
    }
    const s = await stat(t);
    if (s.mtimeMs >= unusedSinceMs) {
      await rename(t, p).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw fsWhy(e, this.description);
      });
      return false;
    }
    await unlink(t);
    return true;
  }
}
