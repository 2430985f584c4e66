// A bounded cache of stored chunks on local disk, the tier below memory. It
// survives restarts (the index is rebuilt from the directory at open). Its
// bytes are verified by the tiered source like any tier's; a damaged file is
// reported back (rejected) and removed, so it costs a refetch, never data.
// Eviction is least-recently-used by access time kept in memory.
import { mkdir, readFile, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { isHex64 } from '../util/digest.js';
import type { ChunkTier } from './tier.js';

export interface DiskCacheStats {
  hits: number;
  misses: number;
  corrupt: number;
  evictions: number;
  bytes: number;
  entries: number;
}

export class DiskCache implements ChunkTier {
  readonly name = 'disk';
  private readonly writes = new Set<Promise<void>>();
  /** name -> size, in least-recently-used-first order (Map keeps insertion order). */
  private readonly index = new Map<string, number>();
  private bytes = 0;
  readonly stats: DiskCacheStats = { hits: 0, misses: 0, corrupt: 0, evictions: 0, bytes: 0, entries: 0 };

  private constructor(private readonly dir: string, private readonly maxBytes: number) {}

  static async open(dir: string, maxBytes: number): Promise<DiskCache> {
    const c = new DiskCache(dir, maxBytes);
    await mkdir(join(dir, 'chunks'), { recursive: true });
    // Rebuild the index, oldest access first, dropping leftovers of crashed writes.
    const found: Array<{ name: string; size: number; atime: number }> = [];
    for (const sub of await readdir(join(dir, 'chunks'))) {
      const d = join(dir, 'chunks', sub);
      let names: string[];
      try {
        names = await readdir(d);
      } catch {
        continue;
      }
      for (const n of names) {
        if (!isHex64(n)) {
          await unlink(join(d, n)).catch(() => {});
          continue;
        }
        const s = await stat(join(d, n)).catch(() => null);
        if (s) found.push({ name: n, size: s.size, atime: Math.max(s.atimeMs, s.mtimeMs) });
      }
    }
    found.sort((a, b) => a.atime - b.atime);
    for (const f of found) {
      c.index.set(f.name, f.size);
      c.bytes += f.size;
    }
    await c.evictTo(c.maxBytes);
    c.sync();
    return c;
  }

  private path(name: string): string {
    return join(this.dir, 'chunks', name.slice(0, 2), name);
  }

  private sync(): void {
    this.stats.bytes = this.bytes;
    this.stats.entries = this.index.size;
  }

  /** The stored bytes, or null when absent (unverified: see rejected). */
  async get(name: string): Promise<Buffer | null> {
    const size = this.index.get(name);
    if (size === undefined) {
      this.stats.misses++;
      return null;
    }
    let data: Buffer;
    try {
      data = await readFile(this.path(name));
    } catch {
      this.drop(name);
      this.stats.misses++;
      return null;
    }
    this.index.delete(name); // most recently used goes last
    this.index.set(name, data.length);
    this.stats.hits++;
    return data;
  }

  /** The bytes of `name` failed verification: forget and delete them. */
  rejected(name: string): void {
    this.stats.corrupt++;
    this.drop(name);
    void unlink(this.path(name)).catch(() => {});
  }

  /** Stores verified bytes in the background; failures only cost the cache. */
  put(name: string, data: Buffer): void {
    const w = this.write(name, data).finally(() => this.writes.delete(w));
    this.writes.add(w);
  }

  /** Resolves when the writes started so far are done. */
  async idle(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  /** Temp file + rename, so a crash never leaves a partial chunk under its name. */
  private async write(name: string, data: Buffer): Promise<void> {
    if (!isHex64(name) || this.index.has(name) || data.length > this.maxBytes) return;
    await this.evictTo(this.maxBytes - data.length);
    try {
      await writeFileAtomic(this.path(name), data, { makeDir: (d) => mkdir(d, { recursive: true }) });
      this.index.set(name, data.length);
      this.bytes += data.length;
      this.sync();
    } catch {
      // a cache that cannot write only misses
    }
  }

  private drop(name: string): void {
    const size = this.index.get(name);
    if (size === undefined) return;
    this.index.delete(name);
    this.bytes -= size;
    this.sync();
  }

  private async evictTo(limit: number): Promise<void> {
    while (this.bytes > limit && this.index.size > 0) {
      const victim = this.index.keys().next().value as string;
      this.drop(victim);
      this.stats.evictions++;
      await unlink(this.path(victim)).catch(() => {});
    }
  }
}
