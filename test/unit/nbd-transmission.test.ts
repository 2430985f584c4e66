// Requests and replies, byte for byte: reads in both reply styles, holes,
// block status, writes, errors for every kind of bad request, export
// failures, pipelining, backpressure and disconnects.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferExport, ExportError, MemoryExport, faulty, layoutExtents, prng } from '../helpers/nbd-exports.js';
import { C, RawClient } from '../helpers/nbd-client.js';
import { startServer, until, type Harness } from '../helpers/nbd-harness.js';

const SIZE = 8 << 20;
const ro = new MemoryExport({ name: 'ro', size: SIZE, seed: 11, maxRun: 256 << 10 });
const rw = new BufferExport('rw', Buffer.alloc(1 << 20));
// The same data as ro, served slowly.
const slow = { ...faulty(ro, { delayMs: 30 }), name: 'slow' };
const failing = {
  ...faulty(ro, { failRange: { start: 1 << 20, end: 2 << 20, error: () => new ExportError('ENOSPC', 'no room') } }),
  name: 'failing',
};
const buggy = {
  ...faulty(ro, { failRange: { start: 1 << 20, end: 2 << 20, error: () => new TypeError('bug') } }),
  name: 'buggy',
};
let h: Harness;

before(async () => {
  h = await startServer({ exports: [ro, rw, slow, failing, buggy] });
});
after(() => h.close());

async function open(name: string, o: { structured?: boolean; meta?: boolean } = {}): Promise<RawClient> {
  const c = await RawClient.connect({ port: h.port });
  await c.open(name, o);
  return c;
}

test('simple replies: reads return the export bytes, holes as zeros; zero-length reads work', async () => {
  const c = await open('ro');
  const rnd = prng(1);
  for (let i = 0; i < 50; i++) {
    const off = Math.floor(rnd() * (SIZE - 300_000));
    const len = 1 + Math.floor(rnd() * 300_000);
    c.request(C.CMD_READ, off, len, { cookie: BigInt(i) });
    const r = await c.simpleReply(len);
    assert.equal(r.error, 0);
    assert.equal(r.cookie, BigInt(i));
    assert.ok(r.data.equals(ro.data.subarray(off, off + len)), `read ${len} at ${off}`);
  }
  c.request(C.CMD_READ, 5, 0, { cookie: 77n });
  assert.deepEqual(await c.simpleReply(), { error: 0, cookie: 77n, data: Buffer.alloc(0) });
  c.close();
});

test('structured replies: holes come as OFFSET_HOLE and are not read; DF gives one data chunk', async () => {
  const c = await open('ro', { structured: true });
  // Reads shorter than 64 KiB are read whole; this hole is longer.
  const [hs, he] = ro.layout.holes.find(([a, b]) => b - a >= 64 << 10)!;
  // A range from inside the data before the hole to past its end.
  const off = hs - 5000;
  const len = he - hs + 10000;
  c.request(C.CMD_READ, off, len);
  let r = await c.structuredRead(off, len);
  assert.equal(r.error, 0);
  assert.ok(r.data.equals(ro.data.subarray(off, off + len)));
  assert.ok(r.types.includes(2), `types ${r.types}`);

  const before = ro.reads;
  c.request(C.CMD_READ, hs, he - hs);
  r = await c.structuredRead(hs, he - hs);
  assert.deepEqual(r.types, [2]);
  assert.equal(ro.reads, before, 'a hole is not read');

  c.request(C.CMD_READ, off, len, { flags: C.FLAG_DF });
  r = await c.structuredRead(off, len);
  assert.deepEqual(r.types, [1]);
  assert.ok(r.data.equals(ro.data.subarray(off, off + len)));

  c.request(C.CMD_READ, 0, 0, { cookie: 5n });
  const none = await c.chunk();
  assert.deepEqual([none.type, none.flags, none.cookie, none.data.length], [0, 1, 5n, 0]);
  c.close();
});

test('structured: big reads come in pieces that reassemble exactly; random reads match', async () => {
  const c = await open('ro', { structured: true });
  c.request(C.CMD_READ, 12345, 5 << 20);
  const r = await c.structuredRead(12345, 5 << 20);
  assert.equal(r.error, 0);
  assert.ok(r.data.equals(ro.data.subarray(12345, 12345 + (5 << 20))));
  assert.ok(r.types.filter((t) => t === 1).length > 2);
  const rnd = prng(2);
  for (let i = 0; i < 100; i++) {
    const off = Math.floor(rnd() * (SIZE - 70_000));
    const len = 1 + Math.floor(rnd() * 70_000);
    c.request(C.CMD_READ, off, len);
    const got = await c.structuredRead(off, len);
    assert.ok(got.data.equals(ro.data.subarray(off, off + len)), `read ${len} at ${off}`);
  }
  c.close();
});

test('block status reports the holes exactly; REQ_ONE gives one extent; needs SET_META_CONTEXT', async () => {
  const c = await open('ro', { structured: true, meta: true });
  const descs = (d: Buffer) => {
    const out: Array<[number, number]> = [];
    for (let i = 4; i < d.length; i += 8) out.push([d.readUInt32BE(i), d.readUInt32BE(i + 4)]);
    return out;
  };
  const expected = (off: number, len: number) => layoutExtents(ro.layout, SIZE, off, len).map((e) => [e.length, e.hole ? 3 : 0]);
  for (const [off, len] of [
    [0, SIZE],
    [100, 1 << 20],
    [ro.layout.holes[2]![0] + 7, 3 << 20],
  ] as const) {
    c.request(C.CMD_BLOCK_STATUS, off, len);
    const ch = await c.chunk();
    assert.equal(ch.type, 5);
    assert.equal(ch.flags, 1);
    assert.notEqual(ch.data.readUInt32BE(0), 0);
    assert.deepEqual(descs(ch.data), expected(off, len));
  }
  c.request(C.CMD_BLOCK_STATUS, 0, SIZE, { flags: C.FLAG_REQ_ONE });
  const one = descs((await c.chunk()).data);
  assert.deepEqual(one, expected(0, SIZE).slice(0, 1));
  c.request(C.CMD_BLOCK_STATUS, 0, 100, { flags: C.FLAG_REQ_ONE });
  assert.deepEqual(descs((await c.chunk()).data), [[100, 0]]);
  c.request(C.CMD_BLOCK_STATUS, SIZE - 10, 20);
  assert.equal((await c.anyReply()).error, C.EINVAL);
  c.close();

  const plain = await open('ro', { structured: true });
  plain.request(C.CMD_BLOCK_STATUS, 0, 4096);
  assert.equal((await plain.anyReply()).error, C.EINVAL);
  plain.close();
});

test('bad requests get errors and the connection goes on', async () => {
  const simple = await open('ro');
  const structured = await open('ro', { structured: true });
  const cases: Array<[string, number, number, number, number, number]> = [
    // name, type, flags, offset, length, errno
    ['read past the end', C.CMD_READ, 0, SIZE - 10, 11, C.EINVAL],
    ['read at a huge offset', C.CMD_READ, 0, 2 ** 60, 1, C.EINVAL],
    ['unknown command', 99, 0, 0, 0, C.EINVAL],
    ['unknown flag', C.CMD_READ, 0x100, 0, 10, C.EINVAL],
    ['flag of another command', C.CMD_READ, C.FLAG_REQ_ONE, 0, 10, C.EINVAL],
    ['trim on read-only', C.CMD_TRIM, 0, 0, 4096, C.EPERM],
    ['write zeroes on read-only', C.CMD_WRITE_ZEROES, 0, 0, 4096, C.EPERM],
    ['cache past the end', C.CMD_CACHE, 0, SIZE, 1, C.EINVAL],
  ];
  for (const [name, type, flags, off, len, errno] of cases) {
    simple.request(type, off, len, { flags });
    assert.equal((await simple.simpleReply()).error, errno, `simple: ${name}`);
    structured.request(type, off, len, { flags });
    const r = await structured.anyReply();
    assert.equal(r.error, errno, `structured: ${name}`);
    if (type === C.CMD_READ) assert.ok(r.structured, 'a read gets a structured reply even for an early error');
  }
  simple.request(C.CMD_READ, 0, (32 << 20) + 1);
  assert.equal((await simple.simpleReply()).error, C.EINVAL);
  structured.request(C.CMD_READ, 0, (32 << 20) + 1);
  assert.equal((await structured.anyReply()).error, C.EOVERFLOW);
  simple.request(C.CMD_READ, 0, 100, { flags: C.FLAG_DF });
  assert.equal((await simple.simpleReply()).error, C.EINVAL, 'DF without structured replies');
  // A write on a read-only export: EPERM, and its payload is skipped.
  simple.request(C.CMD_WRITE, 0, 5000, { payload: Buffer.alloc(5000, 0x25) });
  assert.equal((await simple.simpleReply()).error, C.EPERM);
  simple.request(C.CMD_READ, 0, 10, { cookie: 3n });
  const r = await simple.simpleReply(10);
  assert.equal(r.cookie, 3n);
  assert.ok(r.data.equals(ro.data.subarray(0, 10)));
  // Flush and cache succeed on a read-only export.
  for (const t of [C.CMD_FLUSH, C.CMD_CACHE]) {
    simple.request(t, 0, t === C.CMD_CACHE ? 4096 : 0);
    assert.equal((await simple.simpleReply()).error, 0);
  }
  simple.close();
  structured.close();
});

test('writable export: write, read back, zero, trim, flush, FUA, and errors past the end', async () => {
  const c = await open('rw', { structured: true });
  const data = Buffer.alloc(70_000, 0xab);
  c.request(C.CMD_WRITE, 1000, data.length, { payload: data, flags: C.FLAG_FUA });
  assert.equal((await c.anyReply()).error, 0);
  assert.ok(rw.data.subarray(1000, 71_000).equals(data));
  assert.equal(rw.calls.fua, 1);
  c.request(C.CMD_READ, 1000, 70_000);
  assert.ok((await c.structuredRead(1000, 70_000)).data.equals(data));

  c.request(C.CMD_WRITE_ZEROES, 2000, 1000, { flags: C.FLAG_NO_HOLE });
  assert.equal((await c.anyReply()).error, 0);
  c.request(C.CMD_WRITE_ZEROES, 4000, 1000, { flags: C.FLAG_FAST_ZERO });
  assert.equal((await c.anyReply()).error, 0);
  c.request(C.CMD_TRIM, 6000, 1000);
  assert.equal((await c.anyReply()).error, 0);
  c.request(C.CMD_FLUSH, 0, 0);
  assert.equal((await c.anyReply()).error, 0);
  c.request(C.CMD_CACHE, 0, 4096);
  assert.equal((await c.anyReply()).error, 0);
  assert.deepEqual({ ...rw.calls }, { write: 1, trim: 1, writeZeroes: 2, flush: 1, cache: 1, fua: 1 });
  assert.ok(rw.data.subarray(2000, 3000).every((b) => b === 0));
  assert.ok(rw.data.subarray(3000, 4000).every((b) => b === 0xab));

  // Zero-length commands succeed without bothering the export.
  const calls = { ...rw.calls };
  for (const t of [C.CMD_WRITE, C.CMD_WRITE_ZEROES, C.CMD_TRIM, C.CMD_CACHE]) {
    c.request(t, 10, 0);
    assert.equal((await c.anyReply()).error, 0);
  }
  assert.deepEqual({ ...rw.calls }, calls);

  // Past the end: ENOSPC for writes (payload skipped), EINVAL for trim.
  c.request(C.CMD_WRITE, rw.size - 10, 20, { payload: Buffer.alloc(20, 1) });
  assert.equal((await c.anyReply()).error, C.ENOSPC);
  c.request(C.CMD_WRITE_ZEROES, rw.size, 1);
  assert.equal((await c.anyReply()).error, C.ENOSPC);
  c.request(C.CMD_TRIM, rw.size, 1);
  assert.equal((await c.anyReply()).error, C.EINVAL);
  // Longer than the maximum payload: refused, the 33 MiB skipped, the connection fine.
  c.request(C.CMD_WRITE, 0, (32 << 20) + 1, { payload: Buffer.alloc((32 << 20) + 1) });
  assert.equal((await c.anyReply()).error, C.EINVAL);
  c.request(C.CMD_READ, 1000, 10);
  assert.ok((await c.structuredRead(1000, 10)).data.equals(data.subarray(0, 10)));
  c.close();
});

test('write zeroes falls back to writes; FAST_ZERO then says ENOTSUP', async () => {
  const plain = new BufferExport('plain', Buffer.alloc(3 << 20, 0xff));
  const bare = { name: 'bare', size: plain.size, readOnly: false, read: plain.read.bind(plain), blockStatus: plain.blockStatus.bind(plain), write: plain.write.bind(plain) };
  const s = await startServer({ exports: [bare] });
  try {
    const c = await RawClient.connect({ port: s.port });
    const { flags } = await c.open('bare');
    assert.equal(flags & 0x60, 0x60, 'trim and write zeroes are offered');
    c.request(C.CMD_WRITE_ZEROES, 100, (2 << 20) + 5);
    assert.equal((await c.simpleReply()).error, 0);
    assert.ok(plain.data.subarray(100, 100 + (2 << 20) + 5).every((b) => b === 0));
    assert.equal(plain.data[99], 0xff);
    assert.equal(plain.data[100 + (2 << 20) + 5], 0xff);
    c.request(C.CMD_WRITE_ZEROES, 0, 10, { flags: C.FLAG_FAST_ZERO });
    assert.equal((await c.simpleReply()).error, C.ENOTSUP);
    c.request(C.CMD_TRIM, 0, 10);
    assert.equal((await c.simpleReply()).error, 0);
    c.close();
  } finally {
    await s.close();
  }
});

/** Some data (not a hole, which would not be read) in the failing range. */
const failAt = (1 << 20) + firstData(1 << 20);

/** Bytes from `from` to the first data byte. */
function firstData(from: number): number {
  let pos = 0;
  for (const e of layoutExtents(ro.layout, SIZE, from, SIZE - from)) {
    if (!e.hole) return pos;
    pos += e.length;
  }
  throw new Error('no data');
}

test('export errors fail only their request: ExportError keeps its errno, anything else is EIO and logged', async () => {
  for (const [name, errno] of [
    ['failing', C.ENOSPC],
    ['buggy', C.EIO],
  ] as const) {
    for (const structured of [false, true]) {
      const c = await open(name, { structured });
      c.request(C.CMD_READ, failAt, 100, { cookie: 1n });
      c.request(C.CMD_READ, 0, 100, { cookie: 2n });
      // Replies may come in either order, and interleave when structured.
      const replies = new Map<bigint, { error: number; data: Buffer }>();
      for (let done = 0; done < 2; ) {
        if (!structured) {
          const r = await c.simpleReply(100);
          replies.set(r.cookie, r);
          done++;
          continue;
        }
        const ch = await c.chunk();
        const r = replies.get(ch.cookie) ?? { error: 0, data: Buffer.alloc(100) };
        replies.set(ch.cookie, r);
        if (ch.type >= 0x8000) r.error = ch.data.readUInt32BE(0);
        if (ch.type === 1) ch.data.copy(r.data, Number(ch.data.readBigUInt64BE(0)), 8);
        if (ch.flags & 1) done++;
      }
      assert.equal(replies.get(1n)!.error, errno);
      assert.equal(replies.get(2n)!.error, 0);
      assert.ok(replies.get(2n)!.data.equals(ro.data.subarray(0, 100)));
      c.close();
    }
  }
  // A big structured read that fails in its middle: data pieces, then the error, last.
  const c = await open('failing', { structured: true });
  c.request(C.CMD_READ, 0, 3 << 20);
  const r = await c.structuredRead(0, 3 << 20);
  assert.equal(r.error, C.ENOSPC);
  assert.equal(r.types.at(-1), 0x8001);
  c.request(C.CMD_READ, 0, 100);
  assert.ok((await c.structuredRead(0, 100)).data.equals(ro.data.subarray(0, 100)));
  c.close();
  assert.ok(h.logs.some((l) => l.level === 'error' && /buggy: READ of 100 bytes.*bug/.test(l.msg)));
  assert.ok(!h.logs.some((l) => l.level === 'error' && /failing/.test(l.msg)), 'ExportErrors are the export’s to log');
});

test('requests are pipelined and answered as they complete', async () => {
  const order: number[] = [];
  const exp = {
    ...ro,
    name: 'jitter',
    size: ro.size,
    readOnly: true,
    blockStatus: ro.blockStatus.bind(ro),
    // Later requests finish first.
    read: async (buf: Buffer, off: number) => {
      await new Promise((r) => setTimeout(r, 200 - 20 * (off / 4096)));
      order.push(off / 4096);
      ro.data.copy(buf, 0, off, off + buf.length);
    },
  };
  const s = await startServer({ exports: [exp] });
  try {
    const c = await RawClient.connect({ port: s.port });
    await c.open('jitter');
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) c.request(C.CMD_READ, i * 4096, 4096, { cookie: BigInt(i) });
    const cookies: bigint[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await c.simpleReply(4096);
      const k = Number(r.cookie);
      assert.ok(r.data.equals(ro.data.subarray(k * 4096, (k + 1) * 4096)));
      cookies.push(r.cookie);
    }
    assert.ok(Date.now() - t0 < 500, 'served concurrently');
    assert.deepEqual(cookies, [...Array(10).keys()].reverse().map(BigInt));
    c.close();
  } finally {
    await s.close();
  }
});

test('backpressure: a client that does not read its replies stops being read', async () => {
  const s = await startServer({ exports: [ro], limits: { maxInflight: 8, maxInflightBytes: 4 << 20, maxQueuedBytes: 2 << 20 } });
  try {
    const c = await RawClient.connect({ port: s.port });
    await c.open('ro');
    c.socket.pause();
    const n = 2000;
    for (let i = 0; i < n; i++) c.request(C.CMD_READ, 0, 256 << 10, { cookie: BigInt(i) });
    await new Promise((r) => setTimeout(r, 300));
    const served = s.server.stats.requests;
    // Socket buffers in the kernel hold some replies; the rest must wait.
    assert.ok(served < 200, `${served} requests served while the client read nothing`);
    c.socket.resume();
    for (let i = 0; i < n; i++) assert.equal((await c.simpleReply(256 << 10)).cookie, BigInt(i));
    assert.equal(s.server.stats.requests, n);
    c.close();
  } finally {
    await s.close();
  }
});

test('DISC answers requests in flight, then closes', async () => {
  const c = await open('slow');
  c.request(C.CMD_READ, 0, 4096, { cookie: 1n });
  c.request(C.CMD_READ, 4096, 4096, { cookie: 2n });
  c.request(C.CMD_DISC, 0, 0);
  c.request(C.CMD_READ, 0, 4096, { cookie: 3n }); // after DISC: ignored
  const got = [await c.simpleReply(4096), await c.simpleReply(4096)].map((r) => r.cookie).sort();
  assert.deepEqual(got, [1n, 2n]);
  assert.ok(await c.closedWithin(2000));
});

test('a bad request magic closes that connection only', async () => {
  const good = await open('ro');
  const bad = await open('ro');
  bad.send(Buffer.alloc(28, 0x55));
  assert.ok(await bad.closedWithin(2000));
  good.request(C.CMD_READ, 0, 10);
  assert.equal((await good.simpleReply(10)).error, 0);
  good.close();
});

test('a client vanishing mid-request leaves nothing behind', async () => {
  const before = h.server.stats.connections;
  const c = await open('slow');
  for (let i = 0; i < 10; i++) c.request(C.CMD_READ, i * 65536, 65536);
  c.request(C.CMD_WRITE, 0, 1000, { payload: Buffer.alloc(10) }); // truncated payload
  await new Promise((r) => setTimeout(r, 5));
  c.close();
  assert.ok(await until(() => h.server.stats.connections === before));
  // The reads still complete inside; their replies go nowhere and nothing throws.
  await new Promise((r) => setTimeout(r, 60));
  const again = await open('ro');
  again.request(C.CMD_READ, 0, 10);
  assert.equal((await again.simpleReply(10)).error, 0);
  again.close();
});
