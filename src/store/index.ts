// Opening a store from its command-line form.
import { SmrError } from '../util/errors.js';
import { DirStore } from './dir-store.js';
import type { ChunkStore } from './types.js';

export type { ChunkStore } from './types.js';
export { DirStore } from './dir-store.js';
export { gc, DEFAULT_GRACE_MS, type GcOptions, type GcResult } from './gc.js';

const SUPPORTED = 'dir:PATH or a plain PATH (write ./NAME for a directory whose name has a colon)';

// Two letters or more, so that a Windows drive ("C:") is never taken for one.
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;

/** `dir:PATH` or `PATH` is a local directory; any other scheme is refused by name. */
export function openStore(spec: string): ChunkStore {
  const scheme = SCHEME.exec(spec)?.[1];
  let path = spec;
  if (scheme !== undefined) {
    if (scheme !== 'dir') throw new SmrError('STORE_UNSUPPORTED', `store '${spec}': '${scheme}:' stores are not supported yet; use ${SUPPORTED}`);
    path = spec.slice('dir:'.length);
  }
  if (path === '') throw new SmrError('USAGE', `store '${spec}': empty path; use ${SUPPORTED}`);
  return new DirStore(path);
}
