// A chunk as stored (docs/recipe.md): one codec byte and a body (raw trimmed,
// zstd or gzip; compress.ts), the whole optionally encrypted with a key
// derived from the plaintext (encrypt.ts), named by the SHA-256 of those
// stored bytes. Everything here is synchronous: it runs in worker threads.
import { createHash } from 'node:crypto';
import { SmrError } from '../util/errors.js';
import { compressBody, decompressBody } from './compress.js';
import { aes256ctr, chunkKey } from './encrypt.js';
import type { Compression, Encryption } from './types.js';

export { DEFAULT_COMPRESSION, DEFAULT_LEVEL } from './compress.js';
export { chunkKey } from './encrypt.js';

export interface EncodedChunk {
  /** Lowercase hex SHA-256 of `stored`: the chunk's name in the store. */
  digest: string;
  stored: Buffer;
  /** The chunk's key, with convergent encryption. */
  key?: Buffer;
}

export interface EncodeOptions {
  compression: Compression;
  /** Compression level (default: DEFAULT_LEVEL of the codec). */
  level?: number;
  encryption: Encryption;
  /** Tenant salt mixed into the key (with encryption only). */
  salt?: Buffer;
}

function trimmedLength(b: Buffer): number {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return n;
}

/** Same plaintext and options, same stored bytes (fixed levels, no times). */
export function encodeChunk(plain: Buffer, opts: EncodeOptions): EncodedChunk {
  const { codec, body } = compressBody(plain.subarray(0, trimmedLength(plain)), opts.compression, opts.level);
  let stored: Buffer = Buffer.allocUnsafe(1 + body.length);
  stored[0] = codec;
  body.copy(stored, 1);
  let key: Buffer | undefined;
  if (opts.encryption === 'convergent-aes-256-ctr') {
    key = chunkKey(plain, opts.salt);
    stored = aes256ctr(key, stored);
  }
  const digest = createHash('sha256').update(stored).digest('hex');
  return key ? { digest, stored, key } : { digest, stored };
}

function corrupt(digest: string, why: string): SmrError {
  return new SmrError('CHUNK_CORRUPT', `chunk ${digest} is corrupt: ${why}`);
}

/**
 * Verifies stored bytes and decodes them into exactly `logicalLength` bytes of
 * plaintext. Any damage, a wrong key or salt, or a body that would not fit is
 * CHUNK_CORRUPT: never another error, never wrong data.
 */
export function decodeChunk(stored: Buffer, chunk: { digest: string; key?: Buffer; salt?: Buffer }, logicalLength: number): Buffer {
  if (!Number.isSafeInteger(logicalLength) || logicalLength < 0) throw new RangeError(`bad chunk length ${logicalLength}`);
  if (createHash('sha256').update(stored).digest('hex') !== chunk.digest) throw corrupt(chunk.digest, 'its content does not match its digest');
  if (stored.length === 0) throw corrupt(chunk.digest, 'it is empty');
  let inner = stored;
  if (chunk.key !== undefined) {
    if (chunk.key.length !== 32) throw corrupt(chunk.digest, `its key has ${chunk.key.length} bytes, not 32`);
    inner = aes256ctr(chunk.key, stored);
  }
  let out: Buffer;
  try {
    out = decompressBody(inner[0]!, inner.subarray(1), logicalLength);
  } catch (e) {
    const hint = chunk.key ? ' (wrong key?)' : '';
    throw corrupt(chunk.digest, `cannot decode it${hint}: ${(e as Error).message}`);
  }
  // The key is a function of the plaintext: a wrong key or salt, or stored
  // bytes made to match a forged digest, cannot give back the same key.
  if (chunk.key !== undefined && !chunkKey(out, chunk.salt).equals(chunk.key)) {
    throw corrupt(chunk.digest, 'its plaintext does not match its key (wrong key or salt, or tampered)');
  }
  return out;
}
