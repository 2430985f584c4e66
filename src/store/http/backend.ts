// The HTTP client is loaded only when an http(s):// store is opened.
import { SmrError } from '../../util/errors.js';
import type { StoreBackend } from '../backend.js';

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
    const { HttpStore } = await import('./http-store.js');
    return new HttpStore(url, opts);
  },
};
