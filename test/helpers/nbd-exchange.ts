// Whole client conversations as bytes, and the server's answer to one read
// back into a canonical form, so that the same conversation delivered in
// different pieces can be compared, and random requests checked against what
// the spec says the server must answer.
import { createHash } from 'node:crypto';
import { C, goData, metaQuery, optionHeader, requestHeader } from './nbd-client.js';

export type Step =
  | { kind: 'option'; option: number; data: Buffer }
  | { kind: 'request'; type: number; flags: number; cookie: bigint; offset: number; length: number; payload?: Buffer };

export interface Exchange {
  clientFlags: number;
  steps: Step[];
}

export function encodeExchange(x: Exchange): Buffer {
  const parts: Buffer[] = [];
  const f = Buffer.alloc(4);
  f.writeUInt32BE(x.clientFlags);
  parts.push(f);
  for (const s of x.steps) {
    if (s.kind === 'option') parts.push(optionHeader(s.option, s.data.length), s.data);
    else parts.push(requestHeader(s.type, s.offset, s.length, s.flags, s.cookie), ...(s.payload ? [s.payload] : []));
  }
  return Buffer.concat(parts);
}

export const option = (o: number, data: Buffer = Buffer.alloc(0)): Step => ({ kind: 'option', option: o, data });
export const request = (type: number, offset: number, length: number, cookie: bigint, flags = 0, payload?: Buffer): Step => ({
  kind: 'request',
  type,
  flags,
  cookie,
  offset,
  length,
  payload,
});

/** A few conversations that exercise every option and command, for the split-everywhere test. */
export function sampleExchanges(ro: string, rw: string, holeAt: number): Exchange[] {
  return [
    {
      clientFlags: 1, // no NO_ZEROES: EXPORT_NAME gets the 124 zeroes
      steps: [
        option(C.OPT_LIST),
        option(C.OPT_STARTTLS),
        option(C.OPT_INFO, goData(ro)),
        option(C.OPT_EXPORT_NAME, Buffer.from(ro)),
        request(C.CMD_READ, 0, 700, 1n),
        request(C.CMD_READ, holeAt, 4096, 2n),
        request(C.CMD_READ, 2 ** 40, 1, 3n),
        request(C.CMD_FLUSH, 0, 0, 4n),
        request(C.CMD_DISC, 0, 0, 0n),
      ],
    },
    {
      clientFlags: 3,
      steps: [
        option(C.OPT_STRUCTURED_REPLY),
        option(C.OPT_LIST_META_CONTEXT, metaQuery(ro, [])),
        option(C.OPT_SET_META_CONTEXT, metaQuery(ro, ['base:allocation'])),
        option(C.OPT_GO, goData('nope')),
        option(C.OPT_GO, goData(ro)),
        request(C.CMD_READ, holeAt - 1000, 9000, 1n),
        request(C.CMD_READ, 10, 3000, 2n, C.FLAG_DF),
        request(C.CMD_BLOCK_STATUS, 0, 1 << 20, 3n),
        request(C.CMD_BLOCK_STATUS, 0, 1 << 20, 4n, C.FLAG_REQ_ONE),
        request(C.CMD_CACHE, 0, 4096, 5n),
        request(C.CMD_WRITE, 0, 5, 6n, 0, Buffer.from('hello')),
        request(99, 0, 0, 7n),
        request(C.CMD_DISC, 0, 0, 0n),
      ],
    },
    {
      clientFlags: 3,
      steps: [
        option(C.OPT_GO, goData(rw)),
        request(C.CMD_WRITE, 100, 300, 1n, C.FLAG_FUA, Buffer.alloc(300, 0x5a)),
        // Not what the zeroing below touches: other connections run this concurrently.
        request(C.CMD_READ, 100, 100, 2n),
        request(C.CMD_WRITE_ZEROES, 200, 50, 3n, C.FLAG_NO_HOLE),
        request(C.CMD_TRIM, 1000, 10, 4n),
        request(C.CMD_DISC, 0, 0, 0n),
      ],
    },
  ];
}

export interface Transcript {
  /** Greeting and option replies, hex, in order. */
  handshake: string[];
  /** Per cookie: the reply, canonical (a read's bytes reassembled and hashed). */
  replies: Map<bigint, string>;
  /** Bytes that did not parse as a complete message. */
  trailing: number;
}

/** Reads the server's bytes for a conversation; throws on anything malformed. */
export function parseTranscript(x: Exchange, out: Buffer): Transcript {
  let pos = 0;
  const take = (n: number): Buffer | undefined => {
    if (pos + n > out.length) return undefined;
    pos += n;
    return out.subarray(pos - n, pos);
  };
  const handshake: string[] = [];
  const replies = new Map<bigint, string>();
  const result = () => ({ handshake, replies, trailing: out.length - pos });
  const g = take(18);
  if (!g) return result();
  handshake.push(g.toString('hex'));

  let structured = false;
  let transmitting = false;
  const reads = new Map<bigint, number>();
  for (const s of x.steps) {
    if (s.kind === 'request') {
      if (s.type === C.CMD_READ) reads.set(s.cookie, s.length);
      continue;
    }
    if (transmitting) throw new Error('option after transmission began');
    if (s.option === C.OPT_EXPORT_NAME) {
      const r = take(x.clientFlags & 2 ? 10 : 134);
      if (!r) return result();
      handshake.push(r.toString('hex'));
      transmitting = true;
      continue;
    }
    for (;;) {
      const h = take(20);
      if (!h) return result();
      if (h.readUInt32BE(0) !== 0x0003e889 || h.readUInt32BE(4) !== 0x045565a9) throw new Error(`bad option reply magic at ${pos - 20}`);
      if (h.readUInt32BE(8) !== s.option) throw new Error(`reply to option ${h.readUInt32BE(8)}, expected ${s.option}`);
      const data = take(h.readUInt32BE(16));
      if (!data) return result();
      handshake.push(h.toString('hex') + data.toString('hex'));
      const type = h.readUInt32BE(12);
      if (type === C.REP_ACK && s.option === C.OPT_STRUCTURED_REPLY) structured = true;
      if (type === C.REP_ACK && s.option === C.OPT_GO) transmitting = true;
      if (type === C.REP_ACK || type >= 0x80000000) break;
    }
  }
  if (!transmitting) return result();

  const partial = new Map<bigint, { data: Buffer; errors: number[] }>();
  for (;;) {
    const start = pos;
    const m = take(4);
    if (!m) return result();
    const magic = m.readUInt32BE(0);
    if (magic === 0x67446698) {
      const h = take(12);
      if (!h) return ((pos = start), result());
      const error = h.readUInt32BE(0);
      const cookie = h.readBigUInt64BE(4);
      const len = reads.get(cookie);
      if (structured && len !== undefined) throw new Error('simple reply to a read with structured replies');
      const data = error === 0 && len ? take(len) : Buffer.alloc(0);
      if (!data) return ((pos = start), result());
      add(replies, cookie, `simple ${error} ${digest(data)}`);
    } else if (magic === 0x668e33ef) {
      if (!structured) throw new Error('structured reply without negotiation');
      const h = take(16);
      if (!h) return ((pos = start), result());
      const flags = h.readUInt16BE(0);
      const type = h.readUInt16BE(2);
      const cookie = h.readBigUInt64BE(4);
      const body = take(h.readUInt32BE(12));
      if (!body) return ((pos = start), result());
      const len = reads.get(cookie);
      if (len === undefined) {
        if (!(flags & 1)) throw new Error('multi-chunk reply to a non-read');
        add(replies, cookie, type >= 0x8000 ? `error ${body.readUInt32BE(0)}` : `chunk ${type} ${body.toString('hex')}`);
        continue;
      }
      const read = partial.get(cookie) ?? { data: Buffer.alloc(len), errors: [] };
      partial.set(cookie, read);
      const base = x.steps.find((s): s is Extract<Step, { kind: 'request' }> => s.kind === 'request' && s.cookie === cookie)!.offset;
      if (type === 1) body.copy(read.data, Number(body.readBigUInt64BE(0)) - base, 8);
      else if (type === 2) checkHole(body, base, len);
      else if (type >= 0x8000) read.errors.push(body.readUInt32BE(0));
      else if (type !== 0) throw new Error(`chunk type ${type} in a read reply`);
      if (flags & 1) {
        partial.delete(cookie);
        add(replies, cookie, read.errors.length ? `read error ${read.errors.join(',')}` : `read ${digest(read.data)}`);
      }
    } else {
      throw new Error(`bad reply magic 0x${magic.toString(16)} at ${start}`);
    }
  }
}

function checkHole(body: Buffer, base: number, len: number): void {
  const at = Number(body.readBigUInt64BE(0)) - base;
  const n = body.readUInt32BE(8);
  if (body.length !== 12 || n === 0 || at < 0 || at + n > len) throw new Error('hole chunk outside the request');
}

function add(m: Map<bigint, string>, cookie: bigint, v: string): void {
  if (m.has(cookie)) throw new Error(`second reply for cookie ${cookie}`);
  m.set(cookie, v);
}

export function digest(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 16);
}
