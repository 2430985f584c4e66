// fast-check arbitraries for tar fuzzing: random entries, written in a random
// but valid style (pax, GNU, ustar), plus byte-level mutations.

import fc from 'fast-check';
import type { TarEntryType } from '../../src/tar/index.js';
import { isSmrError } from '../../src/util/errors.js';
import { base256, endMarker, entry, gnuLong, header, octal, pax, type HeaderSpec, type Magic } from './tar-build.js';
import { collect, hexXattrs, type Collected } from './tar-collect.js';

export interface EntrySpec {
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: { sec: number; nsec: number };
  linkname: string;
  devmajor: number;
  devminor: number;
  data: Buffer;
  xattrs: Array<[string, Buffer]>;
  /** Which encodings to prefer, as a number the writer reduces to a feasible style. */
  styleSeed: number;
}

const OCTAL7 = 0o7777777;
const OCTAL11 = 0o77777777777;

/** A path segment: 1..40 bytes of anything but NUL and '/', as latin1. */
const segment = fc
  .array(
    fc.integer({ min: 1, max: 255 }).filter((c) => c !== 0x2f),
    { minLength: 1, maxLength: 40 },
  )
  .map((cs) => String.fromCharCode(...cs));
const pathArb = fc.array(segment, { minLength: 1, maxLength: 9 }).map((s) => s.join('/'));
const xattrName = fc.stringMatching(/^(user|trusted|security)\.[a-z0-9._-]{1,20}$/);

export const entrySpec: fc.Arbitrary<EntrySpec> = fc
  .record({
    path: pathArb,
    type: fc.constantFrom<TarEntryType>('file', 'file', 'file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constant(2 ** 40)),
    gid: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    sec: fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: -(2 ** 34), max: 2 ** 34 })),
    nsec: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999_999 })),
    linkname: pathArb,
    devmajor: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 24 })),
    devminor: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 24 })),
    data: fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u)),
    xattrs: fc.array(fc.tuple(xattrName, fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u))), { maxLength: 3 }),
    styleSeed: fc.nat(),
  })
  .map((r) => {
    const isLink = r.type === 'symlink' || r.type === 'hardlink';
    const isDev = r.type === 'char' || r.type === 'block';
    // Later duplicates of an xattr name would win; keep the first only.
    const seen = new Set<string>();
    const xattrs = r.xattrs.filter(([k]) => !seen.has(k) && seen.add(k));
    return {
      path: r.path,
      type: r.type,
      mode: r.mode,
      uid: r.uid,
      gid: r.gid,
      mtime: { sec: r.sec, nsec: r.nsec },
      linkname: isLink ? r.linkname : '',
      devmajor: isDev ? r.devmajor : 0,
      devminor: isDev ? r.devminor : 0,
      data: r.type === 'file' ? r.data : Buffer.alloc(0),
      xattrs,
      styleSeed: r.styleSeed,
    };
  });

const TYPEFLAG: Record<TarEntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

/** Splits a long name at a '/' into ustar prefix (<= 155) and name (<= 100), if it can be. */
function ustarSplit(path: string): [string, string] | null {
  if (path.length <= 100) return ['', path];
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] === '/' && i <= 155 && path.length - i - 1 <= 100 && path.length - i - 1 > 0) return [path.slice(0, i), path.slice(i + 1)];
  }
  return null;
}

/** The spec as archive bytes, in the style its seed picks among those that can hold it. */
export function encode(s: EntrySpec): Buffer {
  const dataSize = s.data.length;
  const octalOk = s.uid <= OCTAL7 && s.gid <= OCTAL7 && s.mtime.sec >= 0 && s.mtime.sec <= OCTAL11 && s.devmajor <= OCTAL7 && s.devminor <= OCTAL7;
  const exact = s.mtime.nsec === 0 && s.xattrs.length === 0;
  const split = ustarSplit(s.path);
  const styles: Array<'pax' | 'gnu' | 'ustar'> = ['pax'];
  if (exact) styles.push('gnu');
  if (exact && octalOk && split !== null && s.linkname.length <= 100) styles.push('ustar');
  const style = styles[s.styleSeed % styles.length]!;
  const base: HeaderSpec = {
    typeflag: TYPEFLAG[s.type],
    mode: s.mode,
    size: dataSize,
  };
  const parts: Buffer[] = [];
  if (style === 'ustar') {
    Object.assign(base, { name: split![1], prefix: split![0], uid: s.uid, gid: s.gid, mtime: s.mtime.sec, linkname: s.linkname, devmajor: s.devmajor, devminor: s.devminor });
  } else if (style === 'gnu') {
    if (s.path.length > 100) parts.push(gnuLong('L', s.path));
    if (s.linkname.length > 100) parts.push(gnuLong('K', s.linkname));
    const n = (v: number, len: number, max: number) => (v >= 0 && v <= max ? v : base256(v, len));
    Object.assign(base, {
      magic: 'gnu',
      name: s.path.slice(0, 100),
      linkname: s.linkname.slice(0, 100),
      uid: n(s.uid, 8, OCTAL7),
      gid: n(s.gid, 8, OCTAL7),
      mtime: n(s.mtime.sec, 12, OCTAL11),
      devmajor: n(s.devmajor, 8, OCTAL7),
      devminor: n(s.devminor, 8, OCTAL7),
    });
  } else {
    const frac = s.mtime.nsec === 0 ? '' : '.' + String(s.mtime.nsec).padStart(9, '0');
    // pax times are floored: sec + nsec/1e9 written as a decimal.
    const t = s.mtime.sec < 0 && s.mtime.nsec > 0 ? `-${-s.mtime.sec - 1}.${String(1e9 - s.mtime.nsec).padStart(9, '0')}` : `${s.mtime.sec}${frac}`;
    const records: Array<[string, string | Buffer]> = [
      ['path', Buffer.from(s.path, 'latin1')],
      ['uid', String(s.uid)],
      ['gid', String(s.gid)],
      ['mtime', t],
    ];
    if (s.linkname) records.push(['linkpath', Buffer.from(s.linkname, 'latin1')]);
    if (s.type === 'char' || s.type === 'block') records.push(['SCHILY.devmajor', String(s.devmajor)], ['SCHILY.devminor', String(s.devminor)]);
    for (const [k, v] of s.xattrs) records.push([`SCHILY.xattr.${k}`, v]);
    parts.push(pax(records));
    // The ustar fields hold whatever fits; pax overrides them.
    Object.assign(base, { name: s.path.slice(0, 100).replace(/\/+$/, '') || 'x', linkname: s.linkname.slice(0, 100) });
  }
  parts.push(entry(base, s.data));
  return Buffer.concat(parts);
}

/** What TarReader must report for the spec. */
export function expected(s: EntrySpec): Omit<Collected, 'headerOffset' | 'sha256' | 'body'> {
  return {
    path: s.path,
    type: s.type,
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: s.data.length,
    mtime: s.mtime,
    linkname: s.linkname,
    devmajor: s.devmajor,
    devminor: s.devminor,
    xattrs: hexXattrs(new Map(s.xattrs)),
  };
}

export function encodeArchive(specs: EntrySpec[]): Buffer {
  return Buffer.concat([...specs.map(encode), endMarker()]);
}

export const chunkSizes = fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 6 });

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Buffer }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'digits'; at: number; text: string };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }).map((u) => Buffer.from(u)) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 600 }) }),
  // Numbers where numbers go: the likeliest way to reach deep parser paths.
  fc.record({ kind: fc.constant('digits' as const), at: fc.nat(), text: fc.stringMatching(/^[0-9 .=\n-]{1,12}$/) }),
);

export function mutate(buf: Buffer, muts: Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at]! ^= 1 << m.bit;
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      case 'digits':
        Buffer.from(m.text, 'latin1').copy(b, at);
        break;
    }
  }
  return b;
}

const bytesOf = (len: number) => fc.uint8Array({ minLength: len, maxLength: len }).map((u) => Buffer.from(u));

/** A numeric field: octal text, base-256, near-octal text, or junk. */
function numField(len: number, maxOctal = 8 ** (len - 1) - 1): fc.Arbitrary<Buffer> {
  const bits = BigInt(8 * len - 2);
  return fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: maxOctal }).map((n) => octal(n, len)) },
    { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** bits), max: 2n ** bits }).map((n) => base256(n, len)) },
    { weight: 1, arbitrary: fc.stringMatching(new RegExp(`^[0-7 \\x00]{${len}}$`)).map((t) => Buffer.from(t, 'latin1')) },
    { weight: 1, arbitrary: bytesOf(len) },
  );
}

const latin1 = (max: number) => fc.uint8Array({ maxLength: max }).map((u) => Buffer.from(u).toString('latin1'));

/** Header blocks whose checksum is right but whose fields are random. */
export const randomHeader: fc.Arbitrary<Buffer> = fc
  .record({
    name: latin1(100),
    mode: numField(8),
    uid: numField(8),
    gid: numField(8),
    size: numField(12, 3000),
    mtime: numField(12),
    typeflag: fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'X', 'L', 'K', 'S', 'V', 'D', '\0', 'Z', '\xff'),
    linkname: latin1(100),
    magic: fc.constantFrom<Magic>('ustar', 'gnu', 'v7', 'star'),
    prefix: latin1(131),
    devmajor: numField(8),
    devminor: numField(8),
    checksum: fc.constantFrom<'unsigned' | 'signed'>('unsigned', 'unsigned', 'signed'),
  })
  .map((spec) => header(spec));

const paxKeyword = fc.oneof(
  fc.constantFrom('path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'atime', 'ctime', 'SCHILY.devmajor', 'SCHILY.devminor', 'comment', 'hdrcharset', 'GNU.sparse.size'),
  xattrName.map((n) => `SCHILY.xattr.${n}`),
  fc.stringMatching(/^LIBARCHIVE\.xattr\.([a-z0-9.]|%[0-9A-Fa-f]{2}|%){1,8}$/),
  fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !k.includes('=')),
);
const paxValue = fc.oneof(
  fc.stringMatching(/^-?[0-9]{0,12}(\.[0-9]{0,12})?$/).map((t) => Buffer.from(t)),
  fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
);

/** An extended header ('x' or 'g') with random records, then an entry. */
export const randomPax: fc.Arbitrary<Buffer> = fc
  .tuple(fc.array(fc.tuple(paxKeyword, paxValue), { maxLength: 6 }), fc.constantFrom<'x' | 'g' | 'X'>('x', 'g', 'X'), fc.uint8Array({ maxLength: 700 }))
  .map(([records, kind, data]) => Buffer.concat([pax(records, kind), entry({ name: 'e' }, Buffer.from(data))]));

export type Outcome = { ok: Collected[] } | { code: string; message: string };

/**
 * Reads the whole archive. Ends in entries or a tar error; any other
 * exception, or taking longer than `ms`, fails the property.
 */
export async function outcome(src: AsyncIterable<Uint8Array>, ms = 5000, codes = /^TAR_/): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result after ${ms} ms: a hang`)), ms);
  });
  try {
    const ok = await Promise.race([collect(src, { keepBodies: 0 }), hang]);
    return { ok: ok.map(({ body: _b, ...e }) => e) };
  } catch (e) {
    if (isSmrError(e) && codes.test(e.code)) return { code: e.code, message: e.message };
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
