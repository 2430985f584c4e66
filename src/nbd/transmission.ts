// The transmission phase of one session: requests are decoded, checked against
// the spec and the export, and served; each answer goes to the reply sink as
// soon as it is ready, in whatever order requests complete.
import {
  CMD_BLOCK_STATUS,
  CMD_CACHE,
  CMD_DISC,
  CMD_FLAG_DF,
  CMD_FLAG_FAST_ZERO,
  CMD_FLAG_FUA,
  CMD_FLAG_NO_HOLE,
  CMD_FLAG_REQ_ONE,
  CMD_FLUSH,
  CMD_READ,
  CMD_TRIM,
  CMD_WRITE,
  CMD_WRITE_ZEROES,
  ERRNO,
  MAX_PAYLOAD,
  REQUEST_MAGIC,
} from './constants.js';
import { failure, type RequestFailure } from './errors.js';
import { isWritable } from './export-info.js';
import { extentRuns } from './extents.js';
import { BASE_ALLOCATION_ID, type Session } from './handshake.js';
import { serveRead, type ReadRequest, type ReplySink } from './read.js';
import { blockStatusChunk, errorReply, simpleReply } from './reply.js';

export interface Request extends ReadRequest {
  type: number;
}

/** Descriptors per BLOCK_STATUS reply: the spec's 2^20 would be an 8 MiB reply. */
const MAX_DESCRIPTORS = 1 << 16;
/** Write-zeroes without an export method writes zeros this much at a time. */
const ZERO_PIECE = 1 << 20;

/** Flags each command accepts; FUA is valid on all (the spec says clients send it anywhere). */
const ALLOWED_FLAGS: Record<number, number> = {
  [CMD_READ]: CMD_FLAG_FUA | CMD_FLAG_DF,
  [CMD_WRITE]: CMD_FLAG_FUA,
  [CMD_DISC]: CMD_FLAG_FUA,
  [CMD_FLUSH]: CMD_FLAG_FUA,
  [CMD_TRIM]: CMD_FLAG_FUA,
  [CMD_CACHE]: CMD_FLAG_FUA,
  [CMD_WRITE_ZEROES]: CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO,
  [CMD_BLOCK_STATUS]: CMD_FLAG_FUA | CMD_FLAG_REQ_ONE,
};

/** A 28-byte request header, or undefined when the magic is wrong (the stream is lost). */
export function decodeRequest(h: Buffer): Request | undefined {
  if (h.readUInt32BE(0) !== REQUEST_MAGIC) return undefined;
  const hi = h.readUInt32BE(16);
  return {
    flags: h.readUInt16BE(4),
    type: h.readUInt16BE(6),
    cookieHi: h.readUInt32BE(8),
    cookieLo: h.readUInt32BE(12),
    // Offsets past 2^53 cannot be exact, and are past any export anyway.
    offset: hi >= 0x200000 ? Infinity : hi * 2 ** 32 + h.readUInt32BE(20),
    length: h.readUInt32BE(24),
  };
}

export interface TransmissionHooks {
  log(level: 'info' | 'warn' | 'error', msg: string): void;
  /** Called once per request that ends in an error reply. */
  failed(): void;
  /** Called with the length of each successful read. */
  read(bytes: number): void;
}

export class Transmission {
  private readonly writable: boolean;

  constructor(
    readonly session: Session,
    private readonly out: ReplySink,
    private readonly hooks: TransmissionHooks,
  ) {
    this.writable = isWritable(session.export);
  }

  /** 0, or the error a request gets without reaching the export. Decides whether a write's payload is kept. */
  check(r: Request): number {
    const allowed = ALLOWED_FLAGS[r.type];
    if (allowed === undefined) return ERRNO.EINVAL;
    if ((r.flags & ~allowed) !== 0) return ERRNO.EINVAL;
    const { size } = this.session.export;
    const inside = r.offset + r.length <= size;
    switch (r.type) {
      case CMD_READ:
        if (r.flags & CMD_FLAG_DF && !this.session.structured) return ERRNO.EINVAL;
        if (r.length > MAX_PAYLOAD) return this.session.structured ? ERRNO.EOVERFLOW : ERRNO.EINVAL;
        return inside ? 0 : ERRNO.EINVAL;
      case CMD_WRITE:
        if (!this.writable) return ERRNO.EPERM;
        if (r.length > MAX_PAYLOAD) return ERRNO.EINVAL;
        return inside ? 0 : ERRNO.ENOSPC;
      case CMD_WRITE_ZEROES:
        if (!this.writable) return ERRNO.EPERM;
        if (!inside) return ERRNO.ENOSPC;
        // Only the export's own zeroing can be faster than writing.
        if (r.flags & CMD_FLAG_FAST_ZERO && !this.session.export.writeZeroes) return ERRNO.ENOTSUP;
        return 0;
      case CMD_TRIM:
        if (!this.writable) return ERRNO.EPERM;
        return inside ? 0 : ERRNO.EINVAL;
      case CMD_CACHE:
        return inside ? 0 : ERRNO.EINVAL;
      case CMD_BLOCK_STATUS:
        if (!this.session.blockStatus) return ERRNO.EINVAL;
        return inside && r.length > 0 ? 0 : ERRNO.EINVAL;
      default:
        return 0;
    }
  }

  /** Serves one request (not DISC); resolves once its reply is queued. Never rejects. */
  async serve(r: Request, payload?: Buffer): Promise<void> {
    const errno = this.check(r);
    if (errno !== 0) {
      this.fail(r, { errno, message: rejection(r, errno), expected: true });
      return;
    }
    let f: RequestFailure | undefined;
    try {
      if (r.type === CMD_READ) {
        f = await serveRead(this.session.export, r, this.session.structured, this.out);
        if (!f) this.hooks.read(r.length);
      } else if (r.type === CMD_BLOCK_STATUS) {
        await this.blockStatus(r);
      } else {
        await this.command(r, payload);
        this.out.send(simpleReply(0, r));
      }
    } catch (e) {
      f = failure(e);
      this.out.send(errorReply(this.session.structured, r, f.errno, f.message));
    }
    if (f) {
      this.hooks.failed();
      if (!f.expected) this.hooks.log('error', `${this.session.export.name}: ${commandName(r.type)} of ${r.length} bytes at ${r.offset}: ${f.message}`);
    }
  }

  private fail(r: Request, f: RequestFailure): void {
    this.hooks.failed();
    this.out.send(errorReply(this.session.structured, r, f.errno, f.message));
  }

  private async command(r: Request, payload: Buffer | undefined): Promise<void> {
    const exp = this.session.export;
    const fua = (r.flags & CMD_FLAG_FUA) !== 0;
    switch (r.type) {
      case CMD_WRITE:
        if (r.length > 0) await exp.write!(payload!, r.offset, fua);
        return;
      case CMD_FLUSH:
        await exp.flush?.();
        return;
      case CMD_TRIM:
        // Trim is a hint: an export without it ignores it.
        if (exp.trim && r.length > 0) await exp.trim(r.offset, r.length);
        if (exp.trim && fua) await exp.flush?.();
        return;
      case CMD_WRITE_ZEROES:
        if (r.length === 0) return;
        if (exp.writeZeroes) return exp.writeZeroes(r.offset, r.length, fua);
        return this.writeZeros(r.offset, r.length, fua);
      case CMD_CACHE:
        if (exp.cache && r.length > 0) await exp.cache(r.offset, r.length);
        return;
    }
  }

  private async writeZeros(offset: number, length: number, fua: boolean): Promise<void> {
    const zeros = Buffer.alloc(Math.min(length, ZERO_PIECE));
    for (let pos = offset; pos < offset + length; pos += zeros.length) {
      const n = Math.min(zeros.length, offset + length - pos);
      await this.session.export.write!(zeros.subarray(0, n), pos, fua);
    }
  }

  private async blockStatus(r: Request): Promise<void> {
    const extents = await this.session.export.blockStatus(r.offset, r.length);
    const reqOne = (r.flags & CMD_FLAG_REQ_ONE) !== 0;
    let runs = extentRuns(extents, r.length, reqOne ? 1 : MAX_DESCRIPTORS);
    // Status 0 (allocated, contents unknown) is always a true answer.
    if (runs.length === 0) runs = [r.length, 0];
    this.out.send(blockStatusChunk(r, BASE_ALLOCATION_ID, runs));
  }
}

function rejection(r: Request, errno: number): string {
  const what = `${commandName(r.type)} of ${r.length} bytes at ${r.offset}`;
  switch (errno) {
    case ERRNO.EPERM:
      return `${what}: the export is read-only`;
    case ERRNO.ENOTSUP:
      return `${what}: zeroing is no faster than writing`;
    case ERRNO.EOVERFLOW:
      return `${what}: longer than ${MAX_PAYLOAD} bytes`;
    default:
      return `${what}: invalid request (flags 0x${r.flags.toString(16)})`;
  }
}

const NAMES = ['READ', 'WRITE', 'DISC', 'FLUSH', 'TRIM', 'CACHE', 'WRITE_ZEROES', 'BLOCK_STATUS'];

export function commandName(type: number): string {
  return NAMES[type] ?? `command ${type}`;
}
