// Tenant keys and salts from the command line (docs/recipe.md, "Keys").
import { open } from 'node:fs/promises';
import { isHex64 } from '../util/digest.js';
import { SmrError } from '../util/errors.js';
import { checkPrivateMode } from '../util/private-file.js';

const KEY_BYTES = 32;
/** Room for 64 hex digits or 44 base64 characters with any whitespace around. */
const MAX_KEY_FILE = 4096;
/** Base64 of 32 bytes: 43 characters and one '=' (optional), standard or URL-safe. */
const BASE64_KEY = /^(?:[A-Za-z0-9+/]{43}|[A-Za-z0-9_-]{43})=?$/;
const MAKE_ONE = 'make one with: (umask 077; head -c 32 /dev/urandom > FILE)';
const FORMATS = `it must hold 32 bytes: raw, as 64 hex digits, or as base64 (${MAKE_ONE})`;

function isText(b: Buffer): boolean {
  return b.every((c) => (c >= 0x20 && c < 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d);
}

/** The key in a key file's bytes, or why there is none. */
function parseKey(raw: Buffer): Buffer | string {
  let key: Buffer | undefined;
  // 32 bytes of text are a mistake (hex of 16 bytes, a passphrase), not a key:
  // a random key is all printable with probability about 1e-14.
  if (raw.length === KEY_BYTES && !isText(raw)) key = raw;
  else if (isText(raw)) {
    const text = raw.toString('latin1').trim();
    if (isHex64(text.toLowerCase())) key = Buffer.from(text, 'hex');
    else if (BASE64_KEY.test(text)) key = Buffer.from(text, 'base64');
  }
  if (key === undefined) return FORMATS;
  if (key.every((c) => c === 0)) return `its key is all zeros (${MAKE_ONE})`;
  return key;
}

/** A 32-byte tenant key: a raw 32-byte file, 64 hex digits, or base64 of 32 bytes. */
export async function loadKeyFile(path: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new SmrError('KEY_INVALID', `key file ${path} is not a file`);
      checkPrivateMode(st.mode, path, 'key file');
      if (st.size > MAX_KEY_FILE) throw new SmrError('KEY_INVALID', `key file ${path} has ${st.size} bytes: ${FORMATS}`);
      raw = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof SmrError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SmrError('KEY_NOT_FOUND', `key file ${path} does not exist (${MAKE_ONE})`);
    throw new SmrError('KEY_UNREADABLE', `cannot read key file ${path}: ${code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
  const key = parseKey(raw);
  if (typeof key === 'string') throw new SmrError('KEY_INVALID', `key file ${path}: ${key}`);
  return key;
}

/** Salts longer than this are surely a mistake (a file's content?). */
const MAX_SALT_BYTES = 1024;

/**
 * --salt TEXT: the UTF-8 bytes of TEXT, exactly as given (no trimming, no
 * Unicode normalisation, no hex decoding), so a tenant id works as it is.
 */
export function parseSalt(text: string): Buffer {
  const salt = Buffer.from(text, 'utf8');
  if (salt.length === 0) throw new SmrError('USAGE', '--salt must not be empty');
  if (salt.length > MAX_SALT_BYTES) throw new SmrError('USAGE', `--salt is ${salt.length} bytes long; at most ${MAX_SALT_BYTES}`);
  if (salt.toString('utf8') !== text) throw new SmrError('USAGE', '--salt is not valid Unicode text');
  return salt;
}
