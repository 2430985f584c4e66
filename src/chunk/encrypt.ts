// Convergent encryption of chunks. The key is derived from the plaintext, so
// equal plaintexts (under the same salt) give equal ciphertexts and the store
// still dedups; only a holder of the recipe (which lists the keys) can read a
// chunk. A fixed IV is safe here because a key never encrypts two different
// messages: the key is a function of the message.
import { createCipheriv, createHash } from 'node:crypto';

/** Domain separation: these keys are never confused with another SHA-256. */
const KEY_LABEL = Buffer.from('stream-my-root chunk key v1\0', 'latin1');
const ZERO_IV = Buffer.alloc(16);
const NO_SALT = Buffer.alloc(0);

/**
 * key = SHA-256(label || salt || SHA-256(plaintext)). The salt needs no length
 * prefix: label and inner hash have fixed lengths, so the salt is what lies
 * between them.
 */
export function chunkKey(plain: Buffer, salt?: Buffer): Buffer {
  const inner = createHash('sha256').update(plain).digest();
  return createHash('sha256').update(KEY_LABEL).update(salt ?? NO_SALT).update(inner).digest();
}

/** AES-256-CTR with a zero IV: the same call encrypts and decrypts. */
export function aes256ctr(key: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('aes-256-ctr', key, ZERO_IV);
  const head = c.update(data);
  const tail = c.final(); // empty for CTR
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}
