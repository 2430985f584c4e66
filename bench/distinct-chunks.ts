// The chunks a store would hold for some images: distinct (by SHA-256) and
// not all zero, as the benches that weigh codecs need them.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export interface DistinctChunks {
  /** Distinct non-zero chunks, each its full length (not trimmed). */
  chunks: Buffer[];
  /** Chunks in all the images, and how many of them were all zero. */
  all: number;
  zero: number;
}

export function distinctChunks(images: string[], chunkSize: number): DistinctChunks {
  const chunks: Buffer[] = [];
  let all = 0;
  let zero = 0;
  const seen = new Set<string>();
  const zeros = Buffer.alloc(chunkSize);
  for (const path of images) {
    const fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    for (let off = 0; off < size; off += chunkSize) {
      const b = Buffer.allocUnsafe(Math.min(chunkSize, size - off));
      readSync(fd, b, 0, b.length, off);
      all++;
      if (b.equals(zeros.subarray(0, b.length))) {
        zero++;
        continue;
      }
      const h = createHash('sha256').update(b).digest('hex');
      if (!seen.has(h)) {
        seen.add(h);
        chunks.push(b);
      }
    }
    closeSync(fd);
  }
  return { chunks, all, zero };
}
