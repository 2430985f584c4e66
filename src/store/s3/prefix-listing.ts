// Existence checks by listing where that is cheaper than a HEAD per chunk.
// Chunks spread evenly over the 256 fan-out folders (chunks/sha256/ab/), so
// the first check in a folder lists it instead (ListObjectsV2, one request,
// up to 1000 keys): that costs the same as the HEAD it replaces, and every
// later check in that folder is free. A folder with more than 1000 keys
// means a large store where listings cost more than HEADs for one image:
// then listing stops for good and every check is a HEAD again.
// A listing is a snapshot: a chunk another writer adds later is uploaded
// again (harmless, same bytes); where a chunk must still be there right
// now (put after recording a re-use, against a concurrent gc; has()), the
// store asks with a HEAD.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { chunkDirKey } from '../chunk-name.js';
import { s3Key, type S3Location } from './s3-uri.js';

const PAGE = 1000;

export class PrefixListing {
  private readonly folders = new Map<string, Promise<Set<string> | null>>();
  private tooLarge = false;
  /** Listings made, and checks answered from one (stats, tests). */
  readonly stats = { listings: 0, answered: 0 };

  constructor(
    private readonly client: S3Client,
    private readonly loc: S3Location,
    private readonly withRetries: <T>(what: string, call: (signal: AbortSignal) => Promise<T>) => Promise<T>,
  ) {}

  /** true/false from a listing of the chunk's folder, or null: ask with a HEAD. */
  async has(name: string): Promise<boolean | null> {
    if (this.tooLarge) return null;
    const folder = chunkDirKey(name);
    let listed = this.folders.get(folder);
    if (!listed) {
      listed = this.list(folder);
      this.folders.set(folder, listed);
    }
    const names = await listed;
    if (names === null) return null;
    this.stats.answered++;
    return names.has(name);
  }

  /** A chunk this process just stored. */
  added(name: string): void {
    void this.folders.get(chunkDirKey(name))?.then((s) => s?.add(name));
  }

  private async list(folder: string): Promise<Set<string> | null> {
    const prefix = `${s3Key(this.loc, folder)}/`;
    this.stats.listings++;
    const res = await this.withRetries(`LIST ${prefix}`, (signal) =>
      this.client.send(new ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: prefix, MaxKeys: PAGE }), { abortSignal: signal }),
    );
    if (res.IsTruncated) {
      this.tooLarge = true;
      return null;
    }
    return new Set((res.Contents ?? []).map((o) => o.Key!.slice(prefix.length)));
  }
}
