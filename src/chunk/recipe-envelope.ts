// The encrypted recipe (docs/recipe.md): the plain recipe's bytes sealed with
// AES-256-GCM under the tenant key, in a small JSON envelope. The header
// fields are authenticated too (AAD), so none can be changed unnoticed; the
// key id lets a wrong key be named as such before any decryption.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { SmrError } from '../util/errors.js';
import { invalid, strictBase64, unsupportedVersion } from './recipe-json.js';
import { ENCRYPTED_RECIPE_MEDIA_TYPE } from './types.js';

const CIPHER = 'aes-256-gcm';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[0-9a-f]{16}$/;

/** First 8 bytes of SHA-256(key), hex: `sha256sum` of a raw key file shows it too. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** Everything in the envelope but the nonce (bound by GCM itself), ciphertext and tag. */
function aad(version: number, keyIdHex: string): Buffer {
  return Buffer.from(JSON.stringify([ENCRYPTED_RECIPE_MEDIA_TYPE, version, CIPHER, keyIdHex]), 'utf8');
}

function checkKey(key: Buffer): void {
  if (key.length !== 32) throw new SmrError('KEY_INVALID', `a tenant key has 32 bytes, not ${key.length}`);
}

/** Seals plain recipe bytes; a fresh random nonce each time. */
export function sealRecipe(plain: Buffer, tenantKey: Buffer): Buffer {
  checkKey(tenantKey);
  const nonce = randomBytes(NONCE_BYTES);
  const id = keyId(tenantKey);
  const c = createCipheriv(CIPHER, tenantKey, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aad(1, id));
  const ciphertext = Buffer.concat([c.update(plain), c.final()]);
  const envelope = {
    mediaType: ENCRYPTED_RECIPE_MEDIA_TYPE,
    version: 1,
    cipher: CIPHER,
    keyId: id,
    nonce: nonce.toString('base64'),
    tag: c.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
  return Buffer.from(`${JSON.stringify(envelope)}\n`, 'utf8');
}

/** Opens a parsed envelope: the plain recipe's bytes, authenticated. */
export function openRecipe(doc: Record<string, unknown>, tenantKey: Buffer): Buffer {
  checkKey(tenantKey);
  if (typeof doc.version === 'number' && doc.version !== 1) throw unsupportedVersion(doc.version, 'encrypted recipe');
  if (doc.version !== 1) throw invalid(`the encrypted recipe's version ${JSON.stringify(doc.version)} is not the number 1`);
  if (doc.cipher !== CIPHER) throw invalid(`the encrypted recipe's cipher ${JSON.stringify(doc.cipher)} is not "${CIPHER}"`);
  if (typeof doc.keyId !== 'string' || !KEY_ID.test(doc.keyId)) throw invalid("the encrypted recipe's keyId is not 16 hex digits");
  const nonce = strictBase64(doc.nonce);
  if (nonce === undefined || nonce.length !== NONCE_BYTES) throw invalid(`the encrypted recipe's nonce is not ${NONCE_BYTES} bytes of base64`);
  // An exact tag length: GCM would otherwise accept a truncated, weaker tag.
  const tag = strictBase64(doc.tag);
  if (tag === undefined || tag.length !== TAG_BYTES) throw invalid(`the encrypted recipe's tag is not ${TAG_BYTES} bytes of base64`);
  const ciphertext = strictBase64(doc.ciphertext);
  if (ciphertext === undefined) throw invalid("the encrypted recipe's ciphertext is not base64");
  const id = keyId(tenantKey);
  if (doc.keyId !== id) {
    throw new SmrError('RECIPE_WRONG_KEY', `this recipe was encrypted with another key (key id ${doc.keyId}; the key given has ${id})`);
  }
  try {
    const d = createDecipheriv(CIPHER, tenantKey, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(aad(1, id));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch {
    throw invalid('the encrypted recipe does not authenticate: it was damaged or tampered with');
  }
}
