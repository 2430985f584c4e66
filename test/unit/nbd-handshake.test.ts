// Option haggling, byte for byte: what the server answers to each option, good
// and bad, and that a refused option leaves the client free to go on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockExport } from '../../src/nbd/index.js';
import { BufferExport, MemoryExport } from '../helpers/nbd-exports.js';
import { C, RawClient, goData, metaQuery, optionHeader } from '../helpers/nbd-client.js';
import { startServer, type Harness } from '../helpers/nbd-harness.js';

const ro = new MemoryExport({ name: 'ro', description: 'read-only, with holes', size: 1 << 20, seed: 3, preferredBlockSize: 512 << 10 });
const rw = new BufferExport('rw', Buffer.alloc(64 << 10), 'writable');
const odd = new MemoryExport({ name: 'odd', size: 12345, seed: 4, preferredBlockSize: 3000 });
let h: Harness;

before(async () => {
  h = await startServer({ exports: [ro, rw, odd] });
});
after(() => h.close());

async function client(): Promise<RawClient> {
  const c = await RawClient.connect({ port: h.port });
  return c;
}

function str(len: number, s: string): Buffer {
  const b = Buffer.alloc(4 + Buffer.byteLength(s));
  b.writeUInt32BE(len, 0);
  b.write(s, 4);
  return b;
}

test('greeting offers fixed newstyle and no zeroes; unknown client flags close the connection', async () => {
  const c = await client();
  assert.equal(await c.greet(3), 3);
  c.close();
  const bad = await client();
  await bad.greet(0x10);
  assert.ok(await bad.closedWithin(2000));
});

test('LIST names every export with its description, then ACK; data makes it invalid', async () => {
  const c = await client();
  await c.greet();
  c.sendOption(C.OPT_LIST);
  const rs = await c.optionReplies();
  assert.equal(rs.at(-1)!.type, C.REP_ACK);
  const servers = rs.slice(0, -1).map((r) => {
    assert.equal(r.type, C.REP_SERVER);
    const n = r.data.readUInt32BE(0);
    return [r.data.toString('utf8', 4, 4 + n), r.data.toString('utf8', 4 + n)];
  });
  assert.deepEqual(servers, [
    ['ro', 'read-only, with holes'],
    ['rw', 'writable'],
    ['odd', ''],
  ]);
  c.sendOption(C.OPT_LIST, Buffer.from('x'));
  assert.equal((await c.optionReply()).type, C.REP_ERR_INVALID);
  c.sendOption(C.OPT_ABORT);
  assert.equal((await c.optionReply()).type, C.REP_ACK);
  assert.ok(await c.closedWithin(2000));
});

function infos(rs: Array<{ type: number; data: Buffer }>): Map<number, Buffer> {
  return new Map(rs.filter((r) => r.type === C.REP_INFO).map((r) => [r.data.readUInt16BE(0), r.data.subarray(2)]));
}

test('INFO describes an export and stays in negotiation; flags tell the truth', async () => {
  const c = await client();
  await c.greet();
  c.sendOption(C.OPT_INFO, goData('ro'));
  let rs = await c.optionReplies();
  assert.equal(rs.at(-1)!.type, C.REP_ACK);
  let m = infos(rs);
  assert.equal(Number(m.get(0)!.readBigUInt64BE(0)), 1 << 20);
  // HAS_FLAGS | READ_ONLY | SEND_FLUSH | CAN_MULTI_CONN | SEND_CACHE
  assert.equal(m.get(0)!.readUInt16BE(8), 0x1 | 0x2 | 0x4 | 0x100 | 0x400);
  assert.equal(m.get(1)!.toString(), 'ro');
  assert.equal(m.get(2)!.toString(), 'read-only, with holes');
  assert.deepEqual([m.get(3)!.readUInt32BE(0), m.get(3)!.readUInt32BE(4), m.get(3)!.readUInt32BE(8)], [1, 512 << 10, 32 << 20]);

  c.sendOption(C.OPT_STRUCTURED_REPLY);
  assert.equal((await c.optionReply()).type, C.REP_ACK);
  c.sendOption(C.OPT_INFO, goData('rw', []));
  rs = await c.optionReplies();
  m = infos(rs);
  // + FUA, TRIM, WRITE_ZEROES, FAST_ZERO, DF (structured now); no READ_ONLY
  assert.equal(m.get(0)!.readUInt16BE(8), 0x1 | 0x4 | 0x8 | 0x20 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800);

  // The preferred block size is a power of two: 3000 rounds down.
  c.sendOption(C.OPT_INFO, goData('odd'));
  m = infos(await c.optionReplies());
  assert.equal(m.get(3)!.readUInt32BE(4), 2048);
  assert.equal(m.has(2), false, 'no description, no NBD_INFO_DESCRIPTION');
  c.close();
});

test('unknown export names get ERR_UNKNOWN; the empty name is the first export', async () => {
  const c = await client();
  await c.greet();
  c.sendOption(C.OPT_INFO, goData('nope'));
  const r = await c.optionReply();
  assert.equal(r.type, C.REP_ERR_UNKNOWN);
  assert.match(r.data.toString(), /nope/);
  c.sendOption(C.OPT_GO, goData('nope'));
  assert.equal((await c.optionReply()).type, C.REP_ERR_UNKNOWN);
  c.sendOption(C.OPT_GO, goData(''));
  const rs = await c.optionReplies();
  assert.equal(rs.at(-1)!.type, C.REP_ACK);
  assert.equal(infos(rs).get(1)!.toString(), 'ro');
  // Now in transmission: a read works.
  c.request(C.CMD_READ, 0, 16, { cookie: 9n });
  const reply = await c.simpleReply(16);
  assert.equal(reply.cookie, 9n);
  assert.deepEqual(reply.data, ro.data.subarray(0, 16));
  c.close();
});

test('malformed INFO/GO data gets ERR_INVALID and negotiation goes on', async () => {
  const c = await client();
  await c.greet();
  const cases = [
    Buffer.alloc(3), // shorter than the fixed part
    Buffer.concat([str(100, 'ro'), Buffer.alloc(2)]), // name longer than the option
    Buffer.concat([goData('ro'), Buffer.alloc(1)]), // trailing byte
    Buffer.concat([str(2, 'ro'), Buffer.from([0, 5])]), // 5 info requests announced, none sent
  ];
  for (const data of cases) {
    c.sendOption(C.OPT_GO, data);
    assert.equal((await c.optionReply()).type, C.REP_ERR_INVALID, data.toString('hex'));
  }
  c.sendOption(C.OPT_STRUCTURED_REPLY, Buffer.from('x'));
  assert.equal((await c.optionReply()).type, C.REP_ERR_INVALID);
  c.sendOption(C.OPT_GO, goData('rw'));
  assert.equal((await c.optionReplies()).at(-1)!.type, C.REP_ACK);
  c.close();
});

test('options we do not implement get ERR_UNSUP, their data skipped', async () => {
  const c = await client();
  await c.greet();
  for (const opt of [C.OPT_STARTTLS, C.OPT_EXTENDED_HEADERS, 4, 12, 0xdeadbeef]) {
    c.sendOption(opt, Buffer.from('some data'));
    const r = await c.optionReply();
    assert.equal(r.option, opt);
    assert.equal(r.type, C.REP_ERR_UNSUP);
  }
  c.sendOption(C.OPT_LIST);
  assert.equal((await c.optionReplies()).at(-1)!.type, C.REP_ACK);
  c.close();
});

test('meta contexts: base:allocation only, after structured replies', async () => {
  const c = await client();
  await c.greet();
  c.sendOption(C.OPT_LIST_META_CONTEXT, metaQuery('ro', []));
  assert.equal((await c.optionReply()).type, C.REP_ERR_INVALID, 'before STRUCTURED_REPLY');
  c.sendOption(C.OPT_STRUCTURED_REPLY);
  await c.optionReply();

  const list = async (name: string, queries: string[]) => {
    c.sendOption(C.OPT_LIST_META_CONTEXT, metaQuery(name, queries));
    const rs = await c.optionReplies();
    return { end: rs.at(-1)!.type, contexts: rs.filter((r) => r.type === C.REP_META_CONTEXT).map((r) => r.data.toString('utf8', 4)) };
  };
  assert.deepEqual(await list('ro', []), { end: C.REP_ACK, contexts: ['base:allocation'] });
  assert.deepEqual(await list('ro', ['base:']), { end: C.REP_ACK, contexts: ['base:allocation'] });
  assert.deepEqual(await list('ro', ['qemu:dirty-bitmap:x', 'base:allocation']), { end: C.REP_ACK, contexts: ['base:allocation'] });
  assert.deepEqual(await list('ro', ['qemu:allocation-depth', 'base:other']), { end: C.REP_ACK, contexts: [] });
  assert.deepEqual(await list('ro', ['nocolon']), { end: C.REP_ERR_INVALID, contexts: [] });
  assert.deepEqual(await list('nope', []), { end: C.REP_ERR_UNKNOWN, contexts: [] });

  const set = async (queries: string[]) => {
    c.sendOption(C.OPT_SET_META_CONTEXT, metaQuery('ro', queries));
    return (await c.optionReplies()).map((r) => [r.type, r.type === C.REP_META_CONTEXT ? r.data.readUInt32BE(0) : 0, r.data.toString('utf8', 4)]);
  };
  // base: is a wildcard only for listing.
  assert.deepEqual(await set(['base:']), [[C.REP_ACK, 0, '']]);
  const sel = await set(['x-foo:bar', 'base:allocation']);
  assert.equal(sel.length, 2);
  assert.equal(sel[0]![0], C.REP_META_CONTEXT);
  assert.notEqual(sel[0]![1], 0);
  assert.equal(sel[0]![2], 'base:allocation');

  // Malformed: counts and lengths that overrun the data, trailing bytes.
  for (const data of [
    Buffer.alloc(2),
    str(50, 'ro'),
    Buffer.concat([str(2, 'ro'), Buffer.from([0, 0, 0, 9])]),
    Buffer.concat([str(2, 'ro'), Buffer.from([0, 0, 0, 1]), str(99, 'base:allocation')]),
    Buffer.concat([metaQuery('ro', []), Buffer.alloc(1)]),
    Buffer.concat([str(2, 'ro'), Buffer.from([0xff, 0xff, 0xff, 0xff])]),
  ]) {
    c.sendOption(C.OPT_SET_META_CONTEXT, data);
    assert.equal((await c.optionReply()).type, C.REP_ERR_INVALID, data.toString('hex'));
  }
  c.close();
});

test('oversized option data is skipped and refused with ERR_TOO_BIG', async () => {
  const c = await client();
  await c.greet();
  c.sendOption(C.OPT_LIST, Buffer.alloc(100 << 10, 0x41));
  const r = await c.optionReply();
  assert.equal(r.type, C.REP_ERR_TOO_BIG);
  c.sendOption(C.OPT_LIST);
  assert.equal((await c.optionReplies()).at(-1)!.type, C.REP_ACK);
  c.close();
});

test('EXPORT_NAME: size and flags, with or without the 124 zeroes; unknown name closes', async () => {
  for (const [flags, len] of [
    [3, 10],
    [1, 134],
  ] as const) {
    const c = await client();
    await c.greet(flags);
    c.sendOption(C.OPT_EXPORT_NAME, Buffer.from('rw'));
    const r = await c.recv(len);
    assert.equal(Number(r.readBigUInt64BE(0)), 64 << 10);
    assert.equal(r.readUInt16BE(8) & 0x2, 0);
    if (len > 10) assert.ok(r.subarray(10).every((b) => b === 0));
    c.request(C.CMD_READ, 0, 8);
    assert.equal((await c.simpleReply(8)).error, 0);
    c.close();
  }
  const c = await client();
  await c.greet();
  c.sendOption(C.OPT_EXPORT_NAME, Buffer.from('nope'));
  assert.ok(await c.closedWithin(2000));
});

test('a bad option magic closes the connection', async () => {
  const c = await client();
  await c.greet();
  const h = optionHeader(C.OPT_LIST, 0);
  h[0] = 0;
  c.send(h);
  assert.ok(await c.closedWithin(2000));
});

test('the export list may be a function, read at each option', async () => {
  let list: BlockExport[] = [ro];
  const s = await startServer({ exports: () => list });
  try {
    const names = async () => {
      const c = await RawClient.connect({ port: s.port });
      await c.greet();
      c.sendOption(C.OPT_LIST);
      const rs = await c.optionReplies();
      c.close();
      return rs.filter((r) => r.type === C.REP_SERVER).map((r) => r.data.toString('utf8', 4, 4 + r.data.readUInt32BE(0)));
    };
    assert.deepEqual(await names(), ['ro']);
    list = [rw, ro];
    assert.deepEqual(await names(), ['rw', 'ro']);
  } finally {
    await s.close();
  }
});

test('a client that never finishes the handshake is dropped', async () => {
  const s = await startServer({ exports: [ro], limits: { handshakeTimeoutMs: 100 } });
  try {
    const c = await RawClient.connect({ port: s.port });
    await c.greet();
    assert.ok(await c.closedWithin(2000));
    assert.ok(s.logs.some((l) => /handshake timed out/.test(l.msg)));
  } finally {
    await s.close();
  }
});

test('a failing export list or an invalid export is our fault: ERR_POLICY, logged, the connection goes on', async () => {
  let fail = true;
  const bad = { ...ro, name: 'bad', size: -1, read: ro.read, blockStatus: ro.blockStatus };
  const s = await startServer({
    exports: () => {
      if (fail) throw new Error('catalog unavailable');
      return [bad, ro];
    },
  });
  try {
    const c = await RawClient.connect({ port: s.port });
    await c.greet();
    c.sendOption(C.OPT_LIST);
    const r = await c.optionReply();
    assert.equal(r.type, 0x80000002);
    assert.match(r.data.toString(), /catalog unavailable/);
    fail = false;
    c.sendOption(C.OPT_GO, goData('bad'));
    assert.equal((await c.optionReply()).type, 0x80000002);
    c.sendOption(C.OPT_GO, goData('ro'));
    assert.equal((await c.optionReplies()).at(-1)!.type, C.REP_ACK);
    c.close();
    assert.ok(s.logs.some((l) => l.level === 'error' && /catalog unavailable/.test(l.msg)));
    assert.ok(s.logs.some((l) => l.level === 'error' && /invalid size -1/.test(l.msg)));
  } finally {
    await s.close();
  }
});
