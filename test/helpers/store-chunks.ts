// Chunks and store trees for the store tests: deterministic chunk bytes that
// any process can regenerate from (seed, index), and a walk of a store's tree
// that checks every file under a final name against its digest.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestChunk {
  index: number;
  name: string;
  data: Buffer;
}

/** Chunk `index` of family `seed`: `size` bytes, different for every (seed, index). */
export function testChunk(seed: string, index: number, size = 4096): TestChunk {
  const data = Buffer.alloc(size);
  data.fill(createHash('sha256').update(`${seed}/${index}`).digest());
  return { index, name: sha256(data), data };
}

export function testChunks(seed: string, count: number, size?: number): TestChunk[] {
  return Array.from({ length: count }, (_, i) => testChunk(seed, i, size));
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function tempDir(what: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `smr-store-${what}-`));
}

export function chunkFile(root: string, name: string): string {
  return join(root, 'chunks', 'sha256', name.slice(0, 2), name);
}

/** Sets a chunk's last use to `ageMs` ago, as if nobody had touched it since. */
export async function age(root: string, names: Iterable<string>, ageMs: number): Promise<void> {
  const t = new Date(Date.now() - ageMs);
  for (const n of names) await utimes(chunkFile(root, n), t, t);
}

export interface TreeReport {
  /** Chunk names present under their final name. */
  chunks: Set<string>;
  /** Files under a final name whose bytes do not hash to it. */
  corrupt: string[];
  /** Leftovers: temporary files of puts, entries in the trash. */
  temps: string[];
  trash: string[];
}

/** Walks the whole tree: every chunk hashed, every leftover named. */
export async function inspectTree(root: string): Promise<TreeReport> {
  const r: TreeReport = { chunks: new Set(), corrupt: [], temps: [], trash: [] };
  const base = join(root, 'chunks', 'sha256');
  for (const sub of await readdir(base).catch(() => [] as string[])) {
    for (const n of await readdir(join(base, sub))) {
      if (n.startsWith('.')) {
        r.temps.push(join(sub, n));
        continue;
      }
      r.chunks.add(n);
      if (sha256(await readFile(join(base, sub, n))) !== n) r.corrupt.push(n);
    }
  }
  r.trash = await readdir(join(root, 'trash')).catch(() => []);
  return r;
}
