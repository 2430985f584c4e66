// A minimal NBD client that speaks raw bytes, for tests that need to send what
// real clients never would (bad magic, wrong flags, split messages) and to see
// exactly what the server answers.
import { connect, type Socket } from 'node:net';

export const C = {
  OPT_EXPORT_NAME: 1,
  OPT_ABORT: 2,
  OPT_LIST: 3,
  OPT_STARTTLS: 5,
  OPT_INFO: 6,
  OPT_GO: 7,
  OPT_STRUCTURED_REPLY: 8,
  OPT_LIST_META_CONTEXT: 9,
  OPT_SET_META_CONTEXT: 10,
  OPT_EXTENDED_HEADERS: 11,
  REP_ACK: 1,
  REP_SERVER: 2,
  REP_INFO: 3,
  REP_META_CONTEXT: 4,
  REP_ERR_UNSUP: 0x80000001,
  REP_ERR_POLICY: 0x80000002,
  REP_ERR_INVALID: 0x80000003,
  REP_ERR_TLS_REQD: 0x80000005,
  REP_ERR_UNKNOWN: 0x80000006,
  REP_ERR_SHUTDOWN: 0x80000007,
  REP_ERR_TOO_BIG: 0x80000009,
  CMD_READ: 0,
  CMD_WRITE: 1,
  CMD_DISC: 2,
  CMD_FLUSH: 3,
  CMD_TRIM: 4,
  CMD_CACHE: 5,
  CMD_WRITE_ZEROES: 6,
  CMD_BLOCK_STATUS: 7,
  FLAG_FUA: 1,
  FLAG_NO_HOLE: 2,
  FLAG_DF: 4,
  FLAG_REQ_ONE: 8,
  FLAG_FAST_ZERO: 16,
  EPERM: 1,
  EIO: 5,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
} as const;

export type Target = { port: number; host?: string } | { socket: string };

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

export interface Chunk {
  flags: number;
  type: number;
  cookie: bigint;
  data: Buffer;
}

export class RawClient {
  /** Received and not yet consumed, oldest first. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: (() => void) | undefined;
  ended = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.buffered += d.length;
      this.waiter?.();
    });
    const end = () => {
      this.ended = true;
      this.waiter?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** A client on a socket already connected (a TLS socket after STARTTLS). */
  static over(socket: Socket): RawClient {
    return new RawClient(socket);
  }

  static connect(t: Target): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = 'socket' in t ? connect(t.socket) : connect(t.port, t.host ?? '127.0.0.1');
      s.setNoDelay(true);
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Exactly n bytes, or an error if the server closes first. */
  async recv(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered < n) {
      if (this.ended) throw new Error(`connection closed with ${this.buffered} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${this.buffered})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.take(n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) {
      this.chunks[0] = first.subarray(n);
      if (this.chunks[0].length === 0) this.chunks.shift();
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.alloc(n);
    for (let at = 0; at < n; ) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  /** Bytes received and not yet consumed. */
  get pending(): number {
    return this.buffered;
  }

  send(b: Buffer): void {
    this.socket.write(b);
  }

  /** Resolves true when the server closes the connection within timeoutMs. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return this.ended;
  }

  close(): void {
    this.socket.destroy();
  }

  /** Reads the greeting and sends client flags; returns the handshake flags. */
  async greet(clientFlags = 3): Promise<number> {
    const g = await this.recv(18);
    if (g.toString('latin1', 0, 16) !== 'NBDMAGICIHAVEOPT') throw new Error('bad greeting');
    const u = Buffer.alloc(4);
    u.writeUInt32BE(clientFlags);
    this.send(u);
    return g.readUInt16BE(16);
  }

  sendOption(option: number, data: Buffer = Buffer.alloc(0)): void {
    this.send(Buffer.concat([optionHeader(option, data.length), data]));
  }

  async optionReply(): Promise<OptionReply> {
    const h = await this.recv(20);
    if (h.readUInt32BE(0) !== 0x0003e889 || h.readUInt32BE(4) !== 0x045565a9) throw new Error('bad option reply magic');
    const len = h.readUInt32BE(16);
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: Buffer.from(await this.recv(len)) };
  }

  /** Replies up to and including the first that is not an intermediate one (ACK or an error). */
  async optionReplies(): Promise<OptionReply[]> {
    const out: OptionReply[] = [];
    for (;;) {
      const r = await this.optionReply();
      out.push(r);
      if (r.type === C.REP_ACK || r.type >= 0x80000000) return out;
    }
  }

  /** Full handshake with GO; returns size and transmission flags. */
  async open(name: string, o: { structured?: boolean; meta?: boolean } = {}): Promise<{ size: number; flags: number }> {
    await this.greet();
    if (o.structured) {
      this.sendOption(C.OPT_STRUCTURED_REPLY);
      const r = await this.optionReply();
      if (r.type !== C.REP_ACK) throw new Error('structured replies refused');
    }
    if (o.meta) {
      this.sendOption(C.OPT_SET_META_CONTEXT, metaQuery(name, ['base:allocation']));
      const rs = await this.optionReplies();
      if (rs.at(-1)!.type !== C.REP_ACK || rs.length !== 2) throw new Error('base:allocation refused');
    }
    this.sendOption(C.OPT_GO, goData(name));
    const rs = await this.optionReplies();
    const last = rs.at(-1)!;
    if (last.type !== C.REP_ACK) throw new Error(`GO failed: 0x${last.type.toString(16)} ${last.data.toString()}`);
    const info = rs.find((r) => r.type === C.REP_INFO && r.data.readUInt16BE(0) === 0)!;
    return { size: Number(info.data.readBigUInt64BE(2)), flags: info.data.readUInt16BE(10) };
  }

  request(type: number, offset: number, length: number, o: { flags?: number; cookie?: bigint; payload?: Buffer } = {}): void {
    const h = requestHeader(type, offset, length, o.flags ?? 0, o.cookie ?? 1n);
    this.send(o.payload ? Buffer.concat([h, o.payload]) : h);
  }

  /** A simple reply; with dataLength, also its data when the error is 0. */
  async simpleReply(dataLength = 0): Promise<{ error: number; cookie: bigint; data: Buffer }> {
    const h = await this.recv(16);
    if (h.readUInt32BE(0) !== 0x67446698) throw new Error(`not a simple reply: 0x${h.readUInt32BE(0).toString(16)}`);
    const error = h.readUInt32BE(4);
    const data = error === 0 && dataLength > 0 ? Buffer.from(await this.recv(dataLength)) : Buffer.alloc(0);
    return { error, cookie: h.readBigUInt64BE(8), data };
  }

  async chunk(): Promise<Chunk> {
    const h = await this.recv(20);
    if (h.readUInt32BE(0) !== 0x668e33ef) throw new Error(`not a structured reply: 0x${h.readUInt32BE(0).toString(16)}`);
    const len = h.readUInt32BE(16);
    return { flags: h.readUInt16BE(4), type: h.readUInt16BE(6), cookie: h.readBigUInt64BE(8), data: Buffer.from(await this.recv(len)) };
  }

  /** Either kind of reply, told apart by magic, for requests without data. */
  async anyReply(): Promise<{ error: number; cookie: bigint; structured: boolean }> {
    const h = Buffer.from(await this.recv(4));
    this.chunks.unshift(h);
    this.buffered += 4;
    if (h.readUInt32BE(0) === 0x67446698) return { ...(await this.simpleReply()), structured: false };
    const c = await this.chunk();
    const error = c.type >= 0x8000 ? c.data.readUInt32BE(0) : 0;
    return { error, cookie: c.cookie, structured: true };
  }

  /**
   * All chunks of one structured read reply, assembled: the bytes (holes as
   * zeros), the error if any, and the chunk types seen.
   */
  async structuredRead(offset: number, length: number): Promise<{ data: Buffer; error: number; types: number[] }> {
    const data = Buffer.alloc(length);
    const types: number[] = [];
    let error = 0;
    for (;;) {
      const c = await this.chunk();
      types.push(c.type);
      if (c.type === 1) {
        const at = Number(c.data.readBigUInt64BE(0)) - offset;
        c.data.copy(data, at, 8);
      } else if (c.type >= 0x8000) {
        error = c.data.readUInt32BE(0);
      }
      if (c.flags & 1) return { data, error, types };
    }
  }
}

export function optionHeader(option: number, length: number): Buffer {
  const b = Buffer.alloc(16);
  b.write('IHAVEOPT', 0, 'latin1');
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(length, 12);
  return b;
}

export function goData(name: string, infos: number[] = [3]): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(4 + n.length + 2 + 2 * infos.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + n.length);
  infos.forEach((t, i) => b.writeUInt16BE(t, 6 + n.length + 2 * i));
  return b;
}

export function metaQuery(name: string, queries: string[]): Buffer {
  const parts: Buffer[] = [];
  const str = (s: string) => {
    const b = Buffer.from(s);
    const l = Buffer.alloc(4);
    l.writeUInt32BE(b.length);
    parts.push(l, b);
  };
  str(name);
  const n = Buffer.alloc(4);
  n.writeUInt32BE(queries.length);
  parts.push(n);
  queries.forEach(str);
  return Buffer.concat(parts);
}

export function requestHeader(type: number, offset: number, length: number, flags = 0, cookie = 1n): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32BE(0x25609513, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(cookie, 8);
  b.writeBigUInt64BE(BigInt(offset), 16);
  b.writeUInt32BE(length, 24);
  return b;
}
