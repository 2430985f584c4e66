// gc on S3, with the dir store's guarantee: a chunk that a convert re-uses
// while gc runs is never lost. S3 has no atomic rename and no time stamp a
// client can set, so the dir store's protocol (gc.ts) takes this form:
//
//   PREFIX/chunks/sha256/ab/<hex>   the chunk; LastModified = when written
//   PREFIX/uses/<hex>               written by a put that re-uses the chunk:
//                                   its LastModified is the chunk's last use
//   PREFIX/trash/<hex>              a chunk a gc is in the middle of deleting
//
// A re-using put (s3-store.ts) is HEAD chunk (present) -> PUT uses/<hex> ->
// HEAD chunk again; only if the chunk is still there does it skip the upload
// (the dir store's utimes-then-stat). A gc deletes a chunk old by both times:
//   1. copy it to trash/, then delete it: from now on writers find it
//      missing and upload it themselves (they hold the bytes);
//   2. look at uses/<hex> again: a writer whose second HEAD still saw the
//      chunk wrote its use before that HEAD, so before the delete, so it
//      shows now; then the chunk is copied back from the trash.
//   3. drop the trash copy.
// A gc that crashes in between leaves the chunk in trash/; the next gc
// starts by putting every trashed chunk back (recover), as the dir store does.
import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { chunkKey, isChunkName } from '../chunk-name.js';
import type { ChunkCollector, ChunkInfo } from '../types.js';
import { statusOf } from './s3-errors.js';
import { s3Key, type S3Location } from './s3-uri.js';

/** One S3 call with the store's timeout, retries and one-line errors. */
export type S3Call = <T>(what: string, call: (signal: AbortSignal) => Promise<T>) => Promise<T>;

const notFound = (err: unknown) => statusOf(err) === 404 || (err as { name?: string }).name === 'NotFound' || (err as { name?: string }).name === 'NoSuchKey';

export function usesKey(loc: S3Location, name: string): string {
  return s3Key(loc, `uses/${name}`);
}

export class S3Collector implements Omit<ChunkCollector, 'description'> {
  constructor(
    private readonly client: S3Client,
    private readonly loc: S3Location,
    private readonly call: S3Call,
  ) {}

  private chunk(name: string): string {
    return s3Key(this.loc, chunkKey(name));
  }

  private trash(name: string): string {
    return s3Key(this.loc, `trash/${name}`);
  }

  /** LastModified in ms, or null when the object is missing. */
  async modified(key: string): Promise<number | null> {
    return this.call(`HEAD ${key}`, async (signal) => {
      try {
        const r = await this.client.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key: key }), { abortSignal: signal });
        return r.LastModified?.getTime() ?? 0;
      } catch (err) {
        if (notFound(err)) return null;
        throw err;
      }
    });
  }

  private copy(from: string, to: string): Promise<unknown> {
    return this.call(`COPY ${from}`, (signal) =>
      this.client.send(new CopyObjectCommand({ Bucket: this.loc.bucket, Key: to, CopySource: `${this.loc.bucket}/${encodeURIComponent(from).replace(/%2F/g, '/')}` }), { abortSignal: signal }),
    );
  }

  private delete(key: string): Promise<unknown> {
    return this.call(`DELETE ${key}`, (signal) => this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: key }), { abortSignal: signal }));
  }

  private async *keys(prefix: string): AsyncIterable<{ key: string; modified: number; size: number }> {
    let token: string | undefined;
    do {
      const page = await this.call(`LIST ${prefix}`, (signal) =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: prefix, ContinuationToken: token }), { abortSignal: signal }),
      );
      for (const o of page.Contents ?? []) yield { key: o.Key!, modified: o.LastModified?.getTime() ?? 0, size: o.Size ?? 0 };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Chunks with their write time (a later use shows in uses/, which deleteIfUnusedSince reads). */
  async *list(): AsyncIterable<ChunkInfo> {
    for await (const o of this.keys(s3Key(this.loc, 'chunks/sha256/'))) {
      const name = o.key.slice(o.key.lastIndexOf('/') + 1);
      if (isChunkName(name)) yield { name, mtimeMs: o.modified, size: o.size };
    }
  }

  private async lastUse(name: string): Promise<number | null> {
    const [written, used] = await Promise.all([this.modified(this.chunk(name)), this.modified(usesKey(this.loc, name))]);
    return written === null ? null : Math.max(written, used ?? 0);
  }

  async deleteIfUnusedSince(name: string, unusedSinceMs: number): Promise<boolean> {
    const before = await this.lastUse(name);
    if (before === null || before >= unusedSinceMs) return false;
    try {
      await this.copy(this.chunk(name), this.trash(name));
    } catch (err) {
      if ((await this.modified(this.chunk(name))) === null) return false; // another gc took it
      throw err;
    }
    await this.delete(this.chunk(name));
    const used = await this.modified(usesKey(this.loc, name));
    if (used !== null && used >= unusedSinceMs) {
      // Re-used meanwhile: put it back, unless a writer uploaded it again already.
      if ((await this.modified(this.chunk(name))) === null) await this.copy(this.trash(name), this.chunk(name));
      await this.delete(this.trash(name));
      return false;
    }
    await this.delete(this.trash(name));
    if (used !== null) await this.delete(usesKey(this.loc, name));
    return true;
  }

  /** Puts back every chunk a crashed gc left in the trash. */
  async recover(): Promise<{ restored: number }> {
    let restored = 0;
    for await (const o of this.keys(s3Key(this.loc, 'trash/'))) {
      const name = o.key.slice(o.key.lastIndexOf('/') + 1);
      if (!isChunkName(name)) continue;
      if ((await this.modified(this.chunk(name))) === null) {
        await this.copy(o.key, this.chunk(name));
        restored++;
      }
      await this.delete(o.key);
    }
    return { restored };
  }
}
