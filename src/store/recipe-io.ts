// Recipes where the chunks are: a local path, s3://BUCKET/KEY or an
// http(s):// URL, for every command that reads or writes one.
import { resolve } from 'node:path';
import { MAX_RECIPE_BYTES, readRecipeFile, recipeBytes, recipeFromBytes, writeRecipeFile } from '../chunk/recipe.js';
import type { Recipe } from '../chunk/types.js';
import { SmrError } from '../util/errors.js';
import { DEFAULT_RETRY, withRetries } from '../util/retry.js';
import type { StoreOptions } from './backend.js';
import { isRetryableNetworkError, isRetryableStatus } from './remote/http-status.js';
import { getS3Object, putS3Object } from './s3/s3-object.js';

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
  if (isS3(uri)) return getS3Object(uri, { endpoint: opts.s3Endpoint, profile: opts.profile }, MAX_RECIPE_BYTES);
  if (isHttp(uri)) return getHttp(uri);
  throw new SmrError('USAGE', `'${uri}' is a local path: read it with readRecipeFile`);
}

export async function readRecipe(uri: string, opts: StoreOptions & { keyFile?: string } = {}): Promise<Recipe> {
  if (!isS3(uri) && !isHttp(uri)) return readRecipeFile(uri, opts);
  return recipeFromBytes(await readRecipeBytes(uri, opts), uri, opts);
}

/** Refuses a recipe destination that cannot be written, before any work is done. */
export function checkRecipeTarget(uri: string): void {
  if (isHttp(uri)) throw new SmrError('USAGE', `cannot write a recipe to ${uri}: http(s) is read-only; give a path or s3://BUCKET/KEY`);
  if (isS3(uri) && !/^s3:\/\/[^/]+\/.*[^/]$/.test(uri)) throw new SmrError('USAGE', `'${uri}' is not an S3 object (s3://BUCKET/KEY)`);
}

/** Writes a recipe to a local path (atomically) or an S3 object (one PUT). */
export async function writeRecipe(uri: string, recipe: Recipe, opts: StoreOptions & { key?: Buffer } = {}): Promise<void> {
  checkRecipeTarget(uri);
  if (isS3(uri)) return putS3Object(uri, recipeBytes(recipe, opts), { endpoint: opts.s3Endpoint, profile: opts.profile });
  return writeRecipeFile(resolve(uri), recipe, opts);
}
