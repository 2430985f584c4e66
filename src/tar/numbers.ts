// Numeric fields of tar headers and pax records. Parsers return NaN for text
// that is not a number and ±Infinity for numbers JS cannot hold exactly, so
// the caller, which knows the entry, can word the error.

import type { TarTime } from './types.js';

const SPACE = 0x20;
const NUL = 0x00;

/**
 * A numeric header field: octal text (POSIX), or GNU base-256 when the high
 * bit of the first byte is set (big-endian two's complement, so negative
 * mtimes and uids past 2^32 fit).
 */
export function parseNumericField(b: Uint8Array, off: number, len: number): number {
  if (b[off]! & 0x80) return parseBase256(b, off, len);
  const end = off + len;
  let i = off;
  // Writers pad on either side with spaces or NULs; an empty field means 0.
  while (i < end && (b[i] === SPACE || b[i] === NUL)) i++;
  let v = 0;
  for (; i < end; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 7) break;
    v = v * 8 + d;
  }
  for (; i < end; i++) if (b[i] !== SPACE && b[i] !== NUL) return NaN;
  // v only grows, so every step was exact when the result is a safe integer.
  return v > Number.MAX_SAFE_INTEGER ? Infinity : v;
}

function parseBase256(b: Uint8Array, off: number, len: number): number {
  const negative = (b[off]! & 0x40) !== 0;
  // For a negative number sum the inverted bits: -(~x) - 1 == x.
  const flip = negative ? 0xff : 0x00;
  let v = (b[off]! ^ flip) & 0x7f;
  for (let i = off + 1; i < off + len; i++) {
    v = v * 256 + (b[i]! ^ flip);
    if (v > Number.MAX_SAFE_INTEGER) return negative ? -Infinity : Infinity;
  }
  return negative ? -v - 1 : v;
}

/** A pax decimal integer (size, uid, gid, devmajor…): digits only. */
export function parsePaxInteger(s: Uint8Array): number {
  if (s.length === 0) return NaN;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s[i]! - 0x30;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v > Number.MAX_SAFE_INTEGER ? Infinity : v;
}

/**
 * A pax time: `[-]seconds[.fraction]`. Fractions past nanoseconds are cut.
 * A negative time is floored, so -1.25 is sec -2, nsec 750000000.
 * Returns null when the text is not a time or is out of range.
 */
export function parsePaxTime(s: Uint8Array): TarTime | null {
  let i = 0;
  const negative = s[0] === 0x2d; // '-'
  if (negative) i++;
  let sec = 0;
  const intStart = i;
  for (; i < s.length; i++) {
    const d = s[i]! - 0x30;
    if (d < 0 || d > 9) break;
    sec = sec * 10 + d;
  }
  const intDigits = i - intStart;
  let nsec = 0;
  let fracDigits = 0;
  if (i < s.length && s[i] === 0x2e) {
    // '.'
    i++;
    for (; i < s.length; i++) {
      const d = s[i]! - 0x30;
      if (d < 0 || d > 9) return null;
      if (fracDigits < 9) nsec = nsec * 10 + d;
      fracDigits++;
    }
    if (fracDigits === 0) return null;
    for (let k = fracDigits; k < 9; k++) nsec *= 10;
  }
  if (i !== s.length || intDigits === 0 || sec > Number.MAX_SAFE_INTEGER - 1) return null;
  if (!negative) return { sec, nsec };
  if (nsec === 0) return { sec: sec === 0 ? 0 : -sec, nsec: 0 };
  return { sec: -sec - 1, nsec: 1_000_000_000 - nsec };
}
