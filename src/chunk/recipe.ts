// The recipe file: the manifest of a chunked image (docs/recipe.md). Plain
// JSON, one chunk per line, so it can be read and diffed by people; or that
// JSON sealed with AES-256-GCM under the tenant key when chunks carry keys.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SmrError } from '../util/errors.js';
import { loadKeyFile } from './keys.js';
import {
  ENCRYPTED_RECIPE_MEDIA_TYPE,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  RECIPE_MEDIA_TYPE,
  type Recipe,
  type RecipeChunk,
} from './types.js';

const HEX64 = /^[0-9a-f]{64}$/;
/** Room for the codec byte and compression overhead on incompressible chunks. */
const STORED_SLACK = 64;

export function serializeRecipe(r: Recipe): Buffer {
  const encoding: Record<string, string> = { compression: r.encoding.compression, encryption: r.encoding.encryption };
  if (r.encoding.salt) encoding.salt = r.encoding.salt.toString('base64');
  const head = {
    mediaType: r.mediaType,
    version: r.version,
    source: r.source,
    imageSize: r.imageSize,
    chunkSize: r.chunkSize,
    encoding,
  };
  const lines = r.chunks.map((c) => JSON.stringify(c.key ? [c.index, c.digest, c.storedLength, c.key.toString('base64')] : [c.index, c.digest, c.storedLength]));
  const text = `${JSON.stringify(head).slice(0, -1)},"chunks":[\n${lines.join(',\n')}\n]}\n`;
  return Buffer.from(text, 'utf8');
}

function invalid(msg: string): SmrError {
  return new SmrError('RECIPE_INVALID', `not a valid recipe: ${msg}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(`not JSON (${(e as Error).message})`);
  }
}

export function parseRecipe(bytes: Buffer, opts: { key?: Buffer } = {}): Recipe {
  let doc = parseJson(bytes);
  if (isObj(doc) && doc.mediaType === ENCRYPTED_RECIPE_MEDIA_TYPE) {
    if (!opts.key) throw new SmrError('RECIPE_KEY_REQUIRED', 'this recipe is encrypted: give --key-file');
    doc = parseJson(openEnvelope(doc, opts.key));
  }
  return validate(doc);
}

function validate(doc: unknown): Recipe {
  if (!isObj(doc)) throw invalid('the top level is not an object');
  if (typeof doc.version === 'number' && doc.version !== 1) {
    throw new SmrError('RECIPE_VERSION', `recipe version ${doc.version} is not supported by this smr (it reads version 1)`);
  }
  if (doc.mediaType !== RECIPE_MEDIA_TYPE) throw invalid(`mediaType is ${JSON.stringify(doc.mediaType)}, expected ${RECIPE_MEDIA_TYPE}`);
  if (doc.version !== 1) throw invalid('version is missing');
  const { imageSize, chunkSize } = doc;
  if (typeof imageSize !== 'number' || !Number.isSafeInteger(imageSize) || imageSize < 0) throw invalid('imageSize must be a whole number of bytes');
  if (typeof chunkSize !== 'number' || !Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE || (chunkSize & (chunkSize - 1)) !== 0) {
    throw invalid(`chunkSize must be a power of two from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
  }
  const enc = doc.encoding;
  if (!isObj(enc)) throw invalid('encoding is missing');
  if (enc.compression !== 'none' && enc.compression !== 'zstd' && enc.compression !== 'gzip') throw invalid(`unknown compression ${JSON.stringify(enc.compression)}`);
  if (enc.encryption !== 'none' && enc.encryption !== 'convergent-aes-256-ctr') throw invalid(`unknown encryption ${JSON.stringify(enc.encryption)}`);
  const encrypted = enc.encryption !== 'none';
  let salt: Buffer | undefined;
  if (enc.salt !== undefined) {
    if (typeof enc.salt !== 'string' || !encrypted) throw invalid('salt must be base64, with encryption');
    salt = Buffer.from(enc.salt, 'base64');
  }
  const source = doc.source === undefined ? {} : doc.source;
  if (!isObj(source)) throw invalid('source must be an object');
  for (const k of ['reference', 'manifestDigest', 'platform'] as const) {
    if (source[k] !== undefined && typeof source[k] !== 'string') throw invalid(`source.${k} must be a string`);
  }
  if (!Array.isArray(doc.chunks)) throw invalid('chunks must be a list');
  const count = Math.ceil(imageSize / chunkSize);
  const chunks: RecipeChunk[] = [];
  let prev = -1;
  doc.chunks.forEach((c: unknown, i: number) => {
    const where = `chunk entry ${i}`;
    if (!Array.isArray(c) || c.length !== (encrypted ? 4 : 3)) throw invalid(`${where} must be [index, digest, storedLength${encrypted ? ', key' : ''}]`);
    const [index, digest, storedLength, key] = c as [unknown, unknown, unknown, unknown];
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) throw invalid(`${where}: index ${JSON.stringify(index)} is outside the image's ${count} chunks`);
    if (index <= prev) throw invalid(`${where}: indexes must ascend without repeats (${index} after ${prev})`);
    prev = index;
    if (typeof digest !== 'string' || !HEX64.test(digest)) throw invalid(`${where}: digest must be 64 lowercase hex digits`);
    if (typeof storedLength !== 'number' || !Number.isInteger(storedLength) || storedLength < 1 || storedLength > chunkSize + STORED_SLACK) throw invalid(`${where}: bad storedLength ${JSON.stringify(storedLength)}`);
    const chunk: RecipeChunk = { index, digest, storedLength };
    if (encrypted) {
      const k = typeof key === 'string' ? Buffer.from(key, 'base64') : null;
      if (!k || k.length !== 32) throw invalid(`${where}: key must be 32 bytes in base64`);
      chunk.key = k;
      if (salt) chunk.salt = salt;
    }
    chunks.push(chunk);
  });
  return {
    mediaType: RECIPE_MEDIA_TYPE,
    version: 1,
    source: source as Recipe['source'],
    imageSize,
    chunkSize,
    encoding: { compression: enc.compression, encryption: enc.encryption, ...(salt ? { salt } : {}) },
    chunks,
  };
}

// --- the encrypted envelope ---------------------------------------------------

const keyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 16);

function aad(h: { mediaType: string; version: number; cipher: string; keyId: string; nonce: string }): Buffer {
  return Buffer.from(JSON.stringify([h.mediaType, h.version, h.cipher, h.keyId, h.nonce]));
}

export function encryptRecipe(r: Recipe, tenantKey: Buffer): Buffer {
  const nonce = randomBytes(12);
  const head = { mediaType: ENCRYPTED_RECIPE_MEDIA_TYPE, version: 1, cipher: 'aes-256-gcm', keyId: keyId(tenantKey), nonce: nonce.toString('base64') };
  const c = createCipheriv('aes-256-gcm', tenantKey, nonce);
  c.setAAD(aad(head));
  const ct = Buffer.concat([c.update(serializeRecipe(r)), c.final()]);
  return Buffer.from(`${JSON.stringify({ ...head, tag: c.getAuthTag().toString('base64'), ciphertext: ct.toString('base64') })}\n`);
}

function openEnvelope(doc: Record<string, unknown>, key: Buffer): Buffer {
  const { version, cipher, nonce, tag, ciphertext } = doc;
  if (version !== 1) throw new SmrError('RECIPE_VERSION', `encrypted recipe version ${JSON.stringify(version)} is not supported (this smr reads version 1)`);
  if (cipher !== 'aes-256-gcm' || typeof nonce !== 'string' || typeof tag !== 'string' || typeof ciphertext !== 'string' || typeof doc.keyId !== 'string') {
    throw invalid('the encrypted envelope is incomplete');
  }
  if (doc.keyId !== keyId(key)) throw new SmrError('RECIPE_WRONG_KEY', 'this recipe was encrypted with another key (--key-file does not match)');
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64'));
    d.setAAD(aad({ mediaType: ENCRYPTED_RECIPE_MEDIA_TYPE, version: 1, cipher, keyId: doc.keyId, nonce }));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(ciphertext, 'base64')), d.final()]);
  } catch {
    throw invalid('the encrypted recipe does not authenticate (damaged or tampered)');
  }
}

// --- files ---------------------------------------------------------------------

export async function readRecipeFile(path: string, opts: { keyFile?: string } = {}): Promise<Recipe> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SmrError('RECIPE_NOT_FOUND', code === 'ENOENT' ? `recipe ${path} does not exist` : `cannot read recipe ${path}: ${(e as Error).message}`);
  }
  let bytes: Buffer;
  try {
    if ((await fh.stat()).size > 1 << 30) throw new SmrError('RECIPE_INVALID', `${path} is too large to be a recipe`);
    bytes = await fh.readFile();
  } finally {
    await fh.close();
  }
  const key = opts.keyFile ? await loadKeyFile(opts.keyFile) : undefined;
  try {
    return parseRecipe(bytes, { key });
  } catch (e) {
    if (e instanceof SmrError) throw new SmrError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}

export async function writeRecipeFile(path: string, recipe: Recipe, opts: { key?: Buffer } = {}): Promise<void> {
  const bytes = opts.key ? encryptRecipe(recipe, opts.key) : serializeRecipe(recipe);
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `directory ${dirname(path)} does not exist` : code === 'EACCES' ? `permission denied in ${dirname(path)}` : code === 'ENOSPC' ? 'no space left on the device' : (e as Error).message;
    throw new SmrError('OUTPUT_FAILED', `cannot write recipe ${path}: ${why}`);
  }
}
