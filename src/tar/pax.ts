// POSIX pax extended headers: records "<len> <keyword>=<value>\n". Values are
// byte strings: the length prefix, not the newline, says where a value ends,
// so xattr values may hold NULs and newlines.

import { describeAt, tarError } from './errors.js';
import { parsePaxInteger, parsePaxTime } from './numbers.js';
import type { TarTime } from './types.js';

/** keyword → raw value, in the order the records came (later records win). */
export type PaxRecords = Map<string, Buffer>;

const SCHILY_XATTR = 'SCHILY.xattr.';
const LIBARCHIVE_XATTR = 'LIBARCHIVE.xattr.';

/**
 * Parses the body of a 'x' or 'g' header into `into`. `offset` is the
 * extended header's own position, for messages. Values are copied, since the
 * body may be a view of an input chunk.
 */
export function parsePaxRecords(body: Buffer, into: PaxRecords, offset: number): void {
  const bad = (pos: number, why: string) =>
    tarError('TAR_BAD_HEADER', `the pax extended header at offset ${offset} has a malformed record at byte ${pos}: ${why}`);
  let pos = 0;
  while (pos < body.length) {
    if (body[pos] === 0 && isAllZero(body, pos)) break; // some writers pad the body with NULs
    let len = 0;
    let i = pos;
    while (i < body.length && body[i]! >= 0x30 && body[i]! <= 0x39 && i - pos < 16) len = len * 10 + (body[i++]! - 0x30);
    if (i === pos || body[i] !== 0x20) throw bad(pos, 'no length');
    const end = pos + len;
    if (len < i - pos + 4 || end > body.length) throw bad(pos, `length ${len} does not fit`);
    if (body[end - 1] !== 0x0a) throw bad(pos, 'no newline at the end');
    const kwStart = i + 1;
    const eq = body.indexOf(0x3d, kwStart); // '='
    if (eq < 0 || eq >= end - 1 || eq === kwStart) throw bad(pos, 'no keyword');
    const keyword = body.toString('utf8', kwStart, eq);
    into.set(keyword, Buffer.from(body.subarray(eq + 1, end - 1)));
    pos = end;
  }
}

function isAllZero(b: Buffer, from: number): boolean {
  for (let i = from; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function isXattrKeyword(k: string): boolean {
  return k.startsWith(SCHILY_XATTR) || k.startsWith(LIBARCHIVE_XATTR);
}

/**
 * Folds a 'g' header's records into the global set. An empty value removes
 * the keyword (POSIX); for xattrs an empty value is an empty xattr.
 */
export function mergeGlobal(global: PaxRecords, records: PaxRecords, offset: number): void {
  for (const [k, v] of records) {
    // POSIX would give every later entry this one name or size; no writer
    // means that, and readers disagree (Go and libarchive ignore 'g'), so refuse.
    if ((k === 'path' || k === 'linkpath' || k === 'size') && v.length > 0) {
      throw tarError('TAR_UNSUPPORTED', `the global pax header at offset ${offset} sets ${k} for every later entry, which is not supported`);
    }
    if (v.length === 0 && !isXattrKeyword(k)) global.delete(k);
    else global.set(k, v);
  }
}

/** What pax records override in an entry's header. */
export interface PaxFields {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: TarTime;
  atime?: TarTime;
  ctime?: TarTime;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

/**
 * Resolves the global and per-entry records for the entry named `name` whose
 * header is at `offset`. A per-entry record with an empty value masks the
 * global one, so the header's own field applies.
 */
export function resolvePax(global: PaxRecords, local: PaxRecords | null, name: string, offset: number): PaxFields {
  const out: PaxFields = {};
  const apply = (k: string, v: Buffer) => {
    if (v.length === 0 && !isXattrKeyword(k)) return;
    const bad = (why: string) => tarError('TAR_BAD_HEADER', `${describeAt(name, offset)} has a pax record ${k} ${why}`);
    const integer = (): number => {
      const n = parsePaxInteger(v);
      if (!Number.isFinite(n)) throw bad('that is not a number in range');
      return n;
    };
    const time = (): TarTime => {
      const t = parsePaxTime(v);
      if (t === null) throw bad('that is not a time');
      return t;
    };
    switch (k) {
      case 'path':
      case 'linkpath': {
        if (v.includes(0)) throw bad('with a NUL byte');
        out[k] = v.toString('latin1');
        return;
      }
      case 'size':
      case 'uid':
      case 'gid':
      case 'SCHILY.devmajor':
      case 'SCHILY.devminor': {
        const n = parsePaxInteger(v);
        if (k === 'size' && n === Infinity) {
          throw tarError('TAR_UNSUPPORTED', `${describeAt(name, offset)} is larger than 2^53 bytes`);
        }
        const field: 'size' | 'uid' | 'gid' | 'devmajor' | 'devminor' =
          k === 'SCHILY.devmajor' ? 'devmajor' : k === 'SCHILY.devminor' ? 'devminor' : k;
        out[field] = integer();
        return;
      }
      case 'mtime':
      case 'atime':
      case 'ctime':
        out[k] = time();
        return;
    }
    if (k.startsWith('GNU.sparse.')) {
      throw tarError('TAR_UNSUPPORTED', `${describeAt(name, offset)} is a GNU sparse file (pax ${k}), which is not supported`);
    }
    if (k.startsWith(SCHILY_XATTR)) {
      (out.xattrs ??= new Map()).set(k.slice(SCHILY_XATTR.length), v);
    } else if (k.startsWith(LIBARCHIVE_XATTR)) {
      // libarchive URL-encodes the name and base64-encodes the value.
      const xname = percentDecode(k.slice(LIBARCHIVE_XATTR.length));
      if (xname === null) throw bad('with a malformed name');
      (out.xattrs ??= new Map()).set(xname, Buffer.from(v.toString('latin1'), 'base64'));
    }
    // Other keywords (uname, gname, comment, charset, hdrcharset…) change nothing we keep.
  };
  for (const [k, v] of global) if (local === null || !local.has(k)) apply(k, v);
  if (local !== null) for (const [k, v] of local) apply(k, v);
  return out;
}

function percentDecode(s: string): string | null {
  if (!s.includes('%')) return s;
  const bytes = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x25) {
      out[n++] = bytes[i]!;
      continue;
    }
    const hex = bytes.toString('latin1', i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
    out[n++] = parseInt(hex, 16);
    i += 2;
  }
  return out.toString('utf8', 0, n);
}
