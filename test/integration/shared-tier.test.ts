// The shared cache tier against real servers: five Redis and two memcached
// instances, each behind a TCP gate that can make it look stopped or hung.
// The origin is a directory store; "origin down" is an empty one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { encodeChunk } from '../../src/chunk/codec.js';
import type { RecipeChunk } from '../../src/chunk/types.js';
import { LruKCache } from '../../src/cache/lru-k.js';
import { TieredChunkSource } from '../../src/cache/tiered-source.js';
import { SharedTier, type SharedTierOptions } from '../../src/cache/shared/shared-tier.js';
import { parseNodeList } from '../../src/cache/shared/node-url.js';
import { encodeFragments } from '../../src/cache/shared/fragments.js';
import { openWritableStore, type ChunkReader } from '../../src/store/index.js';
import { startRedis } from '../helpers/services/redis.js';
import { startMemcached } from '../helpers/services/memcached.js';
import { startRedisCluster } from '../helpers/services/redis-cluster.js';
import type { ServiceHandle } from '../helpers/services/service.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';

const LEN = 256 * 1024;
const MARKER = 'PLAINTEXT-MARKER-that-must-never-reach-the-cache-';

let work: string;
const services: ServiceHandle[] = [];
const redisGates: TcpGate[] = [];
const memcachedGates: TcpGate[] = [];
let origin: ChunkReader;
let emptyOrigin: ChunkReader;
const plains: Buffer[] = [];
const chunks: RecipeChunk[] = [];
const logged: string[] = [];

const portOf = (url: string) => Number(/:(\d+)$/.exec(url)![1]);
const redisUrls = (gates: TcpGate[]) => gates.map((g) => `redis://${g.host}:${g.port}`).join(',');

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'smr-shared-'));
  const redis = await Promise.all(Array.from({ length: 5 }, () => startRedis()));
  const memcached = await Promise.all(Array.from({ length: 2 }, () => startMemcached()));
  services.push(...redis, ...memcached);
  for (const r of redis) redisGates.push(await startTcpGate('127.0.0.1', portOf(r.env.REDIS_URL!)));
  for (const m of memcached) memcachedGates.push(await startTcpGate('127.0.0.1', portOf(m.env.MEMCACHED_SERVERS!)));
  const store = await openWritableStore(join(work, 'origin'));
  emptyOrigin = await openWritableStore(join(work, 'empty'));
  for (let i = 0; i < 24; i++) {
    // Half random (incompressible), half a readable marker (would show if stored in clear).
    const p = Buffer.concat([randomBytes(LEN / 2), Buffer.from(MARKER.repeat(Math.ceil(LEN / 2 / MARKER.length))).subarray(0, LEN / 2)]);
    const e = encodeChunk(p, { compression: 'zstd', encryption: i % 2 ? 'convergent-aes-256-ctr' : 'none' });
    await store.put(e.digest, e.stored);
    plains.push(p);
    chunks.push({ index: i, digest: e.digest, storedLength: e.stored.length, ...(e.key ? { key: e.key } : {}) });
  }
  origin = store;
}, { timeout: 600_000 });

after(async () => {
  for (const g of [...redisGates, ...memcachedGates]) await g.close();
  await Promise.all(services.map((s) => s.stop()));
  await rm(work, { recursive: true, force: true });
});

async function tier(list: string, extra: Partial<SharedTierOptions> = {}): Promise<SharedTier> {
  return SharedTier.open({ nodes: parseNodeList(list), timeoutMs: 2000, prefix: `t${randomPrefix}/`, log: (_l, m) => logged.push(m), ...extra });
}
let randomPrefix = '';

function source(store: ChunkReader, shared: SharedTier): TieredChunkSource {
  return new TieredChunkSource(store, { memory: new LruKCache<Buffer>({ maxBytes: 1 }), tiers: [shared] });
}

async function readAll(src: TieredChunkSource, which = chunks): Promise<void> {
  for (const c of which) assert.ok((await src.get(c, LEN)).equals(plains[c.index]!), `chunk ${c.index}`);
}

/** Fills the shared tier through a worker that reads everything from the origin. */
async function fill(list: string, extra: Partial<SharedTierOptions> = {}): Promise<void> {
  const t = await tier(list, extra);
  const src = source(origin, t);
  await readAll(src);
  await t.idle();
  assert.equal(t.stats.fills.done, chunks.length);
  assert.equal(src.stats.tiers.origin!.hits, chunks.length);
  await t.close();
}

/** A second worker, with the origin gone, reads every chunk from the shared tier alone. */
async function readBackWithoutOrigin(list: string): Promise<SharedTier> {
  const t = await tier(list);
  try {
    const src = source(emptyOrigin, t);
    await readAll(src);
    assert.equal(src.stats.tiers.shared!.hits, chunks.length);
    assert.equal(src.stats.tiers.origin!.hits, 0);
  } finally {
    await t.close();
  }
  return t;
}

describe('shared tier', () => {
  it('round trip through Redis (whole chunks): a second worker reads everything with the origin gone', async () => {
    randomPrefix = 'rt';
    const list = redisUrls(redisGates.slice(0, 2));
    await fill(list);
    assert.equal((await readBackWithoutOrigin(list)).stats.code, '1+0');
  });

  it('round trip through memcached', async () => {
    randomPrefix = 'mc';
    const list = memcachedGates.map((g) => `memcached://${g.host}:${g.port}`).join(',');
    await fill(list);
    await readBackWithoutOrigin(list);
  });

  it('4+1 over five Redis: any one node stopped costs nothing; two stopped with the origin down is a clear error', async () => {
    randomPrefix = 'ec';
    const list = redisUrls(redisGates);
    await fill(list);
    for (let down = 0; down < 5; down++) {
      redisGates[down]!.set('down');
      const t = await tier(list);
      assert.equal(t.stats.code, '4+1');
      const src = source(emptyOrigin, t);
      await readAll(src);
      assert.equal(src.stats.tiers.shared!.hits, chunks.length, `node ${down} stopped`);
      assert.ok(t.stats.parityRepairs > 0, 'some chunks had a data fragment on the stopped node');
      assert.equal(Object.values(t.stats.nodes)[down]!.state, 'down');
      await t.close();
      redisGates[down]!.set('pass');
    }
    redisGates[1]!.set('down');
    redisGates[3]!.set('down');
    try {
      const t = await tier(list);
      const src = source(emptyOrigin, t);
      let failed = 0;
      for (const c of chunks) await src.get(c, LEN).catch((e: Error) => (failed++, assert.match(e.message, new RegExp(`chunk ${c.index} `))));
      assert.ok(failed > 0, 'chunks with fragments on both stopped nodes fail');
      await t.close();
    } finally {
      redisGates[1]!.set('pass');
      redisGates[3]!.set('pass');
    }
  });

  it('bad values are caught: damaged, short, foreign and forged fragments never give a wrong byte', async () => {
    randomPrefix = 'bad';
    const list = redisUrls(redisGates);
    await fill(list);
    const t0 = await tier(list);
    const keys: string[] = [];
    const direct = redisGates.map((g) => new Redis({ host: g.host, port: g.port }));
    try {
      // Find where fragment 0 of chunks 0..3 lives by scanning every node.
      const where = async (digest: string, index: number) => {
        for (const r of direct) if ((await r.exists(`tbad/${digest}/4+1/${index}`)) === 1) return r;
        throw new Error('fragment not found');
      };
      const key = (c: RecipeChunk, i: number) => `tbad/${c.digest}/4+1/${i}`;
      // 0: one byte of the payload flipped (the CRC catches it, parity repairs).
      let r = await where(chunks[0]!.digest, 0);
      const v = (await r.getBuffer(key(chunks[0]!, 0)))!;
      v[v.length - 1]! ^= 1;
      await r.set(key(chunks[0]!, 0), v);
      // 1: a value cut short.
      r = await where(chunks[1]!.digest, 2);
      await r.set(key(chunks[1]!, 2), Buffer.from('short'));
      // 2: another chunk's fragment under this key (the header names the other chunk).
      r = await where(chunks[2]!.digest, 1);
      await r.set(key(chunks[2]!, 1), encodeFragments(chunks[3]!.digest, randomBytes(1000), { k: 4, m: 1 })[1]!);
      // 3: forged fragments with a right header and CRC but wrong bytes: only the digest can tell.
      // Two of the five are forged, so whichever four answer first include a forgery (with one,
      // the read could finish on the four honest ones and never see it).
      const forged = encodeFragments(chunks[4]!.digest, randomBytes(chunks[4]!.storedLength), { k: 4, m: 1 });
      for (const i of [0, 1]) {
        r = await where(chunks[4]!.digest, i);
        await r.set(key(chunks[4]!, i), forged[i]!);
        keys.push(key(chunks[4]!, i));
      }
      const src = source(origin, t0);
      await readAll(src, chunks.slice(0, 5));
      // A read ends on the first four good fragments; wait for the fifth answers too, so
      // every bad value has been seen and counted.
      await t0.idle();
      assert.equal(src.stats.tiers.shared!.hits, 4, 'three repaired from parity, one clean');
      assert.equal(src.stats.tiers.shared!.corrupt, 1, 'the forgery failed the digest');
      assert.equal(t0.stats.digestFailures, 1);
      assert.equal(src.stats.tiers.origin!.hits, 1);
      const bad = Object.values(t0.stats.nodes).reduce((n, s) => n + s.badValues, 0);
      assert.equal(bad, 3);
      assert.ok(logged.some((m) => /bad fragment \(crc\)/.test(m)));
      assert.ok(logged.some((m) => /bad fragment \(short\)/.test(m)));
      assert.ok(logged.some((m) => /bad fragment \(chunk\)/.test(m)));
      // The origin's copy overwrote the forgeries (its fill was awaited by idle() above).
      for (const i of [0, 1]) {
        r = await where(chunks[4]!.digest, i);
        assert.ok(!(await r.getBuffer(keys[i]!))!.equals(forged[i]!), `fragment ${i} rewritten`);
      }
    } finally {
      direct.forEach((d) => d.disconnect());
      await t0.close();
    }
  });

  it('encrypted chunks leave no plaintext in Redis', async () => {
    const marker = Buffer.from(MARKER);
    const encrypted = new Set(chunks.filter((c) => c.key).map((c) => c.digest));
    const direct = redisGates.map((g) => new Redis({ host: g.host, port: g.port }));
    try {
      let values = 0;
      for (const r of direct) {
        for (const k of await r.keys('t*')) {
          if (!encrypted.has(k.split('/')[1]!)) continue; // compressed only: its literals may show
          if (k.endsWith('/claim')) continue;
          const v = (await r.getBuffer(k))!;
          values++;
          assert.ok(!v.includes(marker), `${k} holds plaintext`);
        }
      }
      assert.ok(values >= (chunks.length / 2) * 5, `${values} values scanned`);
    } finally {
      direct.forEach((d) => d.disconnect());
    }
  });

  it('a node that hangs forever times out, is marked down and skipped; reads stay right', async () => {
    randomPrefix = 'ec'; // filled above
    const list = redisUrls(redisGates);
    const t = await tier(list, { timeoutMs: 1000, retryMs: 60_000 });
    redisGates[2]!.set('hang');
    try {
      const src = source(emptyOrigin, t);
      await readAll(src);
      await t.idle(); // the requests to the hung node end by their timeout
      const node = Object.values(t.stats.nodes)[2]!;
      assert.equal(node.state, 'down');
      assert.ok(node.timeouts >= 1);
      const before = node.requests;
      await readAll(source(emptyOrigin, t));
      assert.equal(Object.values(t.stats.nodes)[2]!.requests, before, 'skipped until the re-probe');
      assert.ok(logged.some((m) => /marked down \(no answer within 1000 ms\)/.test(m)));
    } finally {
      redisGates[2]!.set('pass');
      await t.close();
    }
  });

  it('two cold workers wanting the same chunks fetch each from the origin once (claims)', async () => {
    randomPrefix = 'claim';
    const list = redisUrls(redisGates);
    const gets = new Map<string, number>();
    const counting: ChunkReader = Object.assign(Object.create(origin) as ChunkReader, {
      get: async (name: string) => {
        gets.set(name, (gets.get(name) ?? 0) + 1);
        return origin.get(name);
      },
    });
    const [a, b] = await Promise.all([tier(list, { claimWaitMs: 60_000 }), tier(list, { claimWaitMs: 60_000 })]);
    try {
      await Promise.all([readAll(source(counting, a)), readAll(source(counting, b))]);
      assert.deepEqual([...gets.values()].filter((n) => n > 1), [], 'no chunk fetched twice');
      assert.equal(gets.size, chunks.length);
      assert.ok(a.stats.claimWaits + b.stats.claimWaits > 0, 'one worker waited for the other');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('nodes that are not what their URL says, or nothing at all: counted, origin serves', async () => {
    randomPrefix = 'wrong';
    const m = memcachedGates[0]!;
    const r = redisGates[0]!;
    const list = `redis://${m.host}:${m.port},memcached://${r.host}:${r.port},redis://127.0.0.1:1`;
    const t = await tier(list, { timeoutMs: 500 });
    try {
      const src = source(origin, t);
      await readAll(src);
      await t.idle();
      assert.equal(src.stats.tiers.origin!.hits, chunks.length);
      assert.equal(src.stats.tiers.shared!.hits, 0);
      for (const s of Object.values(t.stats.nodes)) assert.ok(s.errors + s.timeouts > 0 && s.state === 'down', JSON.stringify(s));
    } finally {
      await t.close();
    }
  });
});

describe('Redis Cluster', () => {
  it('three masters through the client: chunks spread over the slots, read back with the origin gone', async () => {
    randomPrefix = 'cl';
    const cluster = await startRedisCluster(3);
    try {
      const list = `redis-cluster://${cluster.nodes.join(',')}`;
      await fill(list);
      await readBackWithoutOrigin(list);
      // Each master holds some of the keys: the client followed the slots.
      for (const n of cluster.nodes) {
        const [host, port] = n.split(':');
        const r = new Redis({ host, port: Number(port) });
        try {
          assert.ok((await r.dbsize()) > 0, `${n} holds keys`);
        } finally {
          r.disconnect();
        }
      }
    } finally {
      await cluster.stop();
    }
  });
});

describe('node list', () => {
  it('bad URLs are one-line usage errors', () => {
    for (const bad of ['redis:/x', 'http://a:1', 'redis://a:99999', 'redis://a b', 'redis://a:1,redis://a:1', 'redis-cluster://']) {
      assert.throws(() => parseNodeList(bad), (e: Error & { code?: string }) => e.code === 'USAGE' && !e.message.includes('\n'), bad);
    }
    assert.deepEqual(parseNodeList('redis://h,memcached://[::1]:5').map((s) => s.id), ['redis://h:6379', 'memcached://::1:5']);
    const c = parseNodeList('redis-cluster://a:1,b:2');
    assert.equal(c.length, 1);
    assert.equal(c[0]!.kind, 'redis-cluster');
  });
});
