// Opening a store from its command-line form: the scheme picks a backend
// from the table; each backend lives in its own folder.
import { SmrError } from '../util/errors.js';
import type { StoreBackend, StoreOptions } from './backend.js';
import { dirBackend } from './dir/backend.js';
import { httpBackend } from './http/backend.js';
import { s3Backend } from './s3/backend.js';
import type { AnyStore, ChunkCollector, ChunkReader, ChunkWriter } from './types.js';

export type { AnyStore, ChunkCollector, ChunkReader, ChunkStore, ChunkWriter } from './types.js';
export type { StoreOptions } from './backend.js';
export { DirStore } from './dir/dir-store.js';
export { gc, DEFAULT_GRACE_MS, type GcOptions, type GcResult } from './gc.js';

const BACKENDS: Record<string, StoreBackend> = {
  dir: dirBackend,
  s3: s3Backend,
  http: httpBackend,
  https: httpBackend,
};

// Two letters or more, so that a Windows drive ("C:") is never taken for one.
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;

function supported(): string {
  return [...new Set(Object.values(BACKENDS).map((b) => b.forms))].join(', ');
}

/** Any store, for reading: dir:PATH or PATH, s3://BUCKET[/PREFIX], http(s)://BASE. */
export async function openStore(uri: string, opts: StoreOptions = {}): Promise<AnyStore> {
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  const backend = scheme === undefined ? dirBackend : BACKENDS[scheme];
  if (!backend) throw new SmrError('STORE_UNSUPPORTED', `store '${uri}': unknown scheme '${scheme}:'; use ${supported()}`);
  return backend.open(uri, opts);
}

/** A store that can be written (convert, chunk, copy's destination). */
export async function openWritableStore(uri: string, opts: StoreOptions = {}): Promise<ChunkReader & ChunkWriter> {
  const store = await openStore(uri, opts);
  if (typeof store.put !== 'function') {
    await store.close?.();
    throw new SmrError('STORE_READ_ONLY', `store '${uri}' is read-only; write to a dir: or s3:// store`);
  }
  return store as ChunkReader & ChunkWriter;
}

/** A store gc can work on. */
export async function openCollectableStore(uri: string, opts: StoreOptions = {}): Promise<ChunkReader & ChunkCollector> {
  const store = await openStore(uri, opts);
  if (typeof store.list !== 'function' || typeof store.deleteIfUnusedSince !== 'function') {
    await store.close?.();
    throw new SmrError('STORE_UNSUPPORTED', `gc does not work on '${uri}' (${store.description}) yet; it works on dir: and s3:// stores`);
  }
  return store as ChunkReader & ChunkCollector;
}
