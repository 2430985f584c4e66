// The metrics endpoint: Prometheus text at /metrics with the families the
// dashboards need, its counters read from the same stats --stats-out writes.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeChunk } from '../../src/chunk/codec.js';
import type { RecipeChunk } from '../../src/chunk/types.js';
import { DiskCache } from '../../src/cache/disk-cache.js';
import { LruKCache } from '../../src/cache/lru-k.js';
import { TieredChunkSource } from '../../src/cache/tiered-source.js';
import { createServeMetrics } from '../../src/metrics/serve-metrics.js';
import { startMetricsServer } from '../../src/metrics/metrics-server.js';
import { NbdServer } from '../../src/nbd/index.js';
import { openWritableStore } from '../../src/store/index.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'smr-metrics-'));
});
after(async () => rm(work, { recursive: true, force: true }));

/** name{labels} value, for the samples of a scrape. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

it('serves the families, and its counters are the stats', async () => {
  const store = await openWritableStore(join(work, 'store'));
  const chunks: RecipeChunk[] = [];
  for (let i = 0; i < 4; i++) {
    const e = encodeChunk(randomBytes(4096), { compression: 'zstd', encryption: 'none' });
    await store.put(e.digest, e.stored);
    chunks.push({ index: i, digest: e.digest, storedLength: e.stored.length });
  }
  const metrics = createServeMetrics();
  const memory = new LruKCache<Buffer>({ maxBytes: 1 << 20 });
  const disk = await DiskCache.open(join(work, 'disk'), 1 << 20);
  const source = new TieredChunkSource(store, { memory, disk, observe: metrics.observe });
  const nbd = new NbdServer({ exports: [] });
  metrics.bind({ source, memory, disk, nbd: nbd.stats });
  for (const c of [...chunks, ...chunks]) await source.get(c, 4096);
  await disk.idle();
  const server = await startMetricsServer('127.0.0.1:0', metrics.registry);
  try {
    const res = await fetch(`http://${server.address}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    for (const family of ['smr_tier_hits_total', 'smr_tier_misses_total', 'smr_tier_bytes_total', 'smr_tier_latency_seconds', 'smr_nbd_requests_in_flight', 'smr_nbd_connections', 'smr_cache_bytes', 'smr_origin_requests_total', 'smr_shared_node_up']) {
      assert.ok(text.includes(`# TYPE ${family} `), family);
    }
    const s = samples(text);
    assert.equal(s.get('smr_tier_hits_total{tier="memory"}'), source.stats.memoryHits);
    assert.equal(s.get('smr_tier_hits_total{tier="memory"}'), 4);
    assert.equal(s.get('smr_tier_misses_total{tier="disk"}'), 4);
    assert.equal(s.get('smr_tier_hits_total{tier="origin"}'), source.stats.originFetches);
    assert.equal(s.get('smr_tier_bytes_total{tier="origin"}'), source.stats.originBytes);
    assert.equal(s.get('smr_tier_latency_seconds_count{tier="origin",outcome="hit"}'), 4);
    assert.equal(s.get('smr_cache_entries{tier="disk"}'), 4);
    assert.equal(s.get('smr_cache_bytes{tier="memory"}'), memory.usedBytes);
    assert.equal((await fetch(`http://${server.address}/other`)).status, 404);
  } finally {
    await server.close();
  }
});
