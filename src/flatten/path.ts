// Turning tar entry names into safe path components inside the image root.
import { SmrError } from '../util/errors.js';

/** Linux's limit on one name (NAME_MAX), which ext4 shares. */
const NAME_MAX = 255;

/**
 * Splits a tar name (latin1 byte string) into components. "./a//b/" gives
 * ["a","b"]; "" and "." give [] (the root). Absolute names and ".." are
 * refused: a layer must not reach outside the image root.
 */
export function splitEntryPath(name: string, what: () => string): string[] {
  if (name.startsWith('/')) {
    throw new SmrError('LAYER_PATH_ESCAPE', `${what()}: absolute path is not allowed in a layer`);
  }
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      throw new SmrError('LAYER_PATH_ESCAPE', `${what()}: path contains '..'`);
    }
    if (part.length > NAME_MAX) {
      throw new SmrError('LAYER_NAME_TOO_LONG', `${what()}: name component is ${part.length} bytes, at most ${NAME_MAX} allowed`);
    }
    if (part.includes('\0')) {
      throw new SmrError('LAYER_BAD_NAME', `${what()}: name contains a NUL byte`);
    }
    parts.push(part);
  }
  return parts;
}

/** Printable form of a latin1 byte-string path for messages. */
export function displayPath(name: string): string {
  return Buffer.from(name, 'latin1').toString('utf8');
}
