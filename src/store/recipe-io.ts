// Recipes where the chunks are: a local path, s3://BUCKET/KEY, an
// http(s):// URL, or docker://REGISTRY/REPO[:TAG|@DIGEST] (an image whose
// recipe artifact the registry holds), for every command that reads or
// writes one.
import { resolve } from 'node:path';
import { MAX_RECIPE_BYTES, readRecipeFile, recipeBytes, recipeFromBytes, writeRecipeFile } from '../chunk/recipe.js';
import type { Recipe } from '../chunk/types.js';
import { SmrError } from '../util/errors.js';
import { DEFAULT_RETRY, withRetries } from '../util/retry.js';
import type { StoreOptions } from './backend.js';
import { isRetryableNetworkError, isRetryableStatus } from './remote/http-status.js';
import type { Descriptor } from '../oci/index.js';
import type { PushedRecipe } from './registry/recipe-artifact.js';
import type { RegistryStore } from './registry/registry-store.js';
import { isRegistryUri, parseRegistryRecipeUri, repositoryUri } from './registry/registry-uri.js';
import type { AnyStore } from './types.js';

// The S3 and registry clients are imported where they are used: a command
// with local recipes never pays their start-up (the AWS SDK's is ~0.25 s).
const isS3 = (uri: string) => uri.startsWith('s3://');
const isHttp = (uri: string) => /^https?:\/\//i.test(uri);

class StatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

async function getHttp(uri: string): Promise<Buffer> {
  try {
    return await withRetries(
      DEFAULT_RETRY,
      async () => {
        const res = await fetch(uri, { signal: AbortSignal.timeout(60_000) });
        if (res.status === 404) throw new SmrError('RECIPE_NOT_FOUND', `recipe ${uri} does not exist (HTTP 404)`);
        if (!res.ok) {
          await res.body?.cancel();
          throw new StatusError(res.status);
        }
        if (Number(res.headers.get('content-length') ?? 0) > MAX_RECIPE_BYTES) throw new SmrError('RECIPE_INVALID', `${uri} is too large to be a recipe`);
        return Buffer.from(await res.arrayBuffer());
      },
      (e) => (e instanceof StatusError ? isRetryableStatus(e.status) : !(e instanceof SmrError) && isRetryableNetworkError(e)),
    );
  } catch (e) {
    if (e instanceof SmrError) throw e;
    throw new SmrError('RECIPE_UNREADABLE', `cannot read recipe ${uri}: ${(e as Error).message}`);
  }
}

/** The bytes of a recipe by path or URI (for identities such as the overlay's). */
export async function readRecipeBytes(uri: string, opts: StoreOptions = {}): Promise<Buffer> {
  if (isRegistryUri(uri)) return readRegistryRecipe(uri, opts);
  if (isS3(uri)) {
    const { getS3Object } = await import('./s3/s3-object.js');
    return getS3Object(uri, { endpoint: opts.s3Endpoint, profile: opts.profile }, MAX_RECIPE_BYTES);
  }
  if (isHttp(uri)) return getHttp(uri);
  throw new SmrError('USAGE', `'${uri}' is a local path: read it with readRecipeFile`);
}

async function readRegistryRecipe(uri: string, opts: StoreOptions): Promise<Buffer> {
  const [{ RegistryClient }, { fetchRecipeArtifact }] = await Promise.all([import('../oci/registry-client.js'), import('./registry/recipe-artifact.js')]);
  const client = new RegistryClient(parseRegistryRecipeUri(uri), {
    ...(opts.registryAuthFile !== undefined ? { authFile: opts.registryAuthFile } : {}),
    ...(opts.registryInsecure !== undefined ? { insecure: opts.registryInsecure } : {}),
  });
  try {
    return (await fetchRecipeArtifact(client, client.ref, uri)).bytes;
  } finally {
    client.close();
  }
}

/** Whether a recipe argument is read from elsewhere than a local file. */
export function isRemoteRecipe(uri: string): boolean {
  return isS3(uri) || isHttp(uri) || isRegistryUri(uri);
}

/** The store a recipe argument implies: a registry image's chunks are blobs of its repository. */
export function impliedStore(uri: string): string | undefined {
  return isRegistryUri(uri) ? repositoryUri(parseRegistryRecipeUri(uri)) : undefined;
}

/** A short name for a recipe where its path gives none (a registry image: the repository's last part). */
export function recipeName(uri: string): string | undefined {
  return isRegistryUri(uri) ? parseRegistryRecipeUri(uri).repository.split('/').pop() : undefined;
}

export async function readRecipe(uri: string, opts: StoreOptions & { keyFile?: string } = {}): Promise<Recipe> {
  if (!isRemoteRecipe(uri)) return readRecipeFile(uri, opts);
  return recipeFromBytes(await readRecipeBytes(uri, opts), uri, opts);
}

/** Refuses a recipe destination that cannot be written, before any work is done. */
export function checkRecipeTarget(uri: string): void {
  if (isRegistryUri(uri)) throw new SmrError('USAGE', `-o ${uri}: a registry gets its recipe from --store docker://REGISTRY/REPO (pushed with the chunks); -o takes a path or s3://BUCKET/KEY`);
  if (isHttp(uri)) throw new SmrError('USAGE', `cannot write a recipe to ${uri}: http(s) is read-only; give a path or s3://BUCKET/KEY`);
  if (isS3(uri) && !/^s3:\/\/[^/]+\/.*[^/]$/.test(uri)) throw new SmrError('USAGE', `'${uri}' is not an S3 object (s3://BUCKET/KEY)`);
}

/** Writes a recipe to a local path (atomically) or an S3 object (one PUT). */
export async function writeRecipe(uri: string, recipe: Recipe, opts: StoreOptions & { key?: Buffer } = {}): Promise<void> {
  checkRecipeTarget(uri);
  if (isS3(uri)) {
    const { putS3Object } = await import('./s3/s3-object.js');
    return putS3Object(uri, recipeBytes(recipe, opts), { endpoint: opts.s3Endpoint, profile: opts.profile });
  }
  return writeRecipeFile(resolve(uri), recipe, opts);
}

/**
 * A registry store gets the recipe as an artifact of the source image
 * (`subject`); other stores keep recipes where -o says. Returns what was
 * pushed, or undefined for stores that take no recipe.
 */
export async function pushRecipeToStore(store: AnyStore, recipe: Recipe, opts: { key?: Buffer; subject?: Descriptor }): Promise<PushedRecipe | undefined> {
  if (!isRegistryStore(store)) return undefined;
  const { manifestDescriptor, pushRecipeArtifact } = await import('./registry/recipe-artifact.js');
  // Without the image at hand (copy), the subject is the source manifest if this repository holds it.
  const digest = recipe.source.manifestDigest;
  const subject = opts.subject ?? (digest ? await manifestDescriptor(store.client, digest) : undefined);
  return pushRecipeArtifact(store.client, store.ref, recipeBytes(recipe, opts), recipe, subject);
}

/** Between two repositories of one registry, chunks the source has are mounted, not uploaded. */
export function linkRegistryStores(from: AnyStore, to: AnyStore): void {
  if (isRegistryStore(from) && isRegistryStore(to) && from.ref.domain === to.ref.domain) to.addMountSource(from.ref.repository);
}

/** Without importing the class: a RegistryStore says what it is. */
function isRegistryStore(store: AnyStore): store is RegistryStore {
  return (store as { kind?: string }).kind === 'registry';
}

/** Stores that hold their recipes themselves, so -o is optional. */
export function storeTakesRecipes(storeUri: string): boolean {
  return isRegistryUri(storeUri);
}
