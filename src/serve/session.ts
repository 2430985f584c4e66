// A serve session: the whole serving stack of `smr serve` as a library, so
// that `smr serve` and `smr run` build it the same way. start() opens the
// store, the cache tiers, one export per recipe (overlay, trace, prefetch),
// the NBD server and its listeners; close() stops it all in order and
// returns the counters.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Overlay } from '../blockdev/overlay.js';
import { RecipeView } from '../blockdev/recipe-view.js';
import { DiskCache, type DiskCacheStats } from '../cache/disk-cache.js';
import { LruKCache } from '../cache/lru-k.js';
import { TieredChunkSource, type Tier, type TierStats } from '../cache/tiered-source.js';
import { NbdServer, type NbdServerOptions, type NbdServerStats } from '../nbd/index.js';
import type { LogFn } from '../util/log.js';
import { openStore, type StoreOptions } from '../store/index.js';
import { isRemoteRecipe, readRecipe, readRecipeBytes } from '../store/recipe-io.js';
import { SmrError } from '../util/errors.js';
import { startPrefetch, type PrefetchStats } from './prefetch.js';
import { RecipeExport, type ExportStats } from './recipe-export.js';
import { readTrace, TraceRecorder } from './trace.js';
import { openSharedAndMetrics, type SharedAndMetricsOptions } from './shared-and-metrics.js';
import type { SharedTierStats } from '../cache/shared/shared-tier.js';
import type { RemoteReadStats } from '../store/remote/remote-reader.js';

export interface SessionExport {
  name: string;
  /** The recipe: a path, s3://BUCKET/KEY or an http(s) URL. */
  recipe: string;
  /** Copy-on-write overlay kept in this directory (with `writable`); absent: temporary, discarded at close. */
  overlayDir?: string;
  /** Record the order chunks are first read into this file. */
  traceOut?: string;
  /** Fetch a recorded trace's chunks ahead of clients. */
  prefetch?: string;
}

export interface SessionOptions {
  /** The chunk store, as on the command line (dir:PATH or PATH, s3://, http(s)://). */
  store: string;
  /** Remote store settings (endpoint, profile, hedging), also for recipes given as URIs. */
  storeOptions?: StoreOptions;
  /** Chunks fetched ahead of forward scans (default: 8 for remote stores, 0 for directories). */
  readAhead?: number;
  exports: SessionExport[];
  /** Tenant key file, for encrypted recipes. */
  keyFile?: string;
  /** Memory cache of decoded chunks (default 256 MiB). */
  memoryCacheBytes?: number;
  /** Disk cache of chunks, kept across restarts. */
  chunkCache?: { dir: string; maxBytes: number };
  /** Copy-on-write exports: writes go to an overlay, never to the store. */
  writable?: boolean;
  prefetchConcurrency?: number;
  /** TCP listener (port 0 picks one). */
  tcp?: { host: string; port: number };
  /** Unix socket listener. */
  socket?: string;
  /** Who may connect and with what: TLS, access rules, connection limits. */
  security?: Pick<NbdServerOptions, 'tls' | 'access' | 'maxConnections' | 'maxConnectionsPerAddress'> & { handshakeTimeoutMs?: number };
  log?: LogFn;
  /** The shared cache tier (--cache-shared) and the metrics endpoint (--metrics). */
  sharedAndMetrics?: SharedAndMetricsOptions;
}

export interface SessionStats {
  server: NbdServerStats;
  /** A remote store's requests, hedges and retries. */
  remote?: object;
  /** Chunks served per tier: memory and disk hits, origin (store) fetches and bytes. */
  cache: TierStats & { memoryBytes: number; memoryEntries: number };
  /** Chunks fetched below the memory cache, per tier, with their stored bytes. */
  fetched: Record<string, { chunks: number; bytes: number }>;
  disk?: DiskCacheStats;
  shared?: SharedTierStats;
  prefetch: Record<string, PrefetchStats>;
  exports: Record<string, ExportStats>;
  traced: Record<string, number>;
}

export interface Session {
  server: NbdServer;
  exports: RecipeExport[];
  /** Where it listens: "HOST:PORT" and "unix:PATH". */
  addresses: string[];
  /** The TCP port, when listening on TCP. */
  port?: number;
  stats(): SessionStats;
  /** Finishes in-flight requests (up to drainMs), stops prefetching, flushes traces, closes overlays and the store. */
  close(opts?: { drainMs?: number }): Promise<SessionStats>;
}

const DEFAULT_MEMORY_CACHE = 256 * 1024 * 1024;

export async function start(opts: SessionOptions): Promise<Session> {
  const log: LogFn = opts.log ?? (() => {});
  const storeOptions = opts.storeOptions ?? {};
  const store = await openStore(opts.store, storeOptions);
  // A local store answers faster than read-ahead would help.
  const readAhead = opts.readAhead ?? (store.remote ? 8 : 0);
  const closers: Array<() => Promise<unknown>> = [async () => store.close?.()];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  };
  try {
    const memory = new LruKCache<Buffer>({ maxBytes: opts.memoryCacheBytes ?? DEFAULT_MEMORY_CACHE });
    const disk = opts.chunkCache ? await DiskCache.open(resolve(opts.chunkCache.dir), opts.chunkCache.maxBytes) : undefined;
    const fetched: SessionStats['fetched'] = {};
    const extras = await openSharedAndMetrics(opts.sharedAndMetrics ?? {}, log);
    closers.push(async () => extras.close());
    const source = new TieredChunkSource(store, {
      memory,
      disk,
      tiers: extras.tiers,
      observe: extras.observe,
      onFetch: (_c, tier, _ms, bytes) => {
        const f = (fetched[tier] ??= { chunks: 0, bytes: 0 });
        f.chunks++;
        f.bytes += bytes;
      },
    });

    const exports: RecipeExport[] = [];
    const overlays: Overlay[] = [];
    const recorders = new Map<string, TraceRecorder>();
    const prefetchStats: Record<string, PrefetchStats> = {};
    const stoppers: Array<() => void> = [];
    closers.push(async () => Promise.all(overlays.map((o) => o.close())));
    for (const spec of opts.exports) {
      const recipe = await readRecipe(spec.recipe, { keyFile: opts.keyFile, ...storeOptions });
      const view = new RecipeView(recipe, source, { readAhead });
      let overlay: Overlay | undefined;
      if (opts.writable) {
        const bytes = isRemoteRecipe(spec.recipe) ? await readRecipeBytes(spec.recipe, storeOptions) : await readFile(spec.recipe);
        overlay = await Overlay.open(spec.overlayDir, recipe.imageSize, Overlay.identityOf(bytes));
        overlays.push(overlay);
      }
      const trace = spec.traceOut ? await TraceRecorder.create(spec.traceOut) : undefined;
      if (trace) recorders.set(spec.name, trace);
      exports.push(new RecipeExport({ name: spec.name, description: recipe.source.reference ?? spec.recipe, view, overlay, trace, log, isCached: (d) => source.inMemory(d) }));
      if (spec.prefetch) {
        const p = startPrefetch(view, await readTrace(spec.prefetch), opts.prefetchConcurrency ?? 4, (m) => log('warn', `${spec.name}: ${m}`));
        prefetchStats[spec.name] = p.stats;
        stoppers.push(p.stop);
        void p.finished.then(() => log('info', `${spec.name}: prefetch done: ${p.stats.fetched} chunks fetched ahead, ${p.stats.failed} failed, ${p.stats.skipped} not in this image`));
      }
    }
    closers.push(async () => stoppers.forEach((s) => s()));

    const sec = opts.security ?? {};
    let server: NbdServer;
    try {
      server = new NbdServer({
        exports,
        log,
        tls: sec.tls,
        access: sec.access,
        maxConnections: sec.maxConnections,
        maxConnectionsPerAddress: sec.maxConnectionsPerAddress,
        limits: sec.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: sec.handshakeTimeoutMs } : undefined,
      });
    } catch (e) {
      throw new SmrError('TLS_INVALID', `cannot use the TLS certificate or key: ${(e as { reason?: string }).reason ?? (e as Error).message}`);
    }
    closers.push(async () => server.close());
    const addresses: string[] = [];
    let port: number | undefined;
    try {
      if (opts.tcp) {
        port = (await server.listen({ host: opts.tcp.host, port: opts.tcp.port })).port;
        addresses.push(`${opts.tcp.host}:${port}`);
      }
      if (opts.socket) {
        await server.listen({ socket: resolve(opts.socket) });
        addresses.push(`unix:${resolve(opts.socket)}`);
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new SmrError('LISTEN_FAILED', `cannot listen: ${err.code === 'EADDRINUSE' ? `address ${opts.tcp?.host}:${opts.tcp?.port} is in use` : err.message}`);
    }
    const origin = (store as { reader?: { stats: RemoteReadStats } }).reader?.stats;
    await extras.expose({ source, memory, disk, nbd: server.stats, origin });

    const stats = (): SessionStats => ({
      server: { ...server.stats },
      remote: (store as { reader?: { stats: object } }).reader?.stats,
      cache: { ...source.stats, memoryBytes: memory.usedBytes, memoryEntries: memory.size },
      fetched: structuredClone(fetched),
      disk: disk?.stats ? { ...disk.stats } : undefined,
      ...extras.stats(),
      prefetch: prefetchStats,
      exports: Object.fromEntries(exports.map((e) => [e.name, { ...e.stats }])),
      traced: Object.fromEntries([...recorders].map(([n, r]) => [n, r.count])),
    });
    let closed: Promise<SessionStats> | undefined;
    const close = (c: { drainMs?: number } = {}) =>
      (closed ??= (async () => {
        for (const s of stoppers) s();
        await server.close({ drainMs: c.drainMs ?? 10_000 });
        await Promise.all([...recorders.values()].map((r) => r.flush()));
        await Promise.all(overlays.map((o) => o.close()));
        await extras.close(); // waits for the shared tier's background fills
        const final = stats();
        await store.close?.();
        return final;
      })());
    return { server, exports, addresses, port, stats, close };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
