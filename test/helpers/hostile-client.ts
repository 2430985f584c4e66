// Hostile NBD connections for the chaos soak: what a broken or malicious
// client sends (random bytes, options cut short, floods, one byte at a time,
// requests out of order or past the end, connections dropped at any byte of
// the handshake). Each one runs to its end and never throws: the soak only
// counts them; what matters is that the server and its honest clients are
// unharmed.
import { connect, type Socket } from 'node:net';
import { C, goData, optionHeader, requestHeader } from './nbd-client.js';
import { randomBytes } from './nbd-exports.js';

export const HOSTILE_KINDS = [
  'close-at-once',
  'random-bytes',
  'handshake-cut',
  'option-flood',
  'truncated-option',
  'slowloris',
  'bad-requests',
  'read-and-vanish',
] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

export interface HostileTarget {
  port: number;
  /** Export names to aim at (the first is opened by request-level attacks). */
  exports: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A socket that collects nothing and tells when the server closed it. */
function open(port: number): Promise<{ s: Socket; closed: Promise<void>; byServer: () => boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let ended = false;
    s.once('end', () => (ended = true));
    const byServer = () => ended || s.closed;
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.on('error', () => {});
    s.on('data', () => {}); // read and discard, so the server is never blocked by us unless we want it
    s.once('connect', () => resolve({ s, closed, byServer }));
    s.once('close', () => resolve({ s, closed, byServer }));
  });
}

/** Resolves after the server closed, or after ms, whichever first. */
const closedOr = (closed: Promise<void>, ms: number) => Promise.race([closed, sleep(ms)]);

/** The bytes a well-behaved client sends from its flags to a READ and DISC. */
function validTranscript(name: string): Buffer {
  const flags = Buffer.alloc(4);
  flags.writeUInt32BE(3);
  const go = goData(name);
  return Buffer.concat([
    flags,
    optionHeader(C.OPT_STRUCTURED_REPLY, 0),
    optionHeader(C.OPT_LIST, 0),
    optionHeader(C.OPT_GO, go.length),
    go,
    requestHeader(C.CMD_READ, 0, 65536, 0, 7n),
    requestHeader(C.CMD_DISC, 0, 0, 0, 8n),
  ]);
}

/**
 * One hostile connection of the given kind; rnd picks its details. Resolves
 * true when the server closed it before we gave up on it.
 */
export async function hostileConnection(kind: HostileKind, t: HostileTarget, rnd: () => number): Promise<boolean> {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const name = pick(t.exports);
  const { s, closed, byServer } = await open(t.port);
  try {
    if (s.destroyed) return true;
    switch (kind) {
      case 'close-at-once':
        break;
      case 'random-bytes':
        s.write(randomBytes(Math.floor(rnd() * 1e9), 1 + Math.floor(rnd() * 8192)));
        await closedOr(closed, 2000);
        break;
      case 'handshake-cut': {
        const all = validTranscript(name);
        const cutAt = Math.floor(rnd() * (all.length + 1));
        for (let at = 0; at < cutAt; ) {
          const n = Math.min(cutAt - at, 1 + Math.floor(rnd() * 40));
          s.write(all.subarray(at, at + n));
          at += n;
          if (rnd() < 0.3) await sleep(Math.floor(rnd() * 20));
        }
        await sleep(Math.floor(rnd() * 100));
        break;
      }
      case 'option-flood': {
        // Options as fast as we can, replies never read: the server must
        // stop reading rather than buffer its answers without bound.
        s.pause();
        const flags = Buffer.alloc(4);
        flags.writeUInt32BE(3);
        s.write(flags);
        const list = optionHeader(C.OPT_LIST, 0);
        const info = goData(name);
        const infoOpt = Buffer.concat([optionHeader(C.OPT_INFO, info.length), info]);
        const burst = Buffer.concat(Array.from({ length: 256 }, (_, i) => (i % 2 ? list : infoOpt)));
        for (let i = 0; i < 40 && !s.destroyed; i++) if (!s.write(burst)) await closedOr(closed, 50);
        await closedOr(closed, 500);
        break;
      }
      case 'truncated-option': {
        const flags = Buffer.alloc(4);
        flags.writeUInt32BE(3);
        const claimed = pick([100, 4096, 1 << 20, 0x7fffffff, 0xffffffff]);
        s.write(Buffer.concat([flags, optionHeader(pick([C.OPT_GO, C.OPT_INFO, C.OPT_LIST_META_CONTEXT, 0xdead]), claimed), randomBytes(7, Math.min(claimed, 1 + Math.floor(rnd() * 64)))]));
        await sleep(Math.floor(rnd() * 300));
        break;
      }
      case 'slowloris': {
        // One byte at a time of a valid handshake: the handshake deadline
        // must drop us long before we finish.
        const all = validTranscript(name);
        for (let at = 0; at < all.length && !s.destroyed; at++) {
          s.write(all.subarray(at, at + 1));
          if ((await Promise.race([closed.then(() => true), sleep(400).then(() => false)])) === true) break;
        }
        break;
      }
      case 'bad-requests':
      case 'read-and-vanish': {
        const go = goData(name);
        const flags = Buffer.alloc(4);
        flags.writeUInt32BE(3);
        s.write(Buffer.concat([flags, optionHeader(C.OPT_GO, go.length), go]));
        await sleep(50 + Math.floor(rnd() * 100)); // let the GO be answered (we discard it)
        const out: Buffer[] = [];
        if (kind === 'read-and-vanish') {
          for (let i = 0; i < 32; i++) out.push(requestHeader(C.CMD_READ, Math.floor(rnd() * 64) << 20, 1 << 20, 0, BigInt(i)));
        } else {
          const n = 4 + Math.floor(rnd() * 12);
          for (let i = 0; i < n; i++) out.push(badRequest(rnd));
        }
        s.write(Buffer.concat(out));
        await closedOr(closed, Math.floor(rnd() * 300));
        break;
      }
    }
    return byServer();
  } finally {
    s.destroy();
  }
}

/** A request that is wrong in one way or another, or the wrong order. */
function badRequest(rnd: () => number): Buffer {
  const cookie = BigInt(Math.floor(rnd() * 2 ** 32));
  switch (Math.floor(rnd() * 9)) {
    case 0:
      return requestHeader(C.CMD_READ, 2 ** 40, 4096, 0, cookie); // past the end
    case 1:
      return requestHeader(C.CMD_READ, 0, 64 << 20, 0, cookie); // more than the 32 MiB bound
    case 2:
      return requestHeader(99, 0, 4096, 0, cookie); // no such command
    case 3:
      return requestHeader(C.CMD_WRITE, 0, 1 << 20, 0, cookie).subarray(0, 28); // a write whose data never comes
    case 4:
      return Buffer.concat([Buffer.from([0xde, 0xad, 0xbe, 0xef]), randomBytes(3, 24)]); // bad magic
    case 5:
      return requestHeader(C.CMD_READ, 4096, 4096, 0xffff, cookie); // every flag
    case 6:
      return requestHeader(C.CMD_BLOCK_STATUS, 0, 1 << 30, 0, cookie); // no meta context negotiated
    case 7:
      return requestHeader(C.CMD_READ, 0, 4096, 0, cookie).subarray(0, 1 + Math.floor(rnd() * 27)); // cut short
    default:
      return Buffer.concat([requestHeader(C.CMD_DISC, 0, 0, 0, cookie), requestHeader(C.CMD_READ, 0, 4096, 0, cookie + 1n)]); // a read after DISC
  }
}
