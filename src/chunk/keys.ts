// Tenant keys and salts from the command line.
import { readFile } from 'node:fs/promises';
import { SmrError } from '../util/errors.js';

/** A 32-byte key file: raw bytes, 64 hex digits, or base64 of 32 bytes. */
export async function loadKeyFile(path: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SmrError('KEY_NOT_FOUND', code === 'ENOENT' ? `key file ${path} does not exist` : `cannot read key file ${path}: ${(e as Error).message}`);
  }
  if (raw.length === 32) return raw;
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    const b = Buffer.from(text, 'base64');
    if (b.length === 32) return b;
  }
  throw new SmrError('KEY_INVALID', `key file ${path} must hold 32 bytes: raw, 64 hex digits or base64 (make one with: head -c 32 /dev/urandom > ${path})`);
}

/** --salt TEXT: the UTF-8 bytes of TEXT (any string a tenant chooses). */
export function parseSalt(text: string): Buffer {
  if (text.length === 0) throw new SmrError('USAGE', '--salt must not be empty');
  return Buffer.from(text, 'utf8');
}
