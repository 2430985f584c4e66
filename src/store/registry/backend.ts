import type { StoreBackend } from '../backend.js';
import { RegistryStore } from './registry-store.js';
import { parseRegistryStoreUri } from './registry-uri.js';

export const registryBackend: StoreBackend = {
  forms: 'docker://REGISTRY/REPO',
  async open(uri, opts) {
    return new RegistryStore(parseRegistryStoreUri(uri), opts);
  },
};
