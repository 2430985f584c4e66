// Cuts a raw image (any file or block device) into chunks, reading it once,
// sequentially, a chunk at a time.
import { open } from 'node:fs/promises';
import { SmrError } from '../util/errors.js';
import type { Chunker } from './chunker.js';

export async function chunkFile(path: string, chunker: Chunker, onBytes?: (n: number) => void): Promise<number> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SmrError('INPUT_NOT_FOUND', code === 'ENOENT' ? `${path} does not exist` : `cannot open ${path}: ${(e as Error).message}`);
  }
  try {
    const cs = chunker.chunkSize;
    // A fresh buffer per chunk (it is handed to a worker thread); the next
    // read is in flight while the current chunk is dispatched.
    const readChunk = async (pos: number): Promise<Buffer> => {
      const buf = Buffer.allocUnsafeSlow(cs);
      let filled = 0;
      while (filled < cs) {
        const { bytesRead } = await fh.read(buf, filled, cs - filled, pos + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === cs ? buf : buf.subarray(0, filled);
    };
    let offset = 0;
    let next = readChunk(0);
    for (let index = 0; ; index++) {
      const buf = await next;
      const n = buf.length; // add() transfers buf: it reads as empty afterwards
      if (n === 0) break;
      offset += n;
      if (n === cs) next = readChunk(offset);
      onBytes?.(n);
      await chunker.add(index, buf);
      if (n < cs) break;
    }
    return offset;
  } catch (e) {
    if (e instanceof SmrError) throw e;
    throw new SmrError('INPUT_IO', `cannot read ${path}: ${(e as Error).message}`);
  } finally {
    await fh.close();
  }
}
