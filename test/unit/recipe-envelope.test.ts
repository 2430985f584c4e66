// Encrypted recipes: the key is required and checked, every field of the
// envelope is authenticated, and no flipped bit ever yields a recipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { encryptRecipe, keyId, parseRecipe, serializeRecipe } from '../../src/chunk/recipe.js';
import { sealRecipe } from '../../src/chunk/recipe-envelope.js';
import { ENCRYPTED_RECIPE_MEDIA_TYPE, RECIPE_MEDIA_TYPE, type Recipe } from '../../src/chunk/types.js';
import { isSmrError } from '../../src/util/errors.js';

const tenantKey = Buffer.alloc(32, 0x5a);
const recipe: Recipe = {
  mediaType: RECIPE_MEDIA_TYPE,
  version: 1,
  source: { reference: 'localhost/app:1' },
  imageSize: 5 * 65536,
  chunkSize: 65536,
  encoding: { compression: 'zstd', encryption: 'convergent-aes-256-ctr', salt: Buffer.from('t') },
  chunks: [0, 2, 4].map((index) => ({ index, digest: createHash('sha256').update(`c${index}`).digest('hex'), storedLength: 100 + index, key: Buffer.alloc(32, index + 1), salt: Buffer.from('t') })),
};

function code(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (isSmrError(e)) return e.code;
    throw e;
  }
}

test('an encrypted recipe opens with its key, and only with it', () => {
  const sealed = encryptRecipe(recipe, tenantKey);
  assert.deepEqual(parseRecipe(sealed, { key: tenantKey }), recipe);
  const env = JSON.parse(sealed.toString()) as Record<string, string | number>;
  assert.deepEqual(Object.keys(env), ['mediaType', 'version', 'cipher', 'keyId', 'nonce', 'tag', 'ciphertext']);
  assert.equal(env.mediaType, ENCRYPTED_RECIPE_MEDIA_TYPE);
  assert.equal(env.cipher, 'aes-256-gcm');
  assert.equal(env.keyId, createHash('sha256').update(tenantKey).digest('hex').slice(0, 16));
  assert.equal(env.keyId, keyId(tenantKey));
  // Nothing of the plain recipe shows.
  for (const needle of [recipe.chunks[0]!.digest, 'localhost/app', 'chunks', Buffer.alloc(32, 1).toString('base64')]) assert.equal(sealed.includes(needle), false, needle);
  // A fresh nonce each time.
  assert.notDeepEqual(encryptRecipe(recipe, tenantKey), sealed);

  assert.throws(() => parseRecipe(sealed), (e: unknown) => isSmrError(e) && e.code === 'RECIPE_KEY_REQUIRED' && e.message === 'this recipe is encrypted: give --key-file');
  assert.throws(() => parseRecipe(sealed, { key: randomBytes(32) }), (e: unknown) => isSmrError(e) && e.code === 'RECIPE_WRONG_KEY' && /another key/.test(e.message));
  assert.equal(code(() => parseRecipe(sealed, { key: Buffer.alloc(16) })), 'KEY_INVALID');
  // A plain recipe needs no key, and ignores one.
  assert.deepEqual(parseRecipe(serializeRecipe(recipe), { key: tenantKey }), recipe);
});

test('every flipped bit of an envelope is refused', () => {
  const sealed = encryptRecipe(recipe, tenantKey);
  const seen = new Map<string, number>();
  const versionAt = sealed.indexOf('"version":1') + '"version":'.length;
  for (let i = 0; i < sealed.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = Buffer.from(sealed);
      bad[i]! ^= 1 << bit;
      const c = code(() => parseRecipe(bad, { key: tenantKey }));
      seen.set(c, (seen.get(c) ?? 0) + 1);
      // A changed version digit reads as a version this smr does not know.
      const allowed = i === versionAt ? ['RECIPE_INVALID', 'RECIPE_VERSION'] : ['RECIPE_INVALID', 'RECIPE_WRONG_KEY'];
      assert.ok(allowed.includes(c), `byte ${i} bit ${bit}: ${c}`);
    }
  }
  assert.ok((seen.get('RECIPE_WRONG_KEY') ?? 0) > 0 && (seen.get('RECIPE_INVALID') ?? 0) > 0);
});

test('envelope fields are checked before and after decryption', () => {
  const env = JSON.parse(encryptRecipe(recipe, tenantKey).toString()) as Record<string, unknown>;
  const parse = (e: Record<string, unknown>) => code(() => parseRecipe(Buffer.from(JSON.stringify(e)), { key: tenantKey }));
  const tag = Buffer.from(env.tag as string, 'base64');
  const cases: [Record<string, unknown>, string][] = [
    [{ ...env, version: 2 }, 'RECIPE_VERSION'],
    [{ ...env, version: undefined }, 'RECIPE_INVALID'],
    [{ ...env, cipher: 'aes-128-gcm' }, 'RECIPE_INVALID'],
    [{ ...env, keyId: 'XYZ' }, 'RECIPE_INVALID'],
    [{ ...env, nonce: Buffer.alloc(8).toString('base64') }, 'RECIPE_INVALID'],
    // A truncated tag would weaken GCM: refused outright.
    [{ ...env, tag: tag.subarray(0, 12).toString('base64') }, 'RECIPE_INVALID'],
    [{ ...env, tag: undefined }, 'RECIPE_INVALID'],
    [{ ...env, ciphertext: `${env.ciphertext as string}!` }, 'RECIPE_INVALID'],
    [{ ...env, ciphertext: '' }, 'RECIPE_INVALID'],
    [{ ...env, extra: 1 }, 'ok'],
  ];
  for (const [e, expected] of cases) assert.equal(parse(e), expected, JSON.stringify(e).slice(0, 80));
  // Sealed garbage (the right key, no recipe inside) is still RECIPE_INVALID.
  for (const inner of ['not json', '{"mediaType":"x"}', JSON.stringify({ ...JSON.parse(serializeRecipe(recipe).toString()), version: 2 })]) {
    const expected = inner.includes('"version":2') ? 'RECIPE_VERSION' : 'RECIPE_INVALID';
    assert.equal(code(() => parseRecipe(sealRecipe(Buffer.from(inner), tenantKey), { key: tenantKey })), expected, inner.slice(0, 40));
  }
  // An envelope inside an envelope is not a recipe.
  assert.equal(code(() => parseRecipe(sealRecipe(encryptRecipe(recipe, tenantKey), tenantKey), { key: tenantKey })), 'RECIPE_INVALID');
});
