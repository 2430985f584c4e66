// A pull-based tar reader over uncompressed bytes. Data is handed out as
// views of the input chunks; only a header that straddles two chunks, or an
// extended header's body that does, is copied.

import { describeAt, tarError } from './errors.js';
import { BLOCK, cString, isZeroBlock, paddingFor, parseHeader, type RawHeader } from './header.js';
import { asBuffer, iteratorOf } from './iterate.js';
import { mergeGlobal, parsePaxRecords, resolvePax, type PaxRecords } from './pax.js';
import type { TarEntry, TarEntryType } from './types.js';

export interface TarReaderOptions {
  /**
   * Sees every input chunk once, in order, before it is parsed (e.g. to hash
   * the layer); a returned promise is awaited before parsing goes on.
   */
  onInput?: (chunk: Buffer) => void | Promise<void>;
  /**
   * Read the input to its end once the end-of-archive marker is seen, so that
   * onInput and bytesRead cover the whole stream (default true).
   */
  drain?: boolean;
  /** Largest pax or GNU long-name body accepted, in bytes (default 16 MiB). */
  maxMetaSize?: number;
}

const EMPTY = Buffer.alloc(0);
const DEFAULT_MAX_META = 16 << 20;

const T_REG = 0x30; // '0'
const T_AREG = 0x00; // old tars
const T_LINK = 0x31;
const T_SYM = 0x32;
const T_CHR = 0x33;
const T_BLK = 0x34;
const T_DIR = 0x35;
const T_FIFO = 0x36;
const T_CONT = 0x37;
const T_PAX = 0x78; // 'x'
const T_PAX_SOLARIS = 0x58; // 'X'
const T_PAX_GLOBAL = 0x67; // 'g'
const T_GNU_LONGNAME = 0x4c; // 'L'
const T_GNU_LONGLINK = 0x4b; // 'K'

const SIMPLE_TYPES = new Map<number, TarEntryType>([
  [T_REG, 'file'],
  [T_AREG, 'file'],
  [T_CONT, 'file'],
  [T_LINK, 'hardlink'],
  [T_SYM, 'symlink'],
  [T_CHR, 'char'],
  [T_BLK, 'block'],
  [T_DIR, 'dir'],
  [T_FIFO, 'fifo'],
]);

const GNU_UNSUPPORTED = new Map<number, string>([
  [0x53, 'a GNU sparse file'], // 'S'
  [0x44, 'a GNU dump directory'], // 'D'
  [0x4d, 'a GNU multi-volume continuation'], // 'M'
  [0x4e, 'a GNU old long-name entry'], // 'N'
  [0x56, 'a GNU volume label'], // 'V'
]);

export class TarReader {
  readonly #iter: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  readonly #onInput: ((chunk: Buffer) => void | Promise<void>) | undefined;
  readonly #drain: boolean;
  readonly #maxMeta: number;

  #buf: Buffer = EMPTY;
  #pos = 0;
  /** Stream offset of #buf[0]. */
  #base = 0;
  #eof = false;

  /** Where the last header block is: in #buf, or in #scratch when it straddled chunks. */
  #hb: Buffer = EMPTY;
  #ho = 0;
  readonly #scratch = Buffer.allocUnsafe(BLOCK);

  /** Unread data bytes of the current entry, then the bytes to skip after them. */
  #remaining = 0;
  #padding = 0;
  #curName = '';
  #curOffset = 0;
  /** The current entry's size field, for messages. */
  #curSize = 0;

  readonly #global: PaxRecords = new Map();
  #done = false;
  #busy = false;
  #failed: unknown = undefined;

  /** `input`: uncompressed tar bytes, e.g. a Readable; chunks must not be reused after they are yielded. */
  constructor(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: TarReaderOptions = {}) {
    this.#iter = iteratorOf(input);
    this.#onInput = options.onInput;
    this.#drain = options.drain ?? true;
    this.#maxMeta = options.maxMetaSize ?? DEFAULT_MAX_META;
  }

  /** Uncompressed bytes consumed so far. */
  get bytesRead(): number {
    return this.#base + this.#pos;
  }

  /** The next entry, or null at the end of the archive. Skips what is left of the previous body. */
  async next(): Promise<TarEntry | null> {
    this.#enter();
    try {
      return await this.#next();
    } catch (e) {
      this.#failed = e;
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Delivers the rest of the current entry's data, entry.size bytes in all,
   * as views of the input (valid as long as the input does not reuse its
   * buffers). A returned promise is awaited before the next chunk.
   */
  async readBody(onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    this.#enter();
    let inCallback = false;
    try {
      while (this.#remaining > 0) {
        if (this.#pos === this.#buf.length && !(await this.#pull())) throw this.#truncatedBody();
        const take = Math.min(this.#remaining, this.#buf.length - this.#pos);
        const chunk = this.#buf.subarray(this.#pos, this.#pos + take);
        this.#pos += take;
        this.#remaining -= take;
        inCallback = true;
        const r = onChunk(chunk);
        if (r !== undefined) await r;
        inCallback = false;
      }
      await this.#skipRest();
    } catch (e) {
      // The consumer's own errors leave the reader usable; ours do not.
      if (!inCallback) this.#failed = e;
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  /** Skips the rest of the current entry's data. */
  async skipBody(): Promise<void> {
    this.#enter();
    try {
      await this.#skipRest();
    } catch (e) {
      this.#failed = e;
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  /** Stops reading and releases the input (for a consumer that gives up early). */
  async close(): Promise<void> {
    this.#done = true;
    this.#remaining = this.#padding = 0;
    await this.#iter.return?.();
  }

  #enter(): void {
    if (this.#busy) throw new Error('TarReader: a call is already in progress; await it first');
    if (this.#failed !== undefined) throw this.#failed;
    this.#busy = true;
  }

  async #next(): Promise<TarEntry | null> {
    if (this.#done) return null;
    await this.#skipRest();
    let local: PaxRecords | null = null;
    let longName = '';
    let longLink = '';
    // The first extended header still waiting for its entry, for messages.
    let pendingAt = -1;
    for (;;) {
      const offset = this.bytesRead;
      const got = await this.#readBlock();
      if (got < BLOCK) {
        if (got === 0 && pendingAt < 0) return this.#end();
        throw tarError(
          'TAR_TRUNCATED',
          got > 0
            ? `the stream ends inside the header at offset ${offset}`
            : `the stream ends after the extended header at offset ${pendingAt}, before the entry it belongs to`,
        );
      }
      const h = parseHeader(this.#hb, this.#ho, offset);
      if (h === null) {
        if (pendingAt >= 0) {
          throw tarError('TAR_BAD_HEADER', `the extended header at offset ${pendingAt} is followed by the end of the archive, not by an entry`);
        }
        return this.#endMarker(offset);
      }
      const t = h.typeflag;
      if (t === T_PAX || t === T_PAX_SOLARIS || t === T_PAX_GLOBAL || t === T_GNU_LONGNAME || t === T_GNU_LONGLINK) {
        const body = await this.#readMeta(h, offset);
        if (t === T_PAX_GLOBAL) {
          const records: PaxRecords = new Map();
          parsePaxRecords(body, records, offset);
          mergeGlobal(this.#global, records, offset);
        } else {
          if (pendingAt < 0) pendingAt = offset;
          if (t === T_GNU_LONGNAME) longName = cString(body, 0, body.length);
          else if (t === T_GNU_LONGLINK) longLink = cString(body, 0, body.length);
          else parsePaxRecords(body, (local ??= new Map()), offset);
        }
        await this.#skipOrThrow(paddingFor(h.size), h.name, offset, h.size);
        continue;
      }
      return this.#entry(h, offset, local, longName, longLink);
    }
  }

  #entry(h: RawHeader, offset: number, local: PaxRecords | null, longName: string, longLink: string): TarEntry {
    const t = h.typeflag;
    const baseName = longName || h.name;
    let type = SIMPLE_TYPES.get(t);
    if (type === undefined) {
      const what = GNU_UNSUPPORTED.get(t);
      if (what !== undefined) throw tarError('TAR_UNSUPPORTED', `${describeAt(baseName, offset)} is ${what}, which is not supported`);
      const shown = t >= 0x21 && t < 0x7f ? `'${String.fromCharCode(t)}'` : `byte ${t}`;
      throw tarError('TAR_BAD_HEADER', `${describeAt(baseName, offset)} has an unknown type ${shown}`);
    }
    const pax = local !== null || this.#global.size > 0 ? resolvePax(this.#global, local, baseName, offset) : undefined;
    const path = pax?.path ?? baseName;
    const size = pax?.size ?? h.size;
    // Like Go's archive/tar: only regular files carry data; a size on a link,
    // device, fifo or directory header is ignored.
    let dataSize = type === 'file' ? size : 0;
    let skipAfter = paddingFor(dataSize);
    // Old tars marked directories by a trailing slash on a regular entry.
    if ((t === T_REG || t === T_AREG) && path.endsWith('/')) {
      type = 'dir';
      skipAfter += dataSize;
      dataSize = 0;
    }
    const isLink = type === 'hardlink' || type === 'symlink';
    const isDevice = type === 'char' || type === 'block';
    const entry: TarEntry = {
      path,
      type,
      mode: h.mode & 0o7777,
      uid: pax?.uid ?? h.uid,
      gid: pax?.gid ?? h.gid,
      size: dataSize,
      mtime: pax?.mtime ?? { sec: h.mtime, nsec: 0 },
      linkname: isLink ? (pax?.linkpath ?? (longLink || h.linkname)) : '',
      devmajor: isDevice ? (pax?.devmajor ?? h.devmajor) : 0,
      devminor: isDevice ? (pax?.devminor ?? h.devminor) : 0,
      xattrs: pax?.xattrs ?? new Map(),
      headerOffset: offset,
    };
    if (pax?.atime) entry.atime = pax.atime;
    if (pax?.ctime) entry.ctime = pax.ctime;
    this.#remaining = dataSize;
    this.#padding = skipAfter;
    this.#curName = path;
    this.#curOffset = offset;
    this.#curSize = size;
    return entry;
  }

  /** After one zero block: a second one (or the end of the stream) ends the archive. */
  async #endMarker(offset: number): Promise<null> {
    const second = this.bytesRead;
    const got = await this.#readBlock();
    if (got > 0 && got < BLOCK) throw tarError('TAR_TRUNCATED', `the stream ends inside the end-of-archive marker at offset ${second}`);
    if (got === BLOCK && !isZeroBlock(this.#hb, this.#ho)) {
      throw tarError('TAR_BAD_HEADER', `the zero block at offset ${offset} is followed by a non-zero block at offset ${second}, not by a second zero block`);
    }
    return this.#end();
  }

  async #end(): Promise<null> {
    this.#done = true;
    if (this.#drain) {
      this.#pos = this.#buf.length;
      while (await this.#pull()) this.#pos = this.#buf.length;
    }
    return null;
  }

  /** The body of an extended header, as a view when it lies in one chunk. */
  async #readMeta(h: RawHeader, offset: number): Promise<Buffer> {
    const size = h.size;
    if (size > this.#maxMeta) {
      throw tarError('TAR_UNSUPPORTED', `the extended header at offset ${offset} has a ${size}-byte body, over the ${this.#maxMeta}-byte limit`);
    }
    if (size <= this.#buf.length - this.#pos) {
      const body = this.#buf.subarray(this.#pos, this.#pos + size);
      this.#pos += size;
      return body;
    }
    const body = Buffer.allocUnsafe(size);
    if ((await this.#copyOut(body)) < size) {
      throw tarError('TAR_TRUNCATED', `the stream ends at offset ${this.bytesRead}, inside the extended header at offset ${offset}`);
    }
    return body;
  }

  /** Fills #hb/#ho with the next 512 bytes; returns how many there were (0 at a clean end). */
  async #readBlock(): Promise<number> {
    while (this.#pos === this.#buf.length) if (!(await this.#pull())) return 0;
    if (this.#buf.length - this.#pos >= BLOCK) {
      this.#hb = this.#buf;
      this.#ho = this.#pos;
      this.#pos += BLOCK;
      return BLOCK;
    }
    const got = await this.#copyOut(this.#scratch);
    this.#hb = this.#scratch;
    this.#ho = 0;
    return got;
  }

  /** Copies the next dst.length bytes into dst; returns how many there were before the end. */
  async #copyOut(dst: Buffer): Promise<number> {
    let got = 0;
    for (;;) {
      const n = Math.min(dst.length - got, this.#buf.length - this.#pos);
      this.#buf.copy(dst, got, this.#pos, this.#pos + n);
      this.#pos += n;
      got += n;
      if (got === dst.length || !(await this.#pull())) return got;
    }
  }

  async #skipRest(): Promise<void> {
    const n = this.#remaining + this.#padding;
    if (n === 0) return;
    this.#remaining = this.#padding = 0;
    if (!(await this.#skip(n))) throw this.#truncatedBody();
  }

  async #skipOrThrow(n: number, name: string, offset: number, size: number): Promise<void> {
    if (!(await this.#skip(n))) {
      throw tarError('TAR_TRUNCATED', `${describeAt(name, offset)} is cut short: the stream ends at offset ${this.bytesRead}, inside its ${size}-byte body`);
    }
  }

  /** Advances n bytes; false when the stream ends first. */
  async #skip(n: number): Promise<boolean> {
    for (;;) {
      const avail = this.#buf.length - this.#pos;
      if (n <= avail) {
        this.#pos += n;
        return true;
      }
      n -= avail;
      this.#pos = this.#buf.length;
      if (!(await this.#pull())) return false;
    }
  }

  #truncatedBody(): Error {
    return tarError(
      'TAR_TRUNCATED',
      `${describeAt(this.#curName, this.#curOffset)} is cut short: the stream ends at offset ${this.bytesRead}, inside its ${this.#curSize}-byte body`,
    );
  }

  /** Makes the next input chunk current; false at the end of the input. Only called when #buf is used up. */
  async #pull(): Promise<boolean> {
    if (this.#eof) return false;
    for (;;) {
      const r = await this.#iter.next();
      this.#base += this.#buf.length;
      this.#buf = EMPTY;
      this.#pos = 0;
      if (r.done) {
        this.#eof = true;
        return false;
      }
      const b = asBuffer(r.value, 'TarReader');
      if (b.length === 0) continue;
      const waited = this.#onInput?.(b);
      if (waited !== undefined) await waited;
      this.#buf = b;
      return true;
    }
  }
}
