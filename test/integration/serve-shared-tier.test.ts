// smr serve with --cache-shared on five real Redis servers (each behind a TCP
// gate that can make it look stopped) and --metrics: workers share the tier,
// a worker whose origin is gone reads whole images from it, one node down
// costs nothing, two down with no origin is EIO (not a hang), encrypted
// recipes put no plaintext into Redis, and the scrape matches --stats-out.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { ensurePeers, nbdUri, peer } from '../helpers/nbd-peers.js';
import { run, smr } from '../helpers/run.js';
import { readStats, startServe } from '../helpers/smr-serve.js';
import { startRedis } from '../helpers/services/redis.js';
import type { ServiceHandle } from '../helpers/services/service.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';

const skip = skipWithoutFixtures() || ensurePeers(['nbdcopy', 'qemu-io']);

describe('smr serve --cache-shared', { skip }, () => {
  let work: string;
  let store: string;
  let image: Buffer;
  const services: ServiceHandle[] = [];
  const gates: TcpGate[] = [];
  const nodes = () => gates.map((g) => `redis://${g.host}:${g.port}`).join(',');
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-serve-shared-'));
    store = join(work, 'store');
    await writeFile(join(work, 'key'), Buffer.alloc(32, 7), { mode: 0o600 });
    for (const args of [
      ['build', `oci:${fixtureLayout('python3')}`, '-o', join(work, 'python3.img'), '-q'],
      ['convert', `oci:${fixtureLayout('python3')}`, '--store', store, '-o', join(work, 'python3.recipe'), '-q'],
      ['convert', `oci:${fixtureLayout('python3')}`, '--store', join(work, 'enc-store'), '--encrypt', '--key-file', join(work, 'key'), '-o', join(work, 'enc.recipe'), '-q'],
    ]) {
      const r = await smr(args);
      assert.equal(r.code, 0, r.stderr);
    }
    image = await readFile(join(work, 'python3.img'));
    for (let i = 0; i < 5; i++) {
      const s = await startRedis();
      services.push(s);
      gates.push(await startTcpGate('127.0.0.1', Number(/:(\d+)$/.exec(s.env.REDIS_URL!)![1])));
    }
  }, { timeout: 600_000 });

  after(async () => {
    for (const g of gates) await g.close();
    await Promise.all(services.map((s) => s.stop()));
    await rm(work, { recursive: true, force: true });
  });

  /** Serves a recipe, copies the whole export out with nbdcopy, returns the copy and the counters. */
  async function copyThrough(recipe: string, storeDir: string, extra: string[] = []): Promise<{ copy: Buffer; stats: any; stderr: string }> {
    const statsOut = join(work, 'stats.json');
    const s = await startServe([recipe, '--store', storeDir, '--cache-shared', nodes(), '--shared-timeout', '2000', '--stats-out', statsOut, ...extra]);
    try {
      const out = join(work, 'copy.img');
      await peer('nbdcopy', [nbdUri(s.port, recipe.endsWith('enc.recipe') ? 'enc' : 'python3'), out]);
      const copy = await readFile(out);
      await rm(out);
      assert.equal(await s.stop(), 0, s.stderr());
      return { copy, stats: await readStats(statsOut), stderr: s.stderr() };
    } finally {
      await s.kill();
    }
  }

  it('a chunk one worker fetched from the origin is a shared hit for the next, even with the origin gone', async () => {
    const first = await copyThrough(join(work, 'python3.recipe'), store);
    assert.equal(sha(first.copy), sha(image));
    const chunks = first.stats.cache.tiers.origin.hits;
    assert.ok(chunks > 10);
    assert.equal(first.stats.shared.fills.done + first.stats.shared.fills.dropped, chunks);
    // The second worker's store is an empty directory: the origin is down.
    const second = await copyThrough(join(work, 'python3.recipe'), join(work, 'no-store'));
    assert.equal(sha(second.copy), sha(image));
    assert.equal(second.stats.cache.tiers.origin.hits, 0);
    assert.equal(second.stats.cache.tiers.shared.hits, first.stats.shared.fills.done);
  });

  for (const down of [0, 4]) {
    it(`4+1 with node ${down} stopped: the whole image from the shared tier alone`, async () => {
      gates[down]!.set('down');
      try {
        const r = await copyThrough(join(work, 'python3.recipe'), join(work, 'no-store'));
        assert.equal(sha(r.copy), sha(image));
        assert.equal(r.stats.cache.tiers.origin.hits, 0);
        assert.equal(r.stats.shared.code, '4+1');
        assert.match(r.stderr, /marked down/);
      } finally {
        gates[down]!.set('pass');
      }
    });
  }

  it('two nodes stopped and the origin down: reads fail with EIO at once, the log says why', async () => {
    gates[1]!.set('down');
    gates[2]!.set('down');
    const s = await startServe([join(work, 'python3.recipe'), '--store', join(work, 'no-store'), '--cache-shared', nodes()]);
    try {
      const bad = await run('qemu-io', ['-r', '-f', 'raw', '-c', 'read 0 64M', nbdUri(s.port, 'python3')]);
      assert.match(bad.stdout + bad.stderr, /Input\/output error/);
      assert.match(s.stderr(), /chunk \d+ \([0-9a-f]{64}\): /);
      assert.match(s.stderr(), /marked down/);
    } finally {
      gates[1]!.set('pass');
      gates[2]!.set('pass');
      await s.stop();
    }
  });

  it('encrypted recipes put only ciphertext into Redis', async () => {
    const r = await copyThrough(join(work, 'enc.recipe'), join(work, 'enc-store'), ['--key-file', join(work, 'key'), '--shared-prefix', 'enc/']);
    assert.equal(sha(r.copy), sha(image));
    // 64-byte windows of the image's non-zero data must appear in no value.
    const windows: Buffer[] = [];
    for (let off = 0; off + 64 <= image.length && windows.length < 400; off += 65_536 + 64) {
      const w = image.subarray(off, off + 64);
      if (w.some((b) => b !== 0) && new Set(w).size > 8) windows.push(w);
    }
    assert.ok(windows.length > 50);
    let values = 0;
    for (const g of gates) {
      const c = new Redis({ host: g.host, port: g.port });
      try {
        for (const k of await c.keys('enc/*')) {
          if (k.endsWith('/claim')) continue; // a worker's short-lived claim on fetching a chunk
          const v = await c.getBuffer(k);
          if (v === null) continue;
          values++;
          for (const w of windows) assert.ok(!v.includes(w), `${k} holds plaintext`);
        }
      } finally {
        c.disconnect();
      }
    }
    assert.ok(values >= r.stats.shared.fills.done * 5);
  });

  it('--metrics serves the families, and its counters match --stats-out', async () => {
    const statsOut = join(work, 'metrics-stats.json');
    const s = await startServe([join(work, 'python3.recipe'), '--store', store, '--cache-shared', nodes(), '--shared-timeout', '2000', '--metrics', '127.0.0.1:0', '--stats-out', statsOut, '--cache-mem', '16M']);
    try {
      await peer('qemu-io', ['-r', '-f', 'raw', '-c', 'read 0 32M', '-c', 'read 0 4M', nbdUri(s.port, 'python3')]);
      const where = /metrics at (http:\/\/\S+\/metrics)/.exec(s.stderr());
      assert.ok(where, s.stderr());
      const text = await (await fetch(where[1]!)).text();
      assert.equal(await s.stop(), 0);
      const stats = await readStats(statsOut);
      const sample = (name: string) => {
        const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
        assert.ok(m, `${name} in the scrape`);
        return Number(m[1]);
      };
      for (const tier of ['disk', 'shared', 'origin'].filter((t) => stats.cache.tiers[t])) {
        assert.equal(sample(`smr_tier_hits_total{tier="${tier}"}`), stats.cache.tiers[tier].hits, tier);
        assert.equal(sample(`smr_tier_misses_total{tier="${tier}"}`), stats.cache.tiers[tier].misses, tier);
        assert.equal(sample(`smr_tier_bytes_total{tier="${tier}"}`), stats.cache.tiers[tier].bytes, tier);
      }
      assert.equal(sample('smr_tier_hits_total{tier="memory"}'), stats.cache.memoryHits);
      assert.equal(sample('smr_nbd_requests_total{command="READ"}'), stats.server.byCommand.READ);
      assert.equal(sample('smr_nbd_read_bytes_total'), stats.server.bytesRead);
      assert.equal(sample('smr_shared_fragments_decoded_total'), stats.shared.fragmentsDecoded);
      for (const family of ['smr_tier_latency_seconds', 'smr_shared_node_up', 'smr_shared_fills_total', 'smr_shared_digest_failures_total', 'smr_nbd_connections', 'smr_nbd_requests_in_flight', 'smr_cache_bytes', 'smr_origin_retries_total']) {
        assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'));
      }
    } finally {
      await s.kill();
    }
  });

  it('bad --cache-shared input is a one-line usage error', async () => {
    for (const args of [['--cache-shared', 'http://x:1'], ['--cache-shared', 'redis://a:1', '--shared-ec', '4+1'], ['--cache-shared', nodes(), '--shared-ec', '3+2'], ['--shared-timeout', '5'], ['--metrics', 'nope']]) {
      const r = await smr(['serve', join(work, 'python3.recipe'), '--store', store, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
