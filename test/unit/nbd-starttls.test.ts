// NBD_OPT_STARTTLS byte for byte, with Node's TLS client as the peer (PSK, no
// certificates): what is negotiated before TLS is forgotten after it, FORCEDTLS
// lets nothing through, STARTTLS is refused when it makes no sense, and a
// client that pipelines bytes behind STARTTLS is dropped.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { C, RawClient, goData, metaQuery } from '../helpers/nbd-client.js';
import { MemoryExport } from '../helpers/nbd-exports.js';
import { startServer, type Harness } from '../helpers/nbd-harness.js';

const ro = new MemoryExport({ name: 'ro', size: 1 << 20, seed: 9 });
const hidden = new MemoryExport({ name: 'hidden', size: 1 << 16, seed: 10 });
const KEY = Buffer.alloc(32, 7);
const psk = new Map([['alice', KEY], ['bob', Buffer.alloc(32, 8)]]);
const access = new Map([['hidden', new Set(['bob'])]]);
let on: Harness;
let require: Harness;

before(async () => {
  on = await startServer({ exports: [ro, hidden], tls: { mode: 'on', psk }, access });
  require = await startServer({ exports: [ro, hidden], tls: { mode: 'require', psk }, access });
});
after(async () => {
  await on.close();
  await require.close();
});

async function greeted(h: Harness): Promise<RawClient> {
  const c = await RawClient.connect({ port: h.port });
  await c.greet();
  return c;
}

/** STARTTLS, ACK, then the handshake as `identity` (TLS 1.3 unless told). */
async function startTls(c: RawClient, identity = 'alice', key = KEY, maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<RawClient> {
  c.sendOption(C.OPT_STARTTLS);
  assert.equal((await c.optionReply()).type, C.REP_ACK);
  const t = tlsConnect({
    socket: c.socket,
    maxVersion,
    ciphers: 'TLS_AES_128_GCM_SHA256:ECDHE-PSK-AES128-CBC-SHA256',
    pskCallback: () => ({ identity, psk: key }),
    checkServerIdentity: () => undefined,
  });
  await once(t, 'secureConnect');
  return RawClient.over(t);
}

const names = (rs: Array<{ type: number; data: Buffer }>) =>
  rs.filter((r) => r.type === C.REP_SERVER).map((r) => r.data.toString('utf8', 4, 4 + r.data.readUInt32BE(0)));

test('structured replies and meta contexts negotiated before STARTTLS are forgotten after it', async () => {
  const c = await greeted(on);
  c.sendOption(C.OPT_STRUCTURED_REPLY);
  assert.equal((await c.optionReply()).type, C.REP_ACK);
  c.sendOption(C.OPT_SET_META_CONTEXT, metaQuery('ro', ['base:allocation']));
  assert.equal((await c.optionReplies()).at(-1)!.type, C.REP_ACK);
  const t = await startTls(c);
  t.sendOption(C.OPT_SET_META_CONTEXT, metaQuery('ro', ['base:allocation']));
  assert.equal((await t.optionReply()).type, C.REP_ERR_INVALID, 'structured replies must be negotiated again');
  t.sendOption(C.OPT_STARTTLS);
  assert.equal((await t.optionReply()).type, C.REP_ERR_INVALID, 'STARTTLS inside TLS');
  // GO without structured replies: reads come back as simple replies.
  t.sendOption(C.OPT_GO, goData('ro'));
  assert.equal((await t.optionReplies()).at(-1)!.type, C.REP_ACK);
  t.request(C.CMD_READ, 4096, 4096);
  const r = await t.simpleReply(4096);
  assert.equal(r.error, 0);
  assert.deepEqual(r.data, ro.data.subarray(4096, 8192));
  t.close();
});

test('STARTTLS with data is invalid; bytes pipelined behind STARTTLS close the connection', async () => {
  const c = await greeted(on);
  c.sendOption(C.OPT_STARTTLS, Buffer.from('x'));
  assert.equal((await c.optionReply()).type, C.REP_ERR_INVALID);
  const optStart = Buffer.concat([Buffer.from('IHAVEOPT'), Buffer.from([0, 0, 0, 5, 0, 0, 0, 0])]);
  c.send(Buffer.concat([optStart, Buffer.from('not a TLS hello')]));
  assert.ok(await c.closedWithin(5000));
});

test('TLS mode on: a plaintext client sees and opens only exports open to all', async () => {
  const c = await greeted(on);
  c.sendOption(C.OPT_LIST);
  assert.deepEqual(names(await c.optionReplies()), ['ro']);
  c.sendOption(C.OPT_INFO, goData('hidden'));
  assert.equal((await c.optionReply()).type, C.REP_ERR_POLICY);
  c.close();
  const b = await startTls(await greeted(on), 'bob', Buffer.alloc(32, 8), 'TLSv1.2');
  b.sendOption(C.OPT_LIST);
  assert.deepEqual(names(await b.optionReplies()), ['ro', 'hidden']);
  b.sendOption(C.OPT_GO, goData('hidden'));
  assert.equal((await b.optionReplies()).at(-1)!.type, C.REP_ACK);
  b.close();
  assert.ok(on.logs.some((l) => l.level === 'warn' && l.msg.includes('export "hidden" refused to a client without identity')));
  assert.ok(on.logs.some((l) => l.msg.includes('(bob): TLSv1.2 started')));
});

test('TLS required: TLS_REQD to every option but STARTTLS and ABORT, then all works inside TLS', async () => {
  const c = await greeted(require);
  for (const o of [C.OPT_LIST, C.OPT_INFO, C.OPT_GO, C.OPT_STRUCTURED_REPLY, C.OPT_SET_META_CONTEXT, 0xdead]) {
    c.sendOption(o, o === C.OPT_INFO || o === C.OPT_GO ? goData('ro') : undefined);
    assert.deepEqual((await c.optionReplies()).map((r) => r.type), [C.REP_ERR_TLS_REQD], `option ${o}`);
  }
  const t = await startTls(c);
  t.sendOption(C.OPT_LIST);
  assert.deepEqual(names(await t.optionReplies()), ['ro']);
  t.sendOption(C.OPT_ABORT);
  assert.equal((await t.optionReply()).type, C.REP_ACK);
  assert.ok(await t.closedWithin(5000));
  const e = await greeted(require);
  e.sendOption(C.OPT_EXPORT_NAME, Buffer.from('ro'));
  assert.ok(await e.closedWithin(5000), 'EXPORT_NAME cannot be refused: hang up');
  const a = await greeted(require);
  a.sendOption(C.OPT_ABORT);
  assert.equal((await a.optionReply()).type, C.REP_ACK);
});

test('a wrong key fails the handshake; the server logs it and stays up', async () => {
  const c = await greeted(require);
  await assert.rejects(startTls(c, 'alice', Buffer.alloc(32, 1)));
  assert.ok(await c.closedWithin(5000));
  const t = await startTls(await greeted(require));
  t.sendOption(C.OPT_LIST);
  assert.equal((await t.optionReplies()).at(-1)!.type, C.REP_ACK);
  t.close();
  assert.ok(require.logs.some((l) => l.level === 'warn' && /TLS handshake failed/.test(l.msg)));
});
