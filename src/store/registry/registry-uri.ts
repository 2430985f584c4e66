// docker://REGISTRY/REPO as a store, and docker://REGISTRY/REPO[:TAG|@DIGEST]
// as a recipe: the same reference syntax as `smr build` (src/oci/reference).
import { parseImageReference, type RegistryReference } from '../../oci/index.js';
import { SmrError } from '../../util/errors.js';

export const isRegistryUri = (uri: string): boolean => uri.startsWith('docker://');

function parseRegistryUri(uri: string, what: string): RegistryReference {
  const parsed = parseImageReference(uri);
  if (parsed.transport !== 'docker') throw new SmrError('USAGE', `${what} '${uri}' is not docker://REGISTRY/REPO`);
  return parsed;
}

/** A store: a repository, with no tag or digest (chunks are its blobs). */
export function parseRegistryStoreUri(uri: string): RegistryReference {
  const body = uri.slice('docker://'.length);
  const ref = parseRegistryUri(uri, 'store');
  // parseImageReference adds ":latest" to a bare name; a store names a repository only.
  if (ref.digest || /:[\w][\w.-]*$/.test(body.slice(body.lastIndexOf('/')))) {
    throw new SmrError('USAGE', `store '${uri}' names an image; a registry store is a repository: docker://REGISTRY/REPO`);
  }
  return ref;
}

/** A recipe: an image (its recipe artifact is found by referrers) or the artifact itself. */
export function parseRegistryRecipeUri(uri: string): RegistryReference {
  return parseRegistryUri(uri, 'recipe');
}

/** docker://host/repo, how messages name a repository. */
export function repositoryUri(ref: RegistryReference): string {
  return `docker://${ref.domain}/${ref.repository}`;
}
