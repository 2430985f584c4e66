// Seeded fuzzing against a running server: conversations split at every byte
// boundary get the same answers; random requests get exactly what the spec
// says; garbage and damaged conversations end in answers or a closed
// connection, never in a crash, while a well-behaved client keeps reading
// correct data; and hundreds of bad clients leave memory and sockets as they
// were.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { BufferExport, MemoryExport, layoutExtents, prng } from '../helpers/nbd-exports.js';
import { C, RawClient, goData, metaQuery } from '../helpers/nbd-client.js';
import { digest, encodeExchange, option, parseTranscript, request, sampleExchanges, type Exchange, type Step } from '../helpers/nbd-exchange.js';
import { countObjects, startServer, until, type Harness } from '../helpers/nbd-harness.js';

const SEED = 20251126;
const T = { timeout: 60_000 };
const SIZE = 2 << 20;
const ro = new MemoryExport({ name: 'ro', size: SIZE, seed: 21, maxRun: 64 << 10 });
const rw = new BufferExport('rw', Buffer.alloc(64 << 10));
const holeAt = ro.layout.holes[3]![0];
let h: Harness;

before(async () => {
  h = await startServer({ exports: [ro, rw], limits: { handshakeTimeoutMs: 5000, lingerMs: 500 } });
});
after(() => h.close());

/** Sends parts with a pause between, collects what comes back until the server closes or goes quiet. */
function converse(parts: Buffer[], o: { gapMs?: number; idleMs?: number } = {}): Promise<{ out: Buffer; closed: boolean }> {
  const { gapMs = 1, idleMs = 1000 } = o;
  return new Promise((resolve) => {
    const s = connect(h.port, '127.0.0.1');
    s.setNoDelay(true);
    const got: Buffer[] = [];
    let idle: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = (closed: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      s.destroy();
      resolve({ out: Buffer.concat(got), closed });
    };
    const quiet = () => {
      clearTimeout(idle);
      idle = setTimeout(() => finish(false), idleMs);
    };
    s.on('data', (d: Buffer) => {
      got.push(d);
      quiet();
    });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.once('connect', async () => {
      for (const [i, p] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (!s.destroyed) s.write(p);
      }
      quiet();
    });
  });
}

/** Runs fn over items, `width` at a time. */
async function inBatches<T>(items: T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

test('every sample conversation, split at every byte boundary, gets the same answers', T, async () => {
  for (const x of sampleExchanges('ro', 'rw', holeAt)) {
    const bytes = encodeExchange(x);
    const whole = await converse([bytes]);
    assert.ok(whole.closed, 'DISC ends the conversation');
    const base = parseTranscript(x, whole.out);
    assert.equal(base.trailing, 0);
    assert.equal(base.replies.size, x.steps.filter((s) => s.kind === 'request' && s.type !== C.CMD_DISC).length);
    const cuts = [...Array(bytes.length - 1).keys()].map((k) => k + 1);
    await inBatches(cuts, 40, async (k) => {
      const split = await converse([bytes.subarray(0, k), bytes.subarray(k)]);
      assert.ok(split.closed, `split at ${k}: not closed`);
      const t = parseTranscript(x, split.out);
      assert.deepEqual(t, base, `split at ${k}`);
    });
  }
  // And the answers are right, not just consistent.
  const [first, second] = sampleExchanges('ro', 'rw', holeAt);
  const t1 = parseTranscript(first!, (await converse([encodeExchange(first!)])).out);
  assert.equal(t1.replies.get(1n), `simple 0 ${digest(ro.data.subarray(0, 700))}`);
  assert.equal(t1.replies.get(2n), `simple 0 ${digest(Buffer.alloc(4096))}`);
  assert.equal(t1.replies.get(3n), `simple ${C.EINVAL} ${digest(Buffer.alloc(0))}`);
  const t2 = parseTranscript(second!, (await converse([encodeExchange(second!)])).out);
  assert.equal(t2.replies.get(1n), `read ${digest(ro.data.subarray(holeAt - 1000, holeAt + 8000))}`);
  assert.equal(t2.replies.get(6n), `error ${C.EPERM}`);
  assert.equal(t2.replies.get(7n), `error ${C.EINVAL}`);
});

// Random requests, checked against the spec's answer.

interface Req {
  type: number;
  flags: number;
  offset: number;
  length: number;
}

const reqArb: fc.Arbitrary<Req> = fc.record({
  type: fc.oneof(fc.constantFrom(C.CMD_READ, C.CMD_READ, C.CMD_READ, C.CMD_BLOCK_STATUS, C.CMD_CACHE, C.CMD_FLUSH, C.CMD_TRIM, C.CMD_WRITE_ZEROES, C.CMD_WRITE), fc.integer({ min: 8, max: 0xffff })),
  flags: fc.oneof(fc.constant(0), fc.constantFrom(C.FLAG_FUA, C.FLAG_DF, C.FLAG_REQ_ONE, C.FLAG_NO_HOLE, C.FLAG_FAST_ZERO), fc.integer({ min: 0, max: 0xffff })),
  offset: fc.oneof(fc.integer({ min: 0, max: SIZE }), fc.integer({ min: SIZE - 5000, max: SIZE + 5000 }), fc.constantFrom(2 ** 53 - 1, 2 ** 60, 2 ** 63)),
  length: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.constantFrom(0, 1, (32 << 20) + 1, 0xffffffff)),
});

/** What the spec makes a read-only export answer: an errno, or 0 for success. */
function expectedErrno(r: Req, structured: boolean, meta: boolean): number {
  const allowed: Record<number, number> = { 0: 1 | 4, 1: 1, 3: 1, 4: 1, 5: 1, 6: 1 | 2 | 16, 7: 1 | 8 };
  if (allowed[r.type] === undefined || (r.flags & ~allowed[r.type]!) !== 0) return C.EINVAL;
  const inside = r.offset + r.length <= SIZE;
  switch (r.type) {
    case C.CMD_READ:
      if (r.flags & C.FLAG_DF && !structured) return C.EINVAL;
      if (r.length > 32 << 20) return structured ? C.EOVERFLOW : C.EINVAL;
      return inside ? 0 : C.EINVAL;
    case C.CMD_WRITE:
    case C.CMD_TRIM:
    case C.CMD_WRITE_ZEROES:
      return C.EPERM;
    case C.CMD_CACHE:
      return inside ? 0 : C.EINVAL;
    case C.CMD_BLOCK_STATUS:
      return meta && inside && r.length > 0 ? 0 : C.EINVAL;
    default:
      return 0;
  }
}

function decodeDescriptors(hex: string): number[] {
  const b = Buffer.from(hex, 'hex');
  const out: number[] = [];
  for (let i = 4; i < b.length; i += 4) out.push(b.readUInt32BE(i));
  return out;
}

test('random requests get exactly the answers the spec asks for', T, async () => {
  await fc.assert(
    fc.asyncProperty(fc.boolean(), fc.boolean(), fc.array(reqArb, { minLength: 1, maxLength: 25 }), async (structured, meta, reqs) => {
      meta &&= structured;
      const steps: Step[] = [];
      if (structured) steps.push(option(C.OPT_STRUCTURED_REPLY));
      if (meta) steps.push(option(C.OPT_SET_META_CONTEXT, metaQuery('ro', ['base:allocation'])));
      steps.push(option(C.OPT_GO, goData('ro')));
      reqs.forEach((r, i) => {
        // Writes carry their payload, unless too long to bother: those stay last.
        const payload = r.type === C.CMD_WRITE && r.length <= 70_000 ? Buffer.alloc(r.length, 7) : undefined;
        if (r.type === C.CMD_WRITE && !payload) return;
        steps.push(request(r.type, r.offset, r.length, BigInt(i + 1), r.flags, payload));
      });
      steps.push(request(C.CMD_DISC, 0, 0, 0n));
      const x: Exchange = { clientFlags: 3, steps };
      const { out, closed } = await converse([encodeExchange(x)], { idleMs: 3000 });
      assert.ok(closed);
      const t = parseTranscript(x, out);
      assert.equal(t.trailing, 0);
      for (const s of steps) {
        if (s.kind !== 'request' || s.type === C.CMD_DISC) continue;
        const got = t.replies.get(s.cookie);
        assert.ok(got, `no reply to ${JSON.stringify({ ...s, cookie: String(s.cookie), payload: undefined })}`);
        const want = expectedErrno(s, structured, meta);
        const what = `${got} for type ${s.type} flags ${s.flags} at ${s.offset}+${s.length} (structured ${structured}, meta ${meta})`;
        if (want !== 0) {
          assert.ok(got === `simple ${want} ${digest(Buffer.alloc(0))}` || got === `error ${want}` || got === `read error ${want}`, `want errno ${want}: ${what}`);
        } else if (s.type === C.CMD_READ) {
          const data = digest(ro.data.subarray(s.offset, s.offset + s.length));
          assert.equal(got, structured ? `read ${data}` : `simple 0 ${data}`, what);
        } else if (s.type === C.CMD_BLOCK_STATUS) {
          const d = decodeDescriptors(got.split(' ')[2]!);
          const ext = layoutExtents(ro.layout, SIZE, s.offset, s.length).map((e) => [e.length, e.hole ? 3 : 0]).flat();
          assert.deepEqual(d, s.flags & C.FLAG_REQ_ONE ? ext.slice(0, 2) : ext, what);
        } else {
          assert.equal(got, `simple 0 ${digest(Buffer.alloc(0))}`, what);
        }
      }
    }),
    { seed: SEED, numRuns: 400 },
  );
});

// Damaged conversations and garbage, with a good client alongside.

type Mutation = { at: number; kind: 'flip' | 'truncate' | 'insert' | 'big'; value: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('flip', 'truncate', 'insert', 'big'),
  value: fc.nat({ max: 0xffffffff }),
});

function mutate(b: Buffer, muts: Mutation[]): Buffer {
  let out = Buffer.from(b);
  for (const m of muts) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'flip') out[at] = out[at]! ^ (1 + (m.value % 255));
    else if (m.kind === 'truncate') out = out.subarray(0, at);
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), Buffer.alloc(1 + (m.value % 40), m.value & 0xff), out.subarray(at)]);
    else if (at + 4 <= out.length) out.writeUInt32BE((m.value | 0x80000000) >>> 0, at); // a length or flag field gone wild
  }
  return out;
}

/** Bad conversations: damaged samples, pure garbage, and a few classics. */
const badArb: fc.Arbitrary<Buffer[]> = fc.oneof(
  fc
    .tuple(fc.nat({ max: 2 }), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 3 }))
    .map(([i, muts, cuts]) => {
      const b = mutate(encodeExchange(sampleExchanges('ro', 'rw', holeAt)[i]!), muts);
      const points = [...new Set(cuts.map((c) => (b.length ? c % b.length : 0)))].sort((p, q) => p - q);
      return [0, ...points].map((p, k, all) => b.subarray(p, all[k + 1] ?? b.length));
    }),
  fc.uint8Array({ minLength: 0, maxLength: 300 }).map((u) => [Buffer.from(u)]),
  fc.constantFrom<Buffer[]>(
    // A write that announces 32 MiB and sends 10 bytes, then leaves.
    [encodeExchange({ clientFlags: 3, steps: [option(C.OPT_GO, goData('rw')), request(C.CMD_WRITE, 0, 32 << 20, 1n, 0, Buffer.alloc(10))] })],
    // An option that announces 4 GiB of data.
    [Buffer.from('00000003494841564f505400000003ffffffff', 'hex')],
    // Requests before any handshake.
    [Buffer.alloc(400, 0x25)],
  ),
);

/** Reads random ranges and checks them until stopped; returns how many it checked. */
function goodClient(): { stop: () => Promise<number> } {
  let running = true;
  const done = (async () => {
    const c = await RawClient.connect({ port: h.port });
    await c.open('ro', { structured: true });
    const rnd = prng(99);
    let n = 0;
    while (running) {
      const off = Math.floor(rnd() * (SIZE - 100_000));
      const len = 1 + Math.floor(rnd() * 100_000);
      c.request(C.CMD_READ, off, len, { cookie: BigInt(n) });
      const r = await c.structuredRead(off, len);
      assert.equal(r.error, 0);
      assert.ok(r.data.equals(ro.data.subarray(off, off + len)), `good client read ${len} at ${off}`);
      n++;
    }
    c.close();
    return n;
  })();
  return {
    stop: async () => {
      running = false;
      return done;
    },
  };
}

test('damaged conversations and garbage end in answers or a close; a good client is unaffected', T, async () => {
  const good = goodClient();
  let closedByServer = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(badArb, { minLength: 8, maxLength: 8 }), async (batch) => {
      await Promise.all(
        batch.map(async (parts) => {
          const r = await converse(parts, { idleMs: 40 });
          if (r.closed) closedByServer++;
        }),
      );
    }),
    { seed: SEED + 1, numRuns: 60 },
  );
  const reads = await good.stop();
  assert.ok(reads > 20, `the good client made ${reads} reads meanwhile`);
  assert.ok(closedByServer > 50, `${closedByServer} connections closed by the server`);
  assert.ok(await until(() => h.server.stats.connections === 0, 3000), `${h.server.stats.connections} connections left`);
});

test('hundreds of bad clients leave heap and sockets where they were', T, async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
  const samples = fc.sample(badArb, { seed: SEED + 2, numRuns: 400 });
  const settle = async () => {
    assert.ok(await until(() => h.server.stats.connections === 0, 3000));
    await new Promise((r) => setTimeout(r, 50));
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const kinds = ['Connection', 'ByteQueue', 'Negotiation', 'Transmission', 'Socket'];
  await inBatches(samples.slice(0, 100), 25, async (p) => void (await converse(p, { idleMs: 30 })));
  const heap0 = await settle();
  const sockets0 = sockets();
  const objects0 = await countObjects(kinds);
  await inBatches(samples, 25, async (p) => void (await converse(p, { idleMs: 30 })));
  const heap1 = await settle();
  assert.ok(heap1 - heap0 < 2 << 20, `heap grew by ${((heap1 - heap0) / 1e6).toFixed(1)} MB`);
  assert.equal(sockets(), sockets0);
  assert.equal(h.server.stats.connections, 0);
  // Not one connection's objects survive it.
  assert.deepEqual(await countObjects(kinds), objects0);
});
