// The server around the sessions: several listeners, Unix sockets, the
// connection limit, and a graceful stop that a reconnecting client survives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdServer } from '../../src/nbd/index.js';
import { MemoryExport, faulty } from '../helpers/nbd-exports.js';
import { C, RawClient, goData } from '../helpers/nbd-client.js';
import { until } from '../helpers/nbd-harness.js';

const ro = new MemoryExport({ name: 'ro', size: 1 << 20, seed: 5 });
const slow = { ...faulty(ro, { delayMs: 150 }), name: 'slow' };
const quiet = () => {};

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nbd-server-'));
}

async function readOk(c: RawClient, cookie: bigint): Promise<void> {
  c.request(C.CMD_READ, 100, 50, { cookie });
  const r = await c.simpleReply(50);
  assert.equal(r.cookie, cookie);
  assert.ok(r.data.equals(ro.data.subarray(100, 150)));
}

test('TCP and a Unix socket at once; a stale socket file is replaced', async () => {
  const dir = tmp();
  const path = join(dir, 'nbd.sock');
  // A socket file nobody listens on, as a crashed server leaves behind.
  spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
  assert.ok(lstatSync(path).isSocket());

  const s = new NbdServer({ exports: [ro], log: quiet });
  try {
    const tcp = await s.listen({ port: 0 });
    const unix = await s.listen({ socket: path });
    assert.equal(unix.socket, path);
    const a = await RawClient.connect({ port: tcp.port! });
    const b = await RawClient.connect({ socket: path });
    await a.open('ro');
    await b.open('ro');
    await readOk(a, 1n);
    await readOk(b, 2n);
    assert.equal(s.stats.connections, 2);
    a.close();
    b.close();
  } finally {
    await s.close();
    assert.throws(() => lstatSync(path), /ENOENT/, 'the socket file goes with the server');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a live socket file is not taken over', async () => {
  const dir = tmp();
  const path = join(dir, 'nbd.sock');
  const first = new NbdServer({ exports: [ro], log: quiet });
  const second = new NbdServer({ exports: [ro], log: quiet });
  try {
    await first.listen({ socket: path });
    await assert.rejects(second.listen({ socket: path }), /EADDRINUSE/);
    // A plain file is not a socket: left alone, and listen fails.
    writeFileSync(join(dir, 'file'), 'x');
    await assert.rejects(second.listen({ socket: join(dir, 'file') }), /EADDRINUSE/);
  } finally {
    await first.close();
    await second.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('connections beyond maxConnections are refused', async () => {
  const s = new NbdServer({ exports: [ro], log: quiet, maxConnections: 2 });
  const { port } = await s.listen({ port: 0 });
  try {
    const a = await RawClient.connect({ port: port! });
    const b = await RawClient.connect({ port: port! });
    await a.greet();
    await b.greet();
    const c = await RawClient.connect({ port: port! });
    assert.ok(await c.closedWithin(2000));
    a.close();
    assert.ok(await until(() => s.stats.connections === 1));
    const d = await RawClient.connect({ port: port! });
    await d.open('ro');
    await readOk(d, 1n);
    b.close();
    d.close();
  } finally {
    await s.close();
  }
});

test('close() answers requests in flight, refuses options with ERR_SHUTDOWN, and frees the port for a new server', async () => {
  const s = new NbdServer({ exports: [ro, slow], log: quiet });
  const { port } = await s.listen({ port: 0 });
  const busy = await RawClient.connect({ port: port! });
  await busy.open('slow');
  const negotiating = await RawClient.connect({ port: port! });
  await negotiating.greet();
  for (let i = 0; i < 5; i++) busy.request(C.CMD_READ, i * 1000, 1000, { cookie: BigInt(i) });
  await until(() => s.stats.requests === 5);
  const t0 = Date.now();
  const closing = s.close({ drainMs: 3000 });
  // A negotiating client's next option is refused.
  negotiating.sendOption(C.OPT_GO, goData('ro'));
  assert.equal((await negotiating.optionReply()).type, C.REP_ERR_SHUTDOWN);
  negotiating.sendOption(C.OPT_ABORT);
  assert.equal((await negotiating.optionReply()).type, C.REP_ACK);
  // Every read in flight is answered, then the connection ends.
  const cookies = [];
  for (let i = 0; i < 5; i++) {
    const r = await busy.simpleReply(1000);
    assert.equal(r.error, 0);
    assert.ok(r.data.equals(ro.data.subarray(Number(r.cookie) * 1000, Number(r.cookie) * 1000 + 1000)));
    cookies.push(r.cookie);
  }
  assert.equal(cookies.length, 5);
  assert.ok(await busy.closedWithin(2000));
  await closing;
  assert.ok(Date.now() - t0 < 2500, 'close does not wait for the full drain time when all is done');
  assert.equal(s.stats.connections, 0);
  await assert.rejects(RawClient.connect({ port: port! }));

  // The same port, a new server: a client reconnects and reads.
  const next = new NbdServer({ exports: [ro], log: quiet });
  assert.deepEqual(await next.listen({ port: port! }), { port });
  const again = await RawClient.connect({ port: port! });
  await again.open('ro');
  await readOk(again, 9n);
  again.close();
  await next.close();
});

test('close() gives up on requests that outlast drainMs', async () => {
  const stuck = { ...ro, name: 'stuck', size: ro.size, readOnly: true, blockStatus: ro.blockStatus.bind(ro), read: () => new Promise<void>(() => {}) };
  const s = new NbdServer({ exports: [stuck], log: quiet });
  const { port } = await s.listen({ port: 0 });
  const c = await RawClient.connect({ port: port! });
  await c.open('stuck');
  c.request(C.CMD_READ, 0, 10);
  await until(() => s.stats.requests === 1);
  const t0 = Date.now();
  await s.close({ drainMs: 200 });
  const took = Date.now() - t0;
  assert.ok(took >= 190 && took < 1500, `took ${took} ms`);
  assert.ok(await c.closedWithin(1000));
});

test('listen after close is refused', async () => {
  const s = new NbdServer({ exports: [ro], log: quiet });
  await s.close();
  await assert.rejects(s.listen({ port: 0 }), /closing/);
});

test('close() does not wait long for clients idle in the handshake', async () => {
  const s = new NbdServer({ exports: [ro], log: quiet });
  const { port } = await s.listen({ port: 0 });
  const idle = await RawClient.connect({ port: port! });
  await idle.greet();
  const t0 = Date.now();
  await s.close({ drainMs: 10_000 });
  const took = Date.now() - t0;
  assert.ok(took < 2000, `took ${took} ms`);
  assert.ok(await idle.closedWithin(1000));
});
