// gzip for whole chunks (node:zlib, synchronous): the codec every machine has.
// A gzip member rather than raw deflate so that `gzip -d` reads a body and its
// CRC-32 checks it; 18 bytes of header and trailer per 512 KiB do not matter.
import { gunzipSync, gzipSync } from 'node:zlib';

/** Offset of the OS byte in a gzip header (RFC 1952 2.3). */
const OS_BYTE = 9;
const OS_UNKNOWN = 255;

export function gzipCompress(src: Buffer, level: number): Buffer {
  const out = gzipSync(src, { level });
  // zlib writes the build's OS code (3 on Linux, 19 on macOS): pin it so that
  // the same chunk gets the same name wherever it was made. MTIME is already 0.
  out[OS_BYTE] = OS_UNKNOWN;
  return out;
}

/** Decompresses one or more gzip members; throws past `max` bytes of output. */
export function gunzipBounded(src: Buffer, max: number): Buffer {
  // maxOutputLength stops inflating as soon as the output would pass it: a
  // small bomb costs `max` bytes of work, not what it expands to.
  return gunzipSync(src, { maxOutputLength: Math.max(1, max) });
}
