// A pass-through stream that checks bytes against a descriptor while they
// flow, so a consumer never needs a second pass: the stream ends normally
// only when size and digest matched, otherwise it fails with DIGEST_MISMATCH
// (a short read is a mismatch too: the blob was cut).
import { Transform, type TransformCallback } from 'node:stream';
import { SmrError } from './errors.js';
import { createDigester, parseDigest } from './digest.js';

export interface VerifyOptions {
  digest: string;
  /** Expected length; omitted when unknown (then only the digest is checked). */
  size?: number;
  /** Names the blob in error messages, e.g. "layer 1 (sha256:ab…)". */
  label: string;
}

export class DigestVerifier extends Transform {
  readonly expected: VerifyOptions;
  private readonly hash;
  private readonly algorithm;
  bytes = 0;

  constructor(expected: VerifyOptions) {
    super();
    this.expected = expected;
    this.algorithm = parseDigest(expected.digest, expected.label).algorithm;
    this.hash = createDigester(this.algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    const { size, label, digest } = this.expected;
    if (size !== undefined && this.bytes > size) {
      cb(new SmrError('DIGEST_MISMATCH', `${label}: more than the ${size} bytes its descriptor gives (digest ${digest})`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const { size, label, digest } = this.expected;
    if (size !== undefined && this.bytes !== size) {
      cb(new SmrError('DIGEST_MISMATCH', `${label}: short read, ${this.bytes} of ${size} bytes (digest ${digest})`));
      return;
    }
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== digest) {
      cb(new SmrError('DIGEST_MISMATCH', `${label}: content has digest ${actual}, expected ${digest}`));
      return;
    }
    cb();
  }
}
