// One 512-byte tar header block: checksum, format (v7, ustar, GNU, star) and
// the raw fields. Extended headers (pax, GNU long names) are applied later by
// the reader; this file knows nothing about the entries around it.

import { describeAt, tarError } from './errors.js';
import { parseNumericField } from './numbers.js';

export const BLOCK = 512;

export interface RawHeader {
  /** Name field, with the ustar prefix applied; latin1. */
  name: string;
  mode: number;
  uid: number;
  gid: number;
  /** The size field: bytes of data that follow for types that carry data. */
  size: number;
  mtime: number;
  /** The type byte ('0' is 0x30); 0 for old tars' regular files. */
  typeflag: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** Bytes up to the first NUL in b[off, off+len), as latin1. */
export function cString(b: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && b[end] !== 0) end++;
  return end === off ? '' : b.toString('latin1', off, end);
}

const enum Magic {
  V7,
  Ustar,
  Gnu,
}

function magicOf(b: Buffer, o: number): Magic {
  // "ustar" at 257, then NUL (POSIX) or space (GNU's pre-POSIX format).
  if (b[o + 257] !== 0x75 || b[o + 258] !== 0x73 || b[o + 259] !== 0x74 || b[o + 260] !== 0x61 || b[o + 261] !== 0x72) {
    return Magic.V7;
  }
  const m = b[o + 262];
  return m === 0 ? Magic.Ustar : m === 0x20 ? Magic.Gnu : Magic.V7;
}

/**
 * Parses the block at b[o..o+512). Returns null for an all-zero block (an end
 * marker). `offset` is the block's position in the stream, for messages.
 */
export function parseHeader(b: Buffer, o: number, offset: number): RawHeader | null {
  // Some old tars summed signed chars; accept either sum.
  let unsigned = 0;
  let signed = 0;
  for (let i = o, end = o + BLOCK; i < end; i++) {
    const x = b[i]!;
    unsigned += x;
    signed += (x << 24) >> 24;
  }
  if (unsigned === 0) return null;
  for (let i = o + 148; i < o + 156; i++) {
    const x = b[i]!;
    unsigned += 0x20 - x;
    signed += 0x20 - ((x << 24) >> 24);
  }
  const stored = parseNumericField(b, o + 148, 8);
  const name0 = cString(b, o, 100);
  if (stored !== unsigned && stored !== signed) {
    throw tarError('TAR_BAD_CHECKSUM', `${describeAt(name0, offset)} has an invalid header checksum`);
  }

  const magic = magicOf(b, o);
  let name = name0;
  if (magic === Magic.Ustar) {
    // star keeps atime/ctime after a shorter prefix and marks that with "tar\0" at 508.
    const star = b[o + 508] === 0x74 && b[o + 509] === 0x61 && b[o + 510] === 0x72 && b[o + 511] === 0;
    const prefix = cString(b, o + 345, star ? 131 : 155);
    if (prefix !== '') name = prefix + '/' + name;
  }

  const field = (at: number, len: number, what: string): number => {
    const v = parseNumericField(b, o + at, len);
    if (Number.isNaN(v)) throw tarError('TAR_BAD_HEADER', `${describeAt(name, offset)} has an invalid ${what} field`);
    return v;
  };
  const mode = field(100, 8, 'mode');
  const uid = field(108, 8, 'uid');
  const gid = field(116, 8, 'gid');
  const size = field(124, 12, 'size');
  const mtime = field(136, 12, 'mtime');
  if (!Number.isFinite(mode) || mode < 0) throw tarError('TAR_BAD_HEADER', `${describeAt(name, offset)} has an invalid mode field`);
  if (!Number.isFinite(uid) || uid < 0 || !Number.isFinite(gid) || gid < 0) {
    throw tarError('TAR_BAD_HEADER', `${describeAt(name, offset)} has an owner out of range`);
  }
  if (size < 0) throw tarError('TAR_BAD_HEADER', `${describeAt(name, offset)} has a negative size`);
  if (size === Infinity) throw tarError('TAR_UNSUPPORTED', `${describeAt(name, offset)} is larger than 2^53 bytes`);
  if (!Number.isFinite(mtime)) throw tarError('TAR_BAD_HEADER', `${describeAt(name, offset)} has an mtime out of range`);

  const typeflag = b[o + 156]!;
  let devmajor = 0;
  let devminor = 0;
  // Device numbers only mean something for devices; other entries may hold junk there.
  if (magic !== Magic.V7 && (typeflag === 0x33 || typeflag === 0x34)) {
    devmajor = field(329, 8, 'devmajor');
    devminor = field(337, 8, 'devminor');
    if (!Number.isFinite(devmajor) || devmajor < 0 || !Number.isFinite(devminor) || devminor < 0) {
      throw tarError('TAR_BAD_HEADER', `${describeAt(name, offset)} has a device number out of range`);
    }
  }
  return { name, mode, uid, gid, size, mtime, typeflag, linkname: cString(b, o + 157, 100), devmajor, devminor };
}

export function isZeroBlock(b: Buffer, o: number): boolean {
  for (let i = o, end = o + BLOCK; i < end; i++) if (b[i] !== 0) return false;
  return true;
}

/** Bytes of padding after `size` bytes of data, up to the next block. */
export function paddingFor(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}
