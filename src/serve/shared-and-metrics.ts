// What --cache-shared and --metrics add to a serve session, kept in one place:
// the shared tier (one more ChunkTier, between the disk cache and the origin)
// and the metrics endpoint, which reads the session's own stats objects.
import type { ChunkTier, TierObserver } from '../cache/tier.js';
import { SharedTier, type SharedTierOptions, type SharedTierStats } from '../cache/shared/shared-tier.js';
import { createServeMetrics, type MetricSources } from '../metrics/serve-metrics.js';
import { startMetricsServer, type MetricsServer } from '../metrics/metrics-server.js';
import type { LogFn } from '../util/log.js';

export interface SharedAndMetricsOptions {
  shared?: SharedTierOptions;
  /** HOST:PORT for /metrics. */
  metrics?: string;
}

export interface SharedAndMetrics {
  /** Tiers to stack between the disk cache and the origin. */
  tiers: ChunkTier[];
  /** Latency observer for the tiered source (metrics only). */
  observe?: TierObserver;
  /** Once the session's pieces exist: binds the metrics to them and starts the endpoint. */
  expose(sources: Omit<MetricSources, 'shared'>): Promise<void>;
  stats(): { shared?: SharedTierStats };
  close(): Promise<void>;
}

export async function openSharedAndMetrics(opts: SharedAndMetricsOptions, log: LogFn): Promise<SharedAndMetrics> {
  const shared = opts.shared ? await SharedTier.open(opts.shared) : undefined;
  if (shared) log('info', `shared tier: ${opts.shared!.nodes.length} nodes, ${shared.code.k}+${shared.code.m}`);
  const metrics = opts.metrics ? createServeMetrics() : undefined;
  let endpoint: MetricsServer | undefined;
  return {
    tiers: shared ? [shared] : [],
    observe: metrics?.observe,
    async expose(sources) {
      if (!metrics) return;
      metrics.bind({ ...sources, shared });
      endpoint = await startMetricsServer(opts.metrics!, metrics.registry);
      log('info', `metrics at http://${endpoint.address}/metrics`);
    },
    stats: () => (shared ? { shared: shared.stats } : {}),
    async close() {
      await endpoint?.close();
      await shared?.close();
    },
  };
}
