// The plain recipe (docs/recipe.md): canonical JSON, header fields in a fixed
// order, then one chunk per line as a compact array, so that people can read,
// grep and diff it and a 16 GiB image's recipe stays under 3 MiB.
// Parsing checks every field; anything wrong is RECIPE_INVALID naming the
// field and the chunk.
import { isHex64 } from '../util/digest.js';
import { SmrError } from '../util/errors.js';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, RECIPE_MEDIA_TYPE, type Compression, type Encryption, type Recipe, type RecipeChunk } from './types.js';

/** Room over chunkSize for the codec byte and the framing of an incompressible body. */
const STORED_SLACK = 64;
const MEDIA_TYPE_FAMILY = 'application/vnd.stream-my-root.recipe.';
const COMPRESSIONS: readonly Compression[] = ['none', 'zstd', 'gzip'];
const ENCRYPTIONS: readonly Encryption[] = ['none', 'convergent-aes-256-ctr'];
const SOURCE_FIELDS = ['reference', 'manifestDigest', 'platform'] as const;
const ENCODING_FIELDS = new Set(['compression', 'encryption', 'salt']);

export function serializeRecipe(r: Recipe): Buffer {
  const source: Record<string, string> = {};
  for (const k of SOURCE_FIELDS) if (r.source[k] !== undefined) source[k] = r.source[k]!;
  const encoding: Record<string, string> = { compression: r.encoding.compression, encryption: r.encoding.encryption };
  if (r.encoding.salt !== undefined) encoding.salt = r.encoding.salt.toString('base64');
  const head = JSON.stringify({ mediaType: r.mediaType, version: r.version, source, imageSize: r.imageSize, chunkSize: r.chunkSize, encoding });
  const encrypted = r.encoding.encryption !== 'none';
  const parts = [head.slice(0, -1), ',"chunks":['];
  r.chunks.forEach((c, i) => {
    if (encrypted !== (c.key !== undefined)) throw new TypeError(`chunk ${c.index} ${encrypted ? 'has no key but the recipe is encrypted' : 'has a key but the recipe is not encrypted'}`);
    parts.push(i === 0 ? '\n[' : ',\n[', String(c.index), ',', JSON.stringify(c.digest), ',', String(c.storedLength));
    if (c.key !== undefined) parts.push(',"', c.key.toString('base64'), '"');
    parts.push(']');
  });
  parts.push(r.chunks.length > 0 ? '\n]}\n' : ']}\n');
  return Buffer.from(parts.join(''), 'utf8');
}

export function invalid(what: string): SmrError {
  return new SmrError('RECIPE_INVALID', `not a valid recipe: ${what}`);
}

export function unsupportedVersion(version: unknown, what = 'recipe'): SmrError {
  return new SmrError('RECIPE_VERSION', `${what} version ${JSON.stringify(version)} is not supported by this smr (it reads version 1)`);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Base64 in its one canonical spelling (padded, no stray characters), or undefined. */
export function strictBase64(v: unknown): Buffer | undefined {
  if (typeof v !== 'string') return undefined;
  const b = Buffer.from(v, 'base64');
  return b.toString('base64') === v ? b : undefined;
}

/** Does this document claim to be a recipe of some version (so a version error is the right one)? */
function looksLikeRecipe(doc: Record<string, unknown>): boolean {
  return typeof doc.mediaType === 'string' && doc.mediaType.startsWith(MEDIA_TYPE_FAMILY);
}

function isSafeCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks a parsed plain recipe document and builds the Recipe it describes. */
export function validateRecipe(doc: unknown): Recipe {
  if (!isObject(doc)) throw invalid('the top level is not a JSON object');
  if (typeof doc.version === 'number' && doc.version !== 1 && looksLikeRecipe(doc)) throw unsupportedVersion(doc.version);
  if (doc.mediaType !== RECIPE_MEDIA_TYPE) throw invalid(`mediaType is ${JSON.stringify(doc.mediaType)}, expected "${RECIPE_MEDIA_TYPE}"`);
  if (doc.version !== 1) throw invalid(doc.version === undefined ? 'version is missing (expected 1)' : `version ${JSON.stringify(doc.version)} is not the number 1`);

  const { imageSize, chunkSize } = doc;
  if (!isSafeCount(imageSize)) throw invalid(`imageSize ${JSON.stringify(imageSize)} is not a whole number of bytes`);
  if (!isSafeCount(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE || (chunkSize & (chunkSize - 1)) !== 0) {
    throw invalid(`chunkSize ${JSON.stringify(chunkSize)} is not a power of two from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
  }

  const source = doc.source ?? {};
  if (!isObject(source)) throw invalid('source is not an object');
  const cleanSource: Recipe['source'] = {};
  for (const k of SOURCE_FIELDS) {
    const v = source[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalid(`source.${k} is not a string`);
    cleanSource[k] = v;
  }

  const enc = doc.encoding;
  if (!isObject(enc)) throw invalid('encoding is missing');
  // Unlike elsewhere, an unknown field here could change how chunks decode.
  for (const k of Object.keys(enc)) if (!ENCODING_FIELDS.has(k)) throw invalid(`encoding.${k} is not a field of version 1`);
  const compression = enc.compression as Compression;
  const encryption = enc.encryption as Encryption;
  if (!COMPRESSIONS.includes(compression)) throw invalid(`encoding.compression ${JSON.stringify(enc.compression)} is not one of ${COMPRESSIONS.join(', ')}`);
  if (!ENCRYPTIONS.includes(encryption)) throw invalid(`encoding.encryption ${JSON.stringify(enc.encryption)} is not one of ${ENCRYPTIONS.join(', ')}`);
  const encrypted = encryption !== 'none';
  let salt: Buffer | undefined;
  if (enc.salt !== undefined) {
    if (!encrypted) throw invalid('encoding.salt is set but chunks are not encrypted');
    salt = strictBase64(enc.salt);
    if (salt === undefined || salt.length === 0) throw invalid('encoding.salt is not non-empty base64');
  }

  if (!Array.isArray(doc.chunks)) throw invalid('chunks is not a list');
  const count = Math.ceil(imageSize / chunkSize);
  const maxStored = chunkSize + STORED_SLACK;
  const chunks: RecipeChunk[] = new Array(doc.chunks.length);
  let prev = -1;
  for (let i = 0; i < doc.chunks.length; i++) {
    const entry: unknown = doc.chunks[i];
    const width = encrypted ? 4 : 3;
    if (!Array.isArray(entry) || entry.length !== width) {
      throw invalid(`chunks[${i}] is not [index, digest, storedLength${encrypted ? ', key' : ''}]${encrypted ? ' (chunks are encrypted: each needs its key)' : ''}`);
    }
    const [index, digest, storedLength, keyText] = entry as unknown[];
    if (!isSafeCount(index) || index >= count) throw invalid(`chunks[${i}]: index ${JSON.stringify(index)} is not a chunk of the image (0 to ${count - 1})`);
    const where = `chunks[${i}] (chunk ${index})`;
    if (index <= prev) throw invalid(`${where}: indexes must ascend without repeats (it follows chunk ${prev})`);
    prev = index;
    if (!isHex64(digest)) throw invalid(`${where}: digest is not 64 lowercase hex digits`);
    if (!isSafeCount(storedLength) || storedLength < 1 || storedLength > maxStored) throw invalid(`${where}: storedLength ${JSON.stringify(storedLength)} is not from 1 to ${maxStored}`);
    const chunk: RecipeChunk = { index, digest, storedLength };
    if (encrypted) {
      const key = strictBase64(keyText);
      if (key === undefined || key.length !== 32) throw invalid(`${where}: key is not 32 bytes of base64`);
      chunk.key = key;
      if (salt !== undefined) chunk.salt = salt;
    }
    chunks[i] = chunk;
  }

  return {
    mediaType: RECIPE_MEDIA_TYPE,
    version: 1,
    source: cleanSource,
    imageSize,
    chunkSize,
    encoding: salt === undefined ? { compression, encryption } : { compression, encryption, salt },
    chunks,
  };
}
