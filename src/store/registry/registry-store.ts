// An OCI registry repository as a chunk store: every chunk is a blob of the
// repository, named by its sha256 digest, so a registry the user already
// has holds the chunks next to the image they came from. Reads go through
// the shared remote path (timeouts, retries, hedging, digest check); writes
// skip what the repository has (HEAD) and upload monolithically, mounting
// from another repository of the same registry when one is known to hold it.
// The registry's garbage collector keeps blobs that a manifest lists: the
// recipe artifact lists every chunk (recipe-artifact.ts). gc of our own
// does not apply here.
import { RegistryClient } from '../../oci/registry-client.js';
import type { RegistryReference } from '../../oci/index.js';
import { MAX_CHUNK_SIZE } from '../../chunk/types.js';
import type { StoreOptions } from '../backend.js';
import { checkChunkName } from '../chunk-name.js';
import { isRetryableNetworkError, isRetryableStatus, retryAfterMs } from '../remote/http-status.js';
import { RemoteReader } from '../remote/remote-reader.js';
import type { ChunkReader, ChunkWriter } from '../types.js';
import { BlobStatusError, blobExists, getBlob, mountBlob, uploadBlob } from './registry-blob.js';
import { repositoryUri } from './registry-uri.js';

// A stored chunk is at most a chunk plus its codec header and padding.
const MAX_STORED_CHUNK = MAX_CHUNK_SIZE + (64 << 10);

export class RegistryStore implements ChunkReader, ChunkWriter {
  /** How recipe-io knows one without importing this module. */
  readonly kind = 'registry';
  readonly description: string;
  readonly remote = true;
  readonly client: RegistryClient;
  readonly reader: RemoteReader;
  private readonly mountFrom: string[] = [];
  /** Chunks mounted from another repository rather than uploaded. */
  mounted = 0;

  constructor(readonly ref: RegistryReference, opts: StoreOptions = {}) {
    this.description = repositoryUri(ref);
    this.client = new RegistryClient(ref, {
      push: true,
      ...(opts.registryAuthFile !== undefined ? { authFile: opts.registryAuthFile } : {}),
      ...(opts.registryInsecure !== undefined ? { insecure: opts.registryInsecure } : {}),
    });
    // One try per request here: the reader owns retries and hedging.
    this.reader = new RemoteReader(
      this.description,
      (name, signal) => getBlob(this.client, `sha256:${name}`, MAX_STORED_CHUNK, { signal, attempts: 1 }),
      classify,
      opts,
    );
  }

  /** Another repository of this registry that may hold chunks already (a mount costs no upload). */
  addMountSource(repository: string): void {
    if (repository !== this.ref.repository && !this.mountFrom.includes(repository)) this.mountFrom.push(repository);
  }

  async has(name: string): Promise<boolean> {
    return (await blobExists(this.client, `sha256:${checkChunkName(name)}`)) !== null;
  }

  async get(name: string): Promise<Buffer> {
    return this.reader.get(checkChunkName(name));
  }

  /** The registry checks the digest of every upload, so a wrong blob can never sit under a chunk's name. */
  async put(name: string, data: Buffer): Promise<boolean> {
    const digest = `sha256:${checkChunkName(name)}`;
    if ((await blobExists(this.client, digest)) !== null) return false;
    if (!(await this.mount(name))) await uploadBlob(this.client, digest, data);
    return true;
  }

  /**
   * Makes the chunk present by a mount from a known source repository,
   * without its bytes (copy asks before fetching them); false: put it.
   */
  async mount(name: string): Promise<boolean> {
    const digest = `sha256:${checkChunkName(name)}`;
    for (const from of this.mountFrom) {
      if (await mountBlob(this.client, digest, from)) {
        this.mounted++;
        return true;
      }
    }
    return false;
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

function classify(err: unknown): boolean | number {
  if (err instanceof BlobStatusError) return isRetryableStatus(err.status) ? (retryAfterMs(err.retryAfter) ?? true) : false;
  const code = (err as { code?: string }).code;
  // The client's own verdicts after its (single) try: a failed connection or a 5xx may pass.
  if (code === 'CONNECTION_FAILED' || code === 'REGISTRY_ERROR') return true;
  return isRetryableNetworkError(err);
}
