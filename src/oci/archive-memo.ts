// What we learnt from a docker-archive (layer digests, where extraction put
// the members), remembered in the cache under the file's identity so a
// second open does not hash or decompress the archive again. A stale memo
// cannot do harm: every blob is verified against its digest when opened.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { ArchiveMember } from './archive-tar.js';

export interface MemoMember {
  type: ArchiveMember['type'];
  size: number;
  linkname: string;
  /** Where extraction stored it in the blob cache (compressed archives). */
  digest?: string;
}

export interface ArchiveMemo {
  version: 1;
  /** Uncompressed archives: digest of the region "offset:size". */
  regions: Record<string, string>;
  /** Compressed archives: manifest.json as extracted, and the members. */
  manifestJson?: string;
  members?: Record<string, MemoMember>;
}

export class ArchiveMemoStore {
  private readonly path: string;

  constructor(cacheDir: string, archivePath: string, st: Stats) {
    const identity = [archivePath, st.size, st.mtimeMs, st.ino, st.dev].join('\0');
    this.path = join(cacheDir, 'archives', `${createHash('sha256').update(identity).digest('hex')}.json`);
  }

  async load(): Promise<ArchiveMemo> {
    try {
      const memo = JSON.parse(await readFile(this.path, 'utf8')) as ArchiveMemo;
      if (memo.version === 1 && typeof memo.regions === 'object' && memo.regions !== null) return memo;
    } catch {
      // absent or unreadable: start afresh
    }
    return { version: 1, regions: {} };
  }

  /** Best effort: a cache we cannot write only costs time next run. */
  async save(memo: ArchiveMemo): Promise<void> {
    try {
      await writeFileAtomic(this.path, JSON.stringify(memo), { makeDir: (d) => mkdir(d, { recursive: true }) });
    } catch {
      // ignored on purpose
    }
  }
}
