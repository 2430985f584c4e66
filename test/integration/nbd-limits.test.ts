// Limits that hold under abuse, with raw sockets as the abusers and a real
// client (nbdcopy) being served meanwhile: connection caps (global and per
// client address), the handshake deadline (silent and trickling clients), an
// option flood that reads no replies, and the 32 MiB request bound that
// nbdinfo sees advertised.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { C, RawClient, optionHeader } from '../helpers/nbd-client.js';
import { BufferExport, MemoryExport } from '../helpers/nbd-exports.js';
import { startServer, until, type Harness } from '../helpers/nbd-harness.js';
import { ensurePeers, nbdUri, peer } from '../helpers/nbd-peers.js';

const skip = ensurePeers(['nbdinfo', 'nbdcopy']);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function from(localAddress: string, port: number): Promise<RawClient> {
  const s = connect({ port, host: '127.0.0.1', localAddress });
  await once(s, 'connect');
  return RawClient.over(s);
}

describe('limits under abuse, a real client served meanwhile', { skip }, () => {
  const disk = new MemoryExport({ name: 'disk', size: 16 << 20, seed: 21 });
  const rw = new BufferExport('rw', Buffer.alloc(1 << 20));
  let h: Harness;
  let work: string;
  /** nbdcopy of the whole export, run while the abuse goes on. */
  async function honestCopy(tag: string): Promise<void> {
    const out = join(work, `${tag}.img`);
    await peer('nbdcopy', [nbdUri(h.port, 'disk'), out]);
    assert.equal(sha(await readFile(out)), sha(disk.data), `${tag}: every byte`);
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-limits-'));
    h = await startServer({
      exports: [disk, rw],
      maxConnections: 24,
      maxConnectionsPerAddress: 8,
      limits: { handshakeTimeoutMs: 1500, maxQueuedBytes: 64 << 10 },
    });
  });
  after(async () => {
    await h.close();
    await rm(work, { recursive: true, force: true });
  });

  it('a client that says nothing, or trickles a byte at a time, is dropped at the handshake deadline', async () => {
    const silent = await RawClient.connect({ port: h.port });
    const trickler = await RawClient.connect({ port: h.port });
    await trickler.greet();
    // An option of 1000 bytes, sent one byte per 100 ms: it would take 100 s.
    const option = Buffer.concat([optionHeader(C.OPT_LIST, 1000), Buffer.alloc(1000)]);
    let sent = 0;
    const drip = setInterval(() => !trickler.ended && trickler.send(option.subarray(sent, ++sent)), 100);
    try {
      await honestCopy('during-slowloris');
      assert.ok(await silent.closedWithin(10_000), 'silent client dropped');
      assert.ok(await trickler.closedWithin(10_000), 'trickling client dropped');
      assert.ok(sent < option.length);
    } finally {
      clearInterval(drip);
    }
    assert.ok(h.logs.filter((l) => l.msg.includes('handshake timed out')).length >= 2);
  });

  it('per client address: the ninth connection from one address is refused, other addresses still get in', async () => {
    const mine = await Promise.all(Array.from({ length: 8 }, () => from('127.0.0.2', h.port)));
    for (const c of mine) await c.greet();
    const ninth = await from('127.0.0.2', h.port);
    assert.ok(await ninth.closedWithin(5000), 'ninth from 127.0.0.2 refused');
    assert.ok(h.logs.some((l) => l.msg.includes('8 connections open from this address')));
    await honestCopy('per-address'); // from 127.0.0.1
    for (const c of mine) c.close();
    assert.ok(await until(() => h.server.stats.connections === 0, 5000));
  });

  it('globally: connections beyond --max-connections are refused until some close', async () => {
    const addrs = ['127.0.0.3', '127.0.0.4', '127.0.0.5'];
    const held = await Promise.all(Array.from({ length: 24 }, (_, i) => from(addrs[i % 3]!, h.port)));
    for (const c of held) await c.greet();
    const extra = await from('127.0.0.6', h.port);
    assert.ok(await extra.closedWithin(5000));
    assert.ok(h.logs.some((l) => l.msg.includes('24 connections open')));
    // nbdcopy opens up to four connections (the export allows multi-conn).
    for (const c of held.slice(0, 4)) c.close();
    assert.ok(await until(() => h.server.stats.connections === 20, 5000));
    await honestCopy('after-one-closed');
    for (const c of held) c.close();
    assert.ok(await until(() => h.server.stats.connections === 0, 5000));
  });

  it('an option flood that reads no replies stops being read; nothing is lost when it reads again', async () => {
    // A server of its own: the flood must not meet the short handshake deadline.
    const f = await startServer({ exports: [disk], limits: { maxQueuedBytes: 64 << 10, handshakeTimeoutMs: 120_000 } });
    after(() => f.close());
    const c = await RawClient.connect({ port: f.port });
    await c.greet();
    c.socket.pause();
    // 16 MB of options asking for 20 MB of replies: more than the kernel's
    // socket buffers hold, so a server that kept reading would queue megabytes.
    const n = 1_000_000;
    c.send(Buffer.concat(Array.from({ length: n }, () => optionHeader(C.OPT_STRUCTURED_REPLY, 0))));
    // The server stops reading once its queue passes 64 KiB: much of ours stays unsent.
    await until(() => c.socket.writableLength === 0, 2000);
    assert.ok(c.socket.writableLength > 0, 'the server stopped reading');
    c.socket.resume();
    for (let left = n; left > 0; ) {
      const k = Math.min(left, 10_000);
      const replies = await c.recv(20 * k, 30_000);
      for (let i = 0; i < k; i++) assert.equal(replies.readUInt32BE(20 * i + 12), C.REP_ACK);
      left -= k;
    }
    c.close();
  });

  it('requests over 32 MiB are refused without being buffered, and the bound is advertised', async () => {
    const info = JSON.parse(await peer('nbdinfo', ['--json', nbdUri(h.port, 'disk')])).exports[0];
    assert.equal(info.block_size_maximum, 32 << 20);
    const c = await RawClient.connect({ port: h.port });
    await c.open('rw');
    c.request(C.CMD_READ, 0, (32 << 20) + 1, { cookie: 1n });
    assert.equal((await c.simpleReply()).error, C.EINVAL);
    // A 40 MiB write: refused at its header, its payload dropped as it streams past.
    c.request(C.CMD_WRITE, 0, 40 << 20, { cookie: 2n });
    assert.equal((await c.simpleReply()).error, C.EINVAL);
    for (let i = 0; i < 40; i++) c.send(Buffer.alloc(1 << 20, 0xab));
    c.request(C.CMD_READ, 0, 16, { cookie: 3n });
    const r = await c.simpleReply(16);
    assert.deepEqual([r.cookie, r.error, r.data], [3n, 0, Buffer.alloc(16)]);
    c.close();
  });
});
