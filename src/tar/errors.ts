// One wording for every tar error, so a message always says which entry and
// which byte offset, and callers can match on the stable code.

import { SmrError } from '../util/errors.js';

export type TarErrorCode = 'TAR_BAD_CHECKSUM' | 'TAR_TRUNCATED' | 'TAR_BAD_HEADER' | 'TAR_UNSUPPORTED';

const MAX_NAME_CHARS = 160;

/** A latin1 byte string shown safely: printable ASCII as is, the rest as \xNN. */
function quoteName(name: string): string {
  const cut = name.length > MAX_NAME_CHARS;
  let out = '';
  const n = cut ? MAX_NAME_CHARS : name.length;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x27 && c !== 0x5c) out += name[i];
    else out += '\\x' + c.toString(16).padStart(2, '0');
  }
  return `'${out}${cut ? '…' : ''}'`;
}

/** "entry 'a/b' at offset 1024", or "the header at offset 1024" when no name is known. */
export function describeAt(name: string | undefined, offset: number): string {
  return name ? `entry ${quoteName(name)} at offset ${offset}` : `the header at offset ${offset}`;
}

export function tarError(code: TarErrorCode, what: string): SmrError {
  return new SmrError(code, `Cannot read the tar stream: ${what}`);
}
