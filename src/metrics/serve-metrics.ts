// Prometheus metrics of a serve session. Counters are read at scrape time
// from the same stats objects that --stats-out writes, so the two always
// agree; only latencies are observed as they happen (histograms).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TieredChunkSource } from '../cache/tiered-source.js';
import type { LruKCache } from '../cache/lru-k.js';
import type { DiskCache } from '../cache/disk-cache.js';
import type { SharedTier } from '../cache/shared/shared-tier.js';
import type { TierObserver } from '../cache/tier.js';
import type { NbdServerStats } from '../nbd/server.js';
import type { RemoteReadStats } from '../store/remote/remote-reader.js';

export interface MetricSources {
  source: TieredChunkSource;
  memory: LruKCache<Buffer>;
  disk?: DiskCache;
  shared?: SharedTier;
  nbd: NbdServerStats;
  /** The origin's request counters, when it is a remote store. */
  origin?: RemoteReadStats;
}

export interface ServeMetrics {
  registry: Registry;
  /** Give to the tiered source: per-tier latency. */
  observe: TierObserver;
  /** Where the counters are read from at scrape time. */
  bind(sources: MetricSources): void;
}

// Loopback shared hits take well under a millisecond; origins tens of ms.
const LATENCY_BUCKETS = [0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5];

export function createServeMetrics(): ServeMetrics {
  const registry = new Registry();
  let src: MetricSources | null = null;

  type Values = Array<[Record<string, string>, number]>;
  /** A metric whose values are read from the stats when scraped. */
  const readAtScrape = (set: (m: Counter | Gauge, labels: Record<string, string>, v: number) => void) => (name: string, help: string, labelNames: string[], read: (s: MetricSources) => Values) => {
    const Kind = set === setCounter ? Counter : Gauge;
    return new Kind({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        if (!src) return;
        this.reset();
        for (const [labels, v] of read(src)) set(this, labels, v);
      },
    });
  };
  const setCounter = (m: Counter | Gauge, labels: Record<string, string>, v: number) => (m as Counter).inc(labels, v);
  const counter = readAtScrape(setCounter);
  const gauge = readAtScrape((m, labels, v) => (m as Gauge).set(labels, v));

  const tiers = (s: MetricSources, field: 'hits' | 'misses' | 'errors' | 'corrupt' | 'bytes') =>
    Object.entries(s.source.stats.tiers).map(([tier, c]): [Record<string, string>, number] => [{ tier }, c[field]]);
  counter('smr_tier_hits_total', 'Chunks found (and verified) in a tier', ['tier'], (s) => [[{ tier: 'memory' }, s.source.stats.memoryHits], ...tiers(s, 'hits')]);
  counter('smr_tier_misses_total', 'Chunks a tier did not have', ['tier'], (s) => [[{ tier: 'memory' }, s.source.stats.memoryMisses], ...tiers(s, 'misses')]);
  counter('smr_tier_errors_total', 'Failed requests to a tier', ['tier'], (s) => tiers(s, 'errors'));
  counter('smr_tier_digest_failures_total', 'Chunks from a tier that failed their digest (bypassed)', ['tier'], (s) => tiers(s, 'corrupt'));
  counter('smr_tier_bytes_total', 'Stored bytes of the chunks a tier gave', ['tier'], (s) => tiers(s, 'bytes'));
  counter('smr_chunk_read_failures_total', 'Chunks no tier could give', [], (s) => [[{}, s.source.stats.errors]]);
  const latency = new Histogram({ name: 'smr_tier_latency_seconds', help: 'Time a tier took to answer for one chunk', labelNames: ['tier', 'outcome'], buckets: LATENCY_BUCKETS, registers: [registry] });

  const origin = (f: keyof RemoteReadStats) => (s: MetricSources): Values => (s.origin ? [[{}, s.origin[f]]] : []);
  counter('smr_origin_requests_total', 'Requests to the remote origin store', [], origin('requests'));
  counter('smr_origin_retries_total', 'Retried origin requests', [], origin('retries'));
  counter('smr_origin_hedges_total', 'Hedged (duplicate) origin requests sent', [], origin('hedges'));
  counter('smr_origin_hedge_wins_total', 'Hedged requests that answered first', [], origin('hedgeWins'));
  counter('smr_origin_timeouts_total', 'Origin requests that timed out', [], origin('timeouts'));
  counter('smr_origin_corrupt_total', 'Origin answers that failed their digest', [], origin('corrupt'));

  const nodes = (s: MetricSources) => Object.entries(s.shared?.stats.nodes ?? {});
  gauge('smr_shared_node_up', 'Shared-tier node state (1 up, 0 marked down)', ['node'], (s) => nodes(s).map(([node, n]) => [{ node }, n.state === 'up' ? 1 : 0]));
  counter('smr_shared_node_requests_total', 'Requests sent to a shared-tier node', ['node'], (s) => nodes(s).map(([node, n]) => [{ node }, n.requests]));
  counter('smr_shared_node_errors_total', 'Failed requests to a shared-tier node', ['node', 'kind'], (s) =>
    nodes(s).flatMap(([node, n]): Values => [
      [{ node, kind: 'error' }, n.errors],
      [{ node, kind: 'timeout' }, n.timeouts],
      [{ node, kind: 'bad_value' }, n.badValues],
    ]),
  );
  const shared = (read: (t: SharedTier) => number) => (s: MetricSources): Values => (s.shared ? [[{}, read(s.shared)]] : []);
  counter('smr_shared_fragments_decoded_total', 'Fragments shared-tier hits were decoded from', [], shared((t) => t.stats.fragmentsDecoded));
  counter('smr_shared_parity_repairs_total', 'Shared-tier hits that rebuilt a fragment from parity', [], shared((t) => t.stats.parityRepairs));
  counter('smr_shared_digest_failures_total', 'Reassembled shared-tier chunks that failed their digest', [], shared((t) => t.stats.digestFailures));
  counter('smr_shared_fills_total', 'Background writes into the shared tier, by result', ['result'], (s) => {
    const f = s.shared?.stats.fills;
    return f ? [[{ result: 'done' }, f.done], [{ result: 'dropped' }, f.dropped], [{ result: 'failed' }, f.failed]] : [];
  });

  counter('smr_nbd_requests_total', 'NBD requests by command', ['command'], (s) => Object.entries(s.nbd.byCommand).map(([command, n]) => [{ command }, n]));
  counter('smr_nbd_read_bytes_total', 'Bytes returned by NBD reads', [], (s) => [[{}, s.nbd.bytesRead]]);
  counter('smr_nbd_errors_total', 'NBD requests answered with an error, and connections dropped for protocol errors', [], (s) => [[{}, s.nbd.errors]]);
  gauge('smr_nbd_requests_in_flight', 'NBD requests being served', [], (s) => [[{}, s.nbd.inFlight]]);
  gauge('smr_nbd_connections', 'Open NBD connections', [], (s) => [[{}, s.nbd.connections]]);
  counter('smr_nbd_connections_accepted_total', 'NBD connections accepted', [], (s) => [[{}, s.nbd.accepted]]);

  gauge('smr_cache_bytes', 'Bytes held by a local cache', ['tier'], (s) => [[{ tier: 'memory' }, s.memory.usedBytes], ...(s.disk ? [[{ tier: 'disk' }, s.disk.stats.bytes] as [Record<string, string>, number]] : [])]);
  gauge('smr_cache_entries', 'Chunks held by a local cache', ['tier'], (s) => [[{ tier: 'memory' }, s.memory.size], ...(s.disk ? [[{ tier: 'disk' }, s.disk.stats.entries] as [Record<string, string>, number]] : [])]);

  return {
    registry,
    observe: (tier, outcome, ms) => latency.observe({ tier, outcome }, ms / 1000),
    bind(sources) {
      src = sources;
    },
  };
}
