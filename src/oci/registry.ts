// An image in a registry, read through the blob cache: every blob is
// downloaded once (verified, then renamed into the cache) and read from the
// cache afterwards, also by later runs and other images sharing it.
import { readFile } from 'node:fs/promises';
import { forEachBounded } from '../util/bounded.js';
import { SmrError } from '../util/errors.js';
import { digestOf, parseDigest, shortDigest } from '../util/digest.js';
import { BlobCache } from './blob-cache.js';
import { ProgressCounter } from './progress.js';
import { RegistryClient, type RegistryClientOptions } from './registry-client.js';
import type { RegistryReference } from './reference.js';
import type { ImageSource, RootDocument } from './resolve.js';
import type { Descriptor, OpenImageOptions } from './types.js';

/** Layers downloaded at once. */
const CONCURRENCY = 3;

class RegistrySource implements ImageSource {
  readonly name: string;
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    readonly client: RegistryClient,
    readonly cache: BlobCache,
    private readonly opts: OpenImageOptions,
  ) {
    this.name = client.target;
  }

  /** A manifest from the cache when we have it (content-addressed, so it cannot be stale). */
  async readManifest(desc: Descriptor, what: string): Promise<Buffer> {
    if (await this.cache.has(desc)) {
      const cached = await this.cache.read(desc, what).catch(() => undefined);
      if (cached) return cached; // else damaged in the cache: fetch again
    }
    const fetched = await this.client.getManifest(desc.digest, desc);
    await this.remember(fetched.bytes, desc.digest);
    return fetched.bytes;
  }

  async readConfig(desc: Descriptor, what: string): Promise<Buffer> {
    await this.ensure(desc, what);
    return this.cache.read(desc, what);
  }

  async openLayer(desc: Descriptor, label: string) {
    await this.ensure(desc, label);
    return this.cache.open(desc, label);
  }

  async prepareLayers(layers: Descriptor[]): Promise<void> {
    const missing: Array<{ desc: Descriptor; index: number }> = [];
    for (const [index, desc] of layers.entries()) {
      if (!missing.some((m) => m.desc.digest === desc.digest) && !(await this.cache.has(desc))) missing.push({ desc, index });
    }
    if (missing.length === 0) return;
    const total = missing.reduce((s, l) => s + l.desc.size, 0);
    const progress = new ProgressCounter(this.opts.progress, 'download', total, this.name);
    await forEachBounded(missing, CONCURRENCY, async (next) => {
      const detail = `${this.name} ${shortDigest(next.desc.digest)}`;
      await this.ensure(next.desc, `layer ${next.index} (${next.desc.digest}) of ${this.name}`, (n) => progress.add(n, detail));
    });
    progress.finish();
  }

  /** Downloads a blob unless cached; one download per digest at a time in this process. */
  private ensure(desc: Descriptor, label: string, onBytes?: (n: number) => void): Promise<void> {
    const running = this.inflight.get(desc.digest);
    if (running) return running;
    const job = (async () => {
      if (await this.cache.has(desc)) return;
      const pending = await this.cache.begin(parseDigest(desc.digest).algorithm);
      try {
        await this.client.downloadBlob(desc, pending, label, onBytes);
        await this.cache.commit(pending, desc.digest);
      } catch (err) {
        await this.cache.discard(pending);
        throw err;
      }
    })().finally(() => this.inflight.delete(desc.digest));
    this.inflight.set(desc.digest, job);
    return job;
  }

  private async remember(bytes: Buffer, digest: string): Promise<void> {
    const pending = await this.cache.begin(parseDigest(digest).algorithm);
    try {
      await pending.write(bytes);
      await this.cache.commit(pending, digest);
    } catch {
      await this.cache.discard(pending); // a cache we cannot write is not fatal for metadata
    }
  }

  /** The document a tag or digest names. */
  async root(ref: RegistryReference): Promise<RootDocument> {
    if (ref.digest) {
      const { algorithm, hex } = parseDigest(ref.digest, `digest of ${this.name}`);
      const cached = await readFile(this.cache.blobPath(`${algorithm}:${hex}`)).catch(() => undefined);
      if (cached && digestOf(cached, algorithm) === ref.digest) return { bytes: cached, digest: ref.digest };
      const fetched = await this.client.getManifest(ref.digest);
      await this.remember(fetched.bytes, ref.digest);
      return fetched;
    }
    const fetched = await this.client.getManifest(ref.tag ?? 'latest');
    await this.remember(fetched.bytes, fetched.digest);
    return fetched;
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

export async function openRegistry(
  ref: RegistryReference,
  cache: BlobCache,
  opts: OpenImageOptions,
  clientOptions: RegistryClientOptions = {},
): Promise<{ source: ImageSource; root: RootDocument }> {
  const client = new RegistryClient(ref, {
    ...clientOptions,
    ...(opts.insecure !== undefined ? { insecure: opts.insecure } : {}),
    ...(opts.authFile !== undefined ? { authFile: opts.authFile } : {}),
  });
  const source = new RegistrySource(client, cache, opts);
  try {
    return { source, root: await source.root(ref) };
  } catch (err) {
    client.close();
    if (err instanceof SmrError) throw err;
    throw new SmrError('REGISTRY_ERROR', `${client.target}: ${(err as Error).message}`, { cause: err });
  }
}
