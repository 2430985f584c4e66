// A tiny tar writer for tests: builds header blocks field by field, so tests
// can make exactly the archive (or the broken archive) they need.

export const BLOCK = 512;

export type Magic = 'ustar' | 'gnu' | 'v7' | 'star';

export interface HeaderSpec {
  /** latin1 byte string */
  name?: string;
  mode?: number | Buffer;
  uid?: number | Buffer;
  gid?: number | Buffer;
  /** Size field; a Buffer is written raw (e.g. base-256). */
  size?: number | Buffer;
  mtime?: number | Buffer;
  typeflag?: string;
  linkname?: string;
  magic?: Magic;
  prefix?: string;
  devmajor?: number | Buffer;
  devminor?: number | Buffer;
  uname?: string;
  gname?: string;
  /** How the checksum is written: the usual unsigned sum, old tars' signed sum, or wrong. */
  checksum?: 'unsigned' | 'signed' | 'bad';
}

/** n in octal, zero-padded to len-1 digits and NUL-terminated. */
export function octal(n: number, len: number): Buffer {
  const s = n.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`octal ${n} does not fit in ${len}`);
  return Buffer.from(s + '\0', 'latin1');
}

/** GNU base-256: big-endian two's complement with the high bit of byte 0 set. */
export function base256(n: bigint | number, len: number): Buffer {
  let v = BigInt(n);
  const b = Buffer.alloc(len);
  const negative = v < 0n;
  if (negative) v = (1n << BigInt(8 * len)) + v;
  for (let i = len - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  b[0] = negative ? b[0]! | 0xc0 : 0x80 | (b[0]! & 0x7f);
  return b;
}

function put(b: Buffer, at: number, len: number, v: string | Buffer | undefined): void {
  if (v === undefined) return;
  const bytes = typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
  if (bytes.length > len) throw new Error(`field at ${at} takes ${len} bytes, got ${bytes.length}`);
  bytes.copy(b, at);
}

const num = (v: number | Buffer | undefined, len: number): Buffer | undefined =>
  v === undefined ? undefined : Buffer.isBuffer(v) ? v : octal(v, len);

export function header(spec: HeaderSpec): Buffer {
  const b = Buffer.alloc(BLOCK);
  const magic = spec.magic ?? 'ustar';
  put(b, 0, 100, spec.name ?? 'file');
  put(b, 100, 8, num(spec.mode ?? 0o644, 8));
  put(b, 108, 8, num(spec.uid ?? 0, 8));
  put(b, 116, 8, num(spec.gid ?? 0, 8));
  put(b, 124, 12, num(spec.size ?? 0, 12));
  put(b, 136, 12, num(spec.mtime ?? 1_700_000_000, 12));
  put(b, 156, 1, spec.typeflag ?? '0');
  put(b, 157, 100, spec.linkname);
  if (magic === 'ustar' || magic === 'star') put(b, 257, 8, 'ustar\x0000');
  if (magic === 'gnu') put(b, 257, 8, 'ustar  \x00');
  if (magic !== 'v7') {
    put(b, 265, 32, spec.uname ?? 'root');
    put(b, 297, 32, spec.gname ?? 'root');
    put(b, 329, 8, num(spec.devmajor ?? 0, 8));
    put(b, 337, 8, num(spec.devminor ?? 0, 8));
  }
  put(b, 345, magic === 'star' ? 131 : 155, spec.prefix);
  if (magic === 'star') put(b, 508, 4, 'tar\0');
  setChecksum(b, spec.checksum ?? 'unsigned');
  return b;
}

/** Rewrites the checksum of the header at b[o..o+512). */
export function setChecksum(b: Buffer, how: 'unsigned' | 'signed' | 'bad' = 'unsigned', o = 0): void {
  b.fill(0x20, o + 148, o + 156);
  let sum = 0;
  for (let i = o; i < o + BLOCK; i++) sum += how === 'signed' ? (b[i]! << 24) >> 24 : b[i]!;
  if (how === 'bad') sum += 1;
  // Signed sums can be negative; the field is then written as its 6-digit two's complement.
  const v = sum < 0 ? 0o1000000 + sum : sum;
  Buffer.from(v.toString(8).padStart(6, '0') + '\0 ', 'latin1').copy(b, o + 148);
}

export function padded(data: Buffer): Buffer {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return pad === 0 ? data : Buffer.concat([data, Buffer.alloc(pad)]);
}

/** A header followed by its data, padded to the block size. */
export function entry(spec: HeaderSpec, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const d = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  return Buffer.concat([header({ size: d.length, ...spec }), padded(d)]);
}

/** The body of a pax extended header; values are raw bytes. */
export function paxBody(records: Array<[string, string | Buffer]>): Buffer {
  const parts = records.map(([k, v]) => {
    const kv = Buffer.concat([Buffer.from(` ${k}=`, 'utf8'), typeof v === 'string' ? Buffer.from(v, 'utf8') : v, Buffer.from('\n')]);
    // The length counts its own digits.
    let len = kv.length + 1;
    while (String(len).length + kv.length !== len) len++;
    return Buffer.concat([Buffer.from(String(len)), kv]);
  });
  return Buffer.concat(parts);
}

/** A pax 'x' (or 'g') header with its records. */
export function pax(records: Array<[string, string | Buffer]>, typeflag: 'x' | 'g' | 'X' = 'x', name = 'PaxHeader'): Buffer {
  return entry({ name, typeflag }, paxBody(records));
}

/** A GNU 'L' or 'K' header carrying a long name. */
export function gnuLong(kind: 'L' | 'K', longName: string): Buffer {
  return entry({ name: '././@LongLink', typeflag: kind, magic: 'gnu' }, Buffer.from(longName + '\0', 'latin1'));
}

export function endMarker(blocks = 2): Buffer {
  return Buffer.alloc(BLOCK * blocks);
}

export function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, endMarker()]);
}

/** An async iterable over `buf` in pieces of the given sizes (cycled), as a stream would deliver it. */
export async function* pieces(buf: Buffer, sizes: number[] = [buf.length || 1]): AsyncGenerator<Buffer> {
  let i = 0;
  let k = 0;
  while (i < buf.length) {
    const n = Math.max(1, sizes[k++ % sizes.length]!);
    yield buf.subarray(i, i + n);
    i += n;
  }
}

/** One archive with every kind of header, for the split tests. */
export function kitchenSink(): Buffer {
  return archive(
    pax([['comment', 'global']], 'g'),
    entry({ name: 'a/', typeflag: '5' }),
    entry({ name: 'a/f' }, 'hello'.repeat(150)),
    pax([
      ['path', 'a/' + 'p'.repeat(300)],
      ['mtime', '1.5'],
      ['SCHILY.xattr.user.x', Buffer.from([0, 10, 1])],
    ]),
    entry({ name: 'trunc' }, 'x'.repeat(513)),
    gnuLong('L', 'g'.repeat(600)),
    gnuLong('K', 'k'.repeat(200)),
    entry({ name: 'g', typeflag: '1', magic: 'gnu' }),
    entry({ name: 'dev', typeflag: '3', devmajor: 1, devminor: 5 }),
    entry({ name: 'empty' }),
    entry({ name: 'big', uid: base256(2 ** 33, 8), magic: 'gnu' }, Buffer.alloc(1024, 9)),
  );
}
