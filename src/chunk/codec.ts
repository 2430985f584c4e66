// How a chunk is stored (docs/recipe.md): one codec byte, then the body.
//   0 raw: the plaintext without its trailing zero bytes
//   1 zstd, 2 gzip: the compressed plaintext
// Compression is kept only when it saves at least 1/16 of the raw size;
// otherwise raw (decoding raw costs nothing). With convergent encryption the
// whole [codec byte + body] is encrypted with AES-256-CTR under a key derived
// from the plaintext (and the tenant salt), IV zero: equal plaintexts give
// equal stored bytes, so dedup survives; the stored bytes are named by their
// SHA-256. Everything here is synchronous: it runs in worker threads.
import { createCipheriv, createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SmrError } from '../util/errors.js';
import type { Compression, Encryption } from './types.js';
import { zstdCanCompress, zstdCompress, zstdDecompress } from './zstd-block.js';

export const CODEC_RAW = 0;
export const CODEC_ZSTD = 1;
export const CODEC_GZIP = 2;
export const ZSTD_LEVEL = 3;
export const GZIP_LEVEL = 6;
const KEY_LABEL = Buffer.from('stream-my-root chunk key v1\0');
const ZERO_IV = Buffer.alloc(16);

export function compressionAvailable(c: Compression): boolean {
  return c !== 'zstd' || zstdCanCompress();
}

export function defaultCompression(): Compression {
  return zstdCanCompress() ? 'zstd' : 'gzip';
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

export function chunkKey(plain: Buffer, salt?: Buffer): Buffer {
  return createHash('sha256').update(KEY_LABEL).update(salt ?? Buffer.alloc(0)).update(sha256(plain)).digest();
}

function ctr(key: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('aes-256-ctr', key, ZERO_IV);
  return Buffer.concat([c.update(data), c.final()]);
}

function trimmedLength(b: Buffer): number {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return n;
}

export interface EncodedChunk {
  digest: string;
  stored: Buffer;
  key?: Buffer;
}

export function encodeChunk(plain: Buffer, opts: { compression: Compression; encryption: Encryption; salt?: Buffer }): EncodedChunk {
  const rawLen = trimmedLength(plain);
  let codec = CODEC_RAW;
  let body = plain.subarray(0, rawLen);
  if (opts.compression !== 'none' && rawLen > 0) {
    const c = opts.compression === 'zstd' ? zstdCompress(body, ZSTD_LEVEL) : gzipSync(body, { level: GZIP_LEVEL });
    if (c.length <= rawLen - (rawLen >> 4)) {
      codec = opts.compression === 'zstd' ? CODEC_ZSTD : CODEC_GZIP;
      body = c;
    }
  }
  let stored: Buffer = Buffer.allocUnsafe(1 + body.length);
  stored[0] = codec;
  body.copy(stored, 1);
  let key: Buffer | undefined;
  if (opts.encryption === 'convergent-aes-256-ctr') {
    key = chunkKey(plain, opts.salt);
    stored = ctr(key, stored);
  }
  return { digest: sha256(stored).toString('hex'), stored, key };
}

function corrupt(digest: string, why: string): SmrError {
  return new SmrError('CHUNK_CORRUPT', `chunk ${digest}: ${why}`);
}

/**
 * Verifies and decodes stored bytes into exactly `logicalLength` bytes of
 * plaintext. Any damage is CHUNK_CORRUPT, never wrong data.
 */
export function decodeChunk(stored: Buffer, chunk: { digest: string; key?: Buffer; salt?: Buffer }, logicalLength: number): Buffer {
  if (sha256(stored).toString('hex') !== chunk.digest) throw corrupt(chunk.digest, 'content does not match its digest');
  if (stored.length < 1) throw corrupt(chunk.digest, 'empty');
  const inner = chunk.key ? ctr(chunk.key, stored) : stored;
  const codec = inner[0];
  const body = inner.subarray(1);
  let plain: Buffer;
  try {
    if (codec === CODEC_RAW) {
      if (body.length > logicalLength) throw new Error('longer than the chunk');
      plain = body;
    } else if (codec === CODEC_ZSTD) {
      plain = zstdDecompress(body, logicalLength);
    } else if (codec === CODEC_GZIP) {
      plain = gunzipSync(body, { maxOutputLength: logicalLength });
    } else {
      throw new Error(`unknown codec ${codec}`);
    }
  } catch (e) {
    throw corrupt(chunk.digest, `cannot decode: ${(e as Error).message}`);
  }
  if (plain.length > logicalLength) throw corrupt(chunk.digest, 'decodes to more than the chunk');
  const out = Buffer.alloc(logicalLength);
  plain.copy(out);
  // The key is derived from the plaintext: a wrong key or tampered bytes cannot pass.
  if (chunk.key && !chunkKey(out, chunk.salt).equals(chunk.key)) throw corrupt(chunk.digest, 'plaintext does not match its key');
  return out;
}
