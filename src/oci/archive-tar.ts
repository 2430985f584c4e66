// Just enough tar to find the members of an outer `docker save` archive:
// headers (ustar, PAX path/size/linkpath, GNU long names, base-256 sizes)
// and where each member's bytes are. Unlike the layer reader in src/tar,
// this one can seek: over a plain file it reads 512-byte headers only and
// jumps over the contents, so indexing a multi-GB archive is instant.
import type { FileHandle } from 'node:fs/promises';
import { SmrError } from '../util/errors.js';

export interface ArchiveMember {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  size: number;
  /** Offset of the member's first content byte in the (uncompressed) archive. */
  offset: number;
  linkname: string;
}

/** Sequential bytes with a position; a file source skips by seeking. */
export interface ByteSource {
  readonly position: number;
  /** Up to `n` bytes; fewer only at the end. */
  read(n: number): Promise<Buffer>;
  skip(n: number): Promise<void>;
  /** Exactly `n` bytes as chunks (fails on a premature end). */
  chunks(n: number): AsyncGenerator<Buffer>;
}

export class FileByteSource implements ByteSource {
  position = 0;
  constructor(private readonly handle: FileHandle) {}

  async read(n: number): Promise<Buffer> {
    const buf = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.handle.read(buf, got, n - got, this.position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.position += got;
    return got === n ? buf : buf.subarray(0, got);
  }

  async skip(n: number): Promise<void> {
    this.position += n;
  }

  async *chunks(n: number): AsyncGenerator<Buffer> {
    for (let left = n; left > 0; ) {
      const part = await this.read(Math.min(left, 1 << 20));
      if (part.length === 0) throw truncated(this.position);
      left -= part.length;
      yield part;
    }
  }
}

export class StreamByteSource implements ByteSource {
  position = 0;
  private pending: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  private ended = false;

  constructor(stream: AsyncIterable<Buffer>) {
    this.it = stream[Symbol.asyncIterator]();
  }

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    const { value, done } = await this.it.next();
    if (done) {
      this.ended = true;
      return false;
    }
    this.pending = this.pending.length === 0 ? value : Buffer.concat([this.pending, value]);
    return true;
  }

  private take(n: number): Buffer {
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.position += out.length;
    return out;
  }

  async read(n: number): Promise<Buffer> {
    while (this.pending.length < n && (await this.more()));
    return Buffer.from(this.take(n));
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.chunks(n));
  }

  async *chunks(n: number): AsyncGenerator<Buffer> {
    for (let left = n; left > 0; ) {
      if (this.pending.length === 0 && !(await this.more())) throw truncated(this.position);
      const part = this.take(Math.min(left, this.pending.length));
      left -= part.length;
      yield part;
    }
  }
}

function truncated(at: number): SmrError {
  return new SmrError('INVALID_ARCHIVE', `archive is truncated at byte ${at}`);
}

function cString(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function parseNumber(buf: Buffer, start: number, len: number): number {
  const field = buf.subarray(start, start + len);
  if ((field[0] as number) & 0x80) {
    // base-256 (GNU/star) for values past octal's reach
    let v = (field[0] as number) & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + (field[i] as number);
    return v;
  }
  const text = cString(buf, start, len).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] as number);
  return sum === parseNumber(header, 148, 8);
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = parseInt(data.subarray(pos, space).toString('ascii'), 10);
    if (!(len > 0) || pos + len > data.length) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

const pad512 = (n: number) => (512 - (n % 512)) % 512;

/**
 * Yields each member; the consumer may read the member's bytes from `src`
 * (via chunks/read) before asking for the next one, else they are skipped.
 */
export async function* walkArchive(src: ByteSource, label: string): AsyncGenerator<ArchiveMember> {
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    const header = await src.read(512);
    if (header.length === 0) return; // no end-of-archive blocks: tolerated
    if (header.length < 512) throw truncated(src.position);
    if (header.every((b) => b === 0)) return;
    if (!checksumOk(header)) {
      throw new SmrError('INVALID_ARCHIVE', `${label} is not a tar archive (bad header checksum at byte ${src.position - 512})`);
    }
    const flag = String.fromCharCode(header[156] as number);
    let size = parseNumber(header, 124, 12);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      const data = await src.read(size);
      if (data.length < size) throw truncated(src.position);
      await src.skip(pad512(size));
      if (flag === 'x') pax = parsePax(data);
      else if (flag === 'L') longName = cString(data, 0, data.length);
      else if (flag === 'K') longLink = cString(data, 0, data.length);
      continue;
    }
    let name = cString(header, 0, 100);
    const magic = header.subarray(257, 262).toString('latin1');
    const prefix = magic === 'ustar' ? cString(header, 345, 155) : '';
    if (prefix) name = `${prefix}/${name}`;
    name = pax.get('path') ?? longName ?? name;
    const linkname = pax.get('linkpath') ?? longLink ?? cString(header, 157, 100);
    if (pax.has('size')) size = Number(pax.get('size'));
    const type =
      flag === '0' || flag === '\0' || flag === '7'
        ? 'file'
        : flag === '5'
          ? 'dir'
          : flag === '2'
            ? 'symlink'
            : flag === '1'
              ? 'hardlink'
              : 'other';
    if (type === 'symlink' || type === 'hardlink' || type === 'dir') size = 0;
    [pax, longName, longLink] = [new Map(), undefined, undefined];
    const offset = src.position;
    yield { name: name.replace(/^(\.\/)+/, '').replace(/\/+$/, ''), type, size, offset, linkname };
    const end = offset + size + pad512(size);
    if (src.position > end) throw new SmrError('INVALID_ARCHIVE', `${label}: member ${name} read past its end`);
    await src.skip(end - src.position);
  }
}
