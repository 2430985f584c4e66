// The registry client (node:http and node:https) is loaded only when a
// docker:// store is opened.
import type { StoreBackend } from '../backend.js';
import { parseRegistryStoreUri } from './registry-uri.js';

export const registryBackend: StoreBackend = {
  forms: 'docker://REGISTRY/REPO',
  async open(uri, opts) {
    const ref = parseRegistryStoreUri(uri);
    const { RegistryStore } = await import('./registry-store.js');
    return new RegistryStore(ref, opts);
  },
};
