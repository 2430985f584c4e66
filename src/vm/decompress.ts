// Decompressing what a Debian kernel package compresses: the kernel payload
// inside the bzImage and (on newer kernels) .ko.xz / .ko.zst / .ko.gz
// modules. gzip in-process; xz and zstd through their command-line tools,
// which every Debian system has (xz-utils, zstd).
import { gunzipSync } from 'node:zlib';
import { runToolOk } from './tool.js';

export type Compression = 'xz' | 'zstd' | 'gzip';

const MAGIC: Array<[Compression, Buffer]> = [
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['gzip', Buffer.from([0x1f, 0x8b])],
];

export function compressionOf(data: Buffer): Compression | undefined {
  return MAGIC.find(([, m]) => data.subarray(0, m.length).equals(m))?.[0];
}

/**
 * DATA decompressed. Only the first stream counts: the kernel build appends
 * the uncompressed size after its payload, which is not part of the stream.
 */
export async function decompress(data: Buffer, how: Compression): Promise<Buffer> {
  switch (how) {
    case 'gzip':
      return gunzipSync(data);
    case 'xz':
      return runToolOk('xz', ['-dcq', '--single-stream'], { input: data });
    case 'zstd':
      return runToolOk('zstd', ['-dcq'], { input: data });
  }
}
