// bench/shared-tier: read latency of the shared cache tier on loopback, per
// layout: whole chunks on one node, and 4+1 over five nodes (also with one of
// the five hung), on Redis and on memcached. Chunks are 512 KiB plaintexts,
// half random, zstd-compressed as convert stores them. Not a test: it prints
// p50/p99 of the tier's answer per chunk (fetch + reassembly, before the
// digest check) and of the whole verified, decoded read. A read the tier
// cannot answer within --shared-timeout (20 ms) goes to an in-memory origin
// and is counted as a miss.
// Usage: node dist/bench/shared-tier.js [CHUNKS] [ROUNDS]
import { randomBytes } from 'node:crypto';
import { encodeChunk } from '../src/chunk/codec.js';
import type { RecipeChunk } from '../src/chunk/types.js';
import { LruKCache } from '../src/cache/lru-k.js';
import { TieredChunkSource } from '../src/cache/tiered-source.js';
import { parseNodeList } from '../src/cache/shared/node-url.js';
import { SharedTier } from '../src/cache/shared/shared-tier.js';
import type { ChunkReader } from '../src/store/index.js';
import { startMemcached } from '../test/helpers/services/memcached.js';
import { startRedis } from '../test/helpers/services/redis.js';
import type { ServiceHandle } from '../test/helpers/services/service.js';
import { startTcpGate, type TcpGate } from '../test/helpers/tcp-gate.js';

const CHUNKS = Number(process.argv[2] ?? 200);
const ROUNDS = Number(process.argv[3] ?? 3);
const LEN = 512 * 1024;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (ms: number) => `${ms.toFixed(3)} ms`;

async function main(): Promise<void> {
  const services: ServiceHandle[] = [];
  const gates: TcpGate[] = [];
  try {
    const redis = await Promise.all(Array.from({ length: 5 }, () => startRedis()));
    const memcached = await Promise.all(Array.from({ length: 5 }, () => startMemcached()));
    services.push(...redis, ...memcached);
    const port = (s: ServiceHandle) => Number(/:(\d+)$/.exec(s.env.REDIS_URL ?? s.env.MEMCACHED_SERVERS!)![1]);
    // Direct for speed, except the node that gets hung goes through a gate.
    const hangGate = await startTcpGate('127.0.0.1', port(redis[4]!));
    gates.push(hangGate);
    const redisUrls = [...redis.slice(0, 4).map((s) => `redis://127.0.0.1:${port(s)}`), `redis://127.0.0.1:${hangGate.port}`];
    const mcUrls = memcached.map((s) => `memcached://127.0.0.1:${port(s)}`);

    const stored = new Map<string, Buffer>();
    const chunks: RecipeChunk[] = [];
    for (let i = 0; i < CHUNKS; i++) {
      const e = encodeChunk(Buffer.concat([randomBytes(LEN / 2), Buffer.alloc(LEN / 2, i)]), { compression: 'zstd', encryption: 'none' });
      stored.set(e.digest, e.stored);
      chunks.push({ index: i, digest: e.digest, storedLength: e.stored.length });
    }
    const origin: ChunkReader = { description: 'memory', async has(n) { return stored.has(n); }, async get(n) { return stored.get(n)!; } } as ChunkReader;

    const layouts: Array<{ name: string; urls: string[]; hang?: boolean }> = [
      { name: 'redis 1+0 (1 node)', urls: redisUrls.slice(0, 1) },
      { name: 'redis 4+1 (5 nodes)', urls: redisUrls },
      { name: 'redis 4+1, one node hung', urls: redisUrls, hang: true },
      { name: 'memcached 1+0 (1 node)', urls: mcUrls.slice(0, 1) },
      { name: 'memcached 4+1 (5 nodes)', urls: mcUrls },
    ];
    for (const l of layouts) {
      const list = l.urls.join(',');
      const filler = await SharedTier.open({ nodes: parseNodeList(list), timeoutMs: 1000, prefix: 'bench/', log: () => {} });
      const fill = new TieredChunkSource(origin, { memory: new LruKCache<Buffer>({ maxBytes: 1 }), tiers: [filler] });
      for (const c of chunks) await fill.get(c, LEN);
      await filler.close();
      if (l.hang) hangGate.set('hang');
      const tierMs: number[] = [];
      const readMs: number[] = [];
      const t = await SharedTier.open({ nodes: parseNodeList(list), timeoutMs: 20, retryMs: 1000, prefix: 'bench/', log: () => {} });
      const src = new TieredChunkSource(origin, {
        memory: new LruKCache<Buffer>({ maxBytes: 1 }),
        tiers: [t],
        observe: (tier, outcome, ms) => {
          if (tier === 'shared' && outcome === 'hit') tierMs.push(ms);
        },
      });
      for (let r = 0; r < ROUNDS; r++) {
        for (const c of chunks) {
          const t0 = performance.now();
          await src.get(c, LEN);
          readMs.push(performance.now() - t0);
        }
      }
      await t.close();
      hangGate.set('pass');
      console.log(`${l.name.padEnd(26)} tier p50 ${fmt(pct(tierMs, 50))} p99 ${fmt(pct(tierMs, 99))}   verified read p50 ${fmt(pct(readMs, 50))} p99 ${fmt(pct(readMs, 99))}   (${tierMs.length} hits, ${src.stats.tiers.origin!.hits} misses to the origin, ${t.stats.parityRepairs} parity repairs, ${Object.values(t.stats.nodes).reduce((n, x) => n + x.timeouts + x.errors, 0)} node timeouts or errors)`);
    }
  } finally {
    for (const g of gates) await g.close();
    await Promise.all(services.map((s) => s.stop()));
  }
}

await main();
