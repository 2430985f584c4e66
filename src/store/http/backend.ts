import { SmrError } from '../../util/errors.js';
import type { StoreBackend } from '../backend.js';
import { HttpStore } from './http-store.js';

export const httpBackend: StoreBackend = {
  forms: 'http(s)://HOST/PATH (read-only)',
  async open(uri, opts) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new SmrError('USAGE', `store '${uri}' is not a valid URL`);
    }
    if (url.search || url.hash) throw new SmrError('USAGE', `store '${uri}': a store URL has no query or fragment`);
    return new HttpStore(url, opts);
  },
};
