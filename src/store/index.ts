// Opening a store from its command-line form.
import { resolve } from 'node:path';
import { SmrError } from '../util/errors.js';
import { DirStore } from './dir-store.js';
import type { ChunkStore } from './types.js';

export type { ChunkStore } from './types.js';
export { DirStore } from './dir-store.js';

export function openStore(spec: string): ChunkStore {
  if (spec.startsWith('dir:')) return new DirStore(resolve(spec.slice(4)));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec) || /^(s3|http|https|oci|docker|redis):/i.test(spec)) {
    throw new SmrError('STORE_UNSUPPORTED', `store '${spec}' is not supported yet; use a directory (dir:PATH or PATH)`);
  }
  return new DirStore(resolve(spec));
}
