// Content digests as OCI writes them: "<algorithm>:<hex>". Only algorithms
// the image spec registers and Node hashes natively are accepted, so a typo
// or an exotic algorithm fails with one clear line instead of a hash error.
import { createHash, type Hash } from 'node:crypto';
import { SmrError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** 64 lowercase hex digits: a SHA-256 as chunk names, recipes and traces write it. */
export function isHex64(s: unknown): s is string {
  return typeof s === 'string' && HEX64.test(s);
}

/**
 * Splits and checks a digest. `what` names where it came from for the
 * message (e.g. "layer 2 of docker://x/y").
 */
export function parseDigest(digest: string, what = 'digest'): ParsedDigest {
  const colon = typeof digest === 'string' ? digest.indexOf(':') : -1;
  if (colon <= 0) {
    throw new SmrError('INVALID_DIGEST', `invalid ${what} "${String(digest)}": expected <algorithm>:<hex>`);
  }
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new SmrError(
      'UNSUPPORTED_DIGEST',
      `unsupported digest algorithm "${algorithm}" in ${what} ${digest} (supported: sha256, sha512)`,
    );
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex)) {
    throw new SmrError('INVALID_DIGEST', `invalid ${what} "${digest}": expected ${HEX_LENGTH[algorithm]} lowercase hex digits`);
  }
  return { algorithm, hex };
}

export function createDigester(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** "sha256:4c48b8571d54" — enough to recognise a digest in a message. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon < 0 ? digest : digest.slice(0, colon + 13);
}

/** Throws DIGEST_MISMATCH unless `data` has `digest` (and `size` when given). */
export function verifyBytes(data: Uint8Array, digest: string, what: string, size?: number): void {
  const { algorithm } = parseDigest(digest, what);
  if (size !== undefined && data.length !== size) {
    throw new SmrError('DIGEST_MISMATCH', `${what}: expected ${size} bytes, got ${data.length} (digest ${digest})`);
  }
  const actual = digestOf(data, algorithm);
  if (actual !== digest) {
    throw new SmrError('DIGEST_MISMATCH', `${what}: expected digest ${digest}, content has ${actual}`);
  }
}
