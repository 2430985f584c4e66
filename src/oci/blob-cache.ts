// The local blob cache, blobs/<alg>/<hex> like an OCI layout, shared by all
// images and processes. A blob appears under its name only complete and
// verified: writers fill a private temp file beside it and rename(2) it into
// place, which is atomic, so two processes fetching the same blob both win
// and a reader never sees half a file. Readers still verify on every open.
import { mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { TempFile } from '../util/atomic-write.js';
import { SmrError } from '../util/errors.js';
import { createDigester, parseDigest, type DigestAlgorithm } from '../util/digest.js';
import { openVerifiedFile, readVerifiedFile } from './blob-file.js';
import type { Descriptor } from './types.js';

export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'stream-my-root');
}

/** A blob being written: bytes are hashed as they go, so commit needs no re-read. */
export class PendingBlob {
  private hash;
  readonly algorithm: DigestAlgorithm;
  bytes = 0;

  constructor(readonly file: TempFile, algorithm: DigestAlgorithm) {
    this.algorithm = algorithm;
    this.hash = createDigester(algorithm);
  }

  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.file.handle.write(chunk, off, chunk.length - off, this.bytes + off);
      off += bytesWritten;
    }
    this.bytes += chunk.length;
  }

  /** Forget what was written (a server ignored our Range and restarted). */
  async reset(): Promise<void> {
    await this.file.handle.truncate(0);
    this.hash = createDigester(this.algorithm);
    this.bytes = 0;
  }

  async writeAll(stream: Readable): Promise<void> {
    for await (const chunk of stream as AsyncIterable<Buffer>) await this.write(chunk);
  }

  /** Digest of what was written so far (consumes the hash: call once, at the end). */
  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

export class BlobCache {
  readonly dir: string;

  constructor(dir: string = defaultCacheDir()) {
    this.dir = dir;
  }

  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'blobs', algorithm, hex);
  }

  /** True when a blob of the right size is present (its content is checked on open). */
  async has(desc: Descriptor): Promise<boolean> {
    try {
      const st = await stat(this.blobPath(desc.digest));
      return st.isFile() && st.size === desc.size;
    } catch {
      return false;
    }
  }

  async begin(algorithm: DigestAlgorithm = 'sha256'): Promise<PendingBlob> {
    const dir = join(this.dir, 'blobs', algorithm);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw new SmrError('CACHE_ERROR', `cannot create blob cache directory ${dir}: ${(err as Error).message}`, { cause: err });
    }
    return new PendingBlob(await TempFile.create(dir, '.tmp-'), algorithm);
  }

  /**
   * Moves a finished blob into place under `digest` (which the caller has
   * checked, or which is the digest just computed). Returns the final path.
   */
  async commit(pending: PendingBlob, digest: string): Promise<string> {
    const target = this.blobPath(digest);
    await pending.file.commit(target);
    return target;
  }

  async discard(pending: PendingBlob): Promise<void> {
    await pending.file.discard();
  }

  /** Writes a whole stream, names the result by its digest; returns digest and size. */
  async storeStream(stream: Readable): Promise<{ digest: string; size: number }> {
    const pending = await this.begin();
    try {
      await pending.writeAll(stream);
      const digest = pending.digest();
      await this.commit(pending, digest);
      return { digest, size: pending.bytes };
    } catch (err) {
      await this.discard(pending);
      throw err;
    }
  }

  open(desc: Descriptor, label: string): Promise<Readable> {
    return openVerifiedFile(this.blobPath(desc.digest), desc, label);
  }

  read(desc: Descriptor, what: string): Promise<Buffer> {
    return readVerifiedFile(this.blobPath(desc.digest), desc, what);
  }
}
