// Compressed test data: gzip from node:zlib, zstd from the zstd CLI (skipped
// where it is missing), and hand-made zstd skippable frames.

import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { decompressChunks, type DecompressOptions } from '../../src/tar/index.js';
import { have } from './tar-peers.js';

export const haveZstdCli = have('zstd');

export function gzip(data: Buffer): Buffer {
  return gzipSync(data);
}

/** zstd CLI compression; `args` e.g. ['-19'] or ['--no-check']. */
export function zstd(data: Buffer, args: string[] = []): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
  return r.stdout;
}

/** A skippable frame (magic 0x184D2A5n) holding `payload`. */
export function skippableFrame(payload: Buffer, n = 0): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(0x184d2a50 + n, 0);
  h.writeUInt32LE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** Everything decompressChunks yields for `input` given in pieces of `size`. */
export async function decompressAll(input: Buffer, opts: DecompressOptions = {}, size = 65536): Promise<Buffer> {
  async function* src(): AsyncGenerator<Buffer> {
    for (let i = 0; i < input.length; i += size) yield input.subarray(i, i + size);
  }
  const out: Buffer[] = [];
  for await (const c of decompressChunks(src(), opts)) out.push(c);
  return Buffer.concat(out);
}
