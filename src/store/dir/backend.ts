import { SmrError } from '../../util/errors.js';
import type { StoreBackend } from '../backend.js';
import { DirStore } from './dir-store.js';

export const dirBackend: StoreBackend = {
  forms: 'dir:PATH or a plain PATH (write ./NAME for a directory whose name has a colon)',
  async open(uri) {
    const path = /^dir:/i.test(uri) ? uri.slice('dir:'.length) : uri;
    if (path === '') throw new SmrError('USAGE', `store '${uri}': empty path; use ${this.forms}`);
    return new DirStore(path);
  },
};
