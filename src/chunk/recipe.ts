// Recipes: the manifest of a chunked image (docs/recipe.md). Plain JSON
// (recipe-json.ts), or that JSON sealed under the tenant key
// (recipe-envelope.ts) when chunks are encrypted, since it lists their keys.
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { SmrError } from '../util/errors.js';
import { describeWriteError } from '../util/fs-errors.js';
import { loadKeyFile } from './keys.js';
import { openRecipe, sealRecipe } from './recipe-envelope.js';
import { invalid, isObject, serializeRecipe, validateRecipe } from './recipe-json.js';
import { ENCRYPTED_RECIPE_MEDIA_TYPE, type Recipe } from './types.js';

export { serializeRecipe } from './recipe-json.js';
export { keyId } from './recipe-envelope.js';

/** No recipe comes near this (16 GiB with keys: ~6 MB); it bounds what is read. */
export const MAX_RECIPE_BYTES = 256 * 1024 * 1024;

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(`${what} is not JSON (${(e as Error).message})`);
  }
}

/** Is this (plain or encrypted) recipe document an encrypted one? */
export function isEncryptedRecipe(bytes: Buffer): boolean {
  try {
    const doc: unknown = JSON.parse(bytes.toString('utf8'));
    return isObject(doc) && doc.mediaType === ENCRYPTED_RECIPE_MEDIA_TYPE;
  } catch {
    return false;
  }
}

/**
 * Parses and checks a recipe, opening it with `key` when it is encrypted.
 * Every failure is an SmrError with a RECIPE_* code.
 */
export function parseRecipe(bytes: Buffer, opts: { key?: Buffer } = {}): Recipe {
  const doc = parseJson(bytes, 'the recipe');
  if (isObject(doc) && doc.mediaType === ENCRYPTED_RECIPE_MEDIA_TYPE) {
    if (opts.key === undefined) throw new SmrError('RECIPE_KEY_REQUIRED', 'this recipe is encrypted: give --key-file');
    return validateRecipe(parseJson(openRecipe(doc, opts.key), 'the decrypted recipe'));
  }
  return validateRecipe(doc);
}

export function encryptRecipe(r: Recipe, tenantKey: Buffer): Buffer {
  return sealRecipe(serializeRecipe(r), tenantKey);
}

export async function readRecipeFile(path: string, opts: { keyFile?: string } = {}): Promise<Recipe> {
  let bytes: Buffer;
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SmrError('RECIPE_NOT_FOUND', `recipe ${path} does not exist`);
    throw new SmrError('RECIPE_UNREADABLE', `cannot read recipe ${path}: ${code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SmrError('RECIPE_UNREADABLE', `recipe ${path} is not a file`);
    if (st.size > MAX_RECIPE_BYTES) throw new SmrError('RECIPE_INVALID', `${path} (${st.size} bytes) is too large to be a recipe`);
    bytes = await fh.readFile();
  } catch (e) {
    if (e instanceof SmrError) throw e;
    throw new SmrError('RECIPE_UNREADABLE', `cannot read recipe ${path}: ${(e as Error).message}`);
  } finally {
    await fh.close();
  }
  return recipeFromBytes(bytes, path, opts);
}

/**
 * A recipe from its bytes, wherever they came from (`where` names it in
 * errors). The key is only loaded when needed, so a plain recipe never asks
 * for one.
 */
export async function recipeFromBytes(bytes: Buffer, where: string, opts: { keyFile?: string } = {}): Promise<Recipe> {
  if (bytes.length > MAX_RECIPE_BYTES) throw new SmrError('RECIPE_INVALID', `${where} (${bytes.length} bytes) is too large to be a recipe`);
  const key = opts.keyFile !== undefined && isEncryptedRecipe(bytes) ? await loadKeyFile(opts.keyFile) : undefined;
  try {
    return parseRecipe(bytes, { key });
  } catch (e) {
    if (e instanceof SmrError) throw new SmrError(e.code, `${where}: ${e.message}`);
    throw e;
  }
}

/** The bytes a recipe file holds: encrypted with `key` when given (required for encrypted images). */
export function recipeBytes(recipe: Recipe, opts: { key?: Buffer } = {}): Buffer {
  if (recipe.encoding.encryption !== 'none' && opts.key === undefined) {
    throw new SmrError('RECIPE_KEY_REQUIRED', `the recipe of an encrypted image holds its chunk keys: it must be written with a tenant key (--key-file)`);
  }
  return opts.key !== undefined ? encryptRecipe(recipe, opts.key) : serializeRecipe(recipe);
}

/**
 * Writes a recipe atomically (a temporary file beside it, then rename): a
 * reader sees the old recipe or the new one, never part of one. With `key`
 * the recipe is encrypted; an encrypted image's recipe must be, since it
 * holds the chunk keys.
 */
export async function writeRecipeFile(path: string, recipe: Recipe, opts: { key?: Buffer } = {}): Promise<void> {
  const bytes = recipeBytes(recipe, opts);
  try {
    await writeFileAtomic(path, bytes, { sync: 'all' });
  } catch (e) {
    throw new SmrError('OUTPUT_FAILED', `cannot write recipe ${path}: ${describeWriteError(e, dirname(path))}`);
  }
}
