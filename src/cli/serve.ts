import { basename, extname, join, resolve } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { readRecipe, readRecipeBytes } from '../store/recipe-io.js';
import { RecipeView } from '../blockdev/recipe-view.js';
import { Overlay } from '../blockdev/overlay.js';
import { LruKCache } from '../cache/lru-k.js';
import { DiskCache } from '../cache/disk-cache.js';
import { TieredChunkSource } from '../cache/tiered-source.js';
import { NbdServer } from '../nbd/index.js';
import { RecipeExport } from '../serve/recipe-export.js';
import { readTrace, TraceRecorder } from '../serve/trace.js';
import { startPrefetch, type PrefetchStats } from '../serve/prefetch.js';
import { openStore } from '../store/index.js';
import { SmrError } from '../util/errors.js';
import { parse, parseSize, UsageError, type Command } from './args.js';
import { keyOption, requireStore, storeSettings, storeOption } from './chunk-options.js';
import { securityOptions, securitySettings } from './serve-security.js';

interface ExportSpec {
  name: string;
  recipe: string;
}

function exportSpecs(positionals: string[], named: string[]): ExportSpec[] {
  const out: ExportSpec[] = positionals.map((p) => ({ name: basename(p, extname(p)), recipe: p }));
  for (const n of named) {
    const i = n.indexOf('=');
    if (i <= 0) throw new UsageError(`--export '${n}': expected NAME=RECIPE`);
    out.push({ name: n.slice(0, i), recipe: n.slice(i + 1) });
  }
  const seen = new Set<string>();
  for (const e of out) {
    if (seen.has(e.name)) throw new UsageError(`two exports are named '${e.name}' (use --export NAME=RECIPE)`);
    seen.add(e.name);
  }
  if (out.length === 0) throw new UsageError("give at least one RECIPE (see 'smr serve --help')");
  return out;
}

/** "FILE" (one export) or "NAME=FILE" (repeatable) -> per export name. */
function perExport(values: string[] | undefined, exports: ExportSpec[], what: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const v of values ?? []) {
    const i = v.indexOf('=');
    if (i > 0 && exports.some((e) => e.name === v.slice(0, i))) m.set(v.slice(0, i), v.slice(i + 1));
    else if (exports.length === 1) m.set(exports[0]!.name, v);
    else throw new UsageError(`${what} '${v}': with several exports, write NAME=FILE`);
  }
  return m;
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m) throw new UsageError(`--listen '${text}': expected HOST:PORT (e.g. 127.0.0.1:10809)`);
  const port = Number(m[3]);
  if (port > 65535) throw new UsageError(`--listen: port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve recipes as NBD block devices, fetching chunks lazily',
  help: `Usage: smr serve RECIPE... --store STORE [options]

Serves each recipe as an NBD export (named after the recipe file without its
extension, or --export NAME=RECIPE). Chunks are fetched only when a client
reads them, verified, and kept in a memory cache (LRU-K) and optionally a
local disk cache. SIGTERM or SIGINT finishes in-flight requests and stops
cleanly; clients that reconnect to a restarted server carry on.

Options:
${storeOption.help}
      --listen HOST:PORT   TCP address (default 127.0.0.1:10809; port 0 picks one)
      --socket PATH        also (or only, with --no-tcp) a Unix socket
      --no-tcp             no TCP listener
      --export NAME=RECIPE an export with an explicit name (repeatable)
      --cache-mem SIZE     memory cache of decoded chunks (default 256M)
      --cache-dir DIR      disk cache of chunks, kept across restarts
      --cache-dir-size SIZE  bound of the disk cache (default 10G)
      --writable           copy-on-write exports: writes go to a local overlay
      --overlay DIR        keep overlays in DIR/NAME across restarts
                           (default: temporary, discarded at exit)
      --trace-out [NAME=]FILE  record the order chunks are first read
      --prefetch [NAME=]FILE   fetch a recorded trace's chunks ahead of clients
      --prefetch-concurrency N  parallel prefetch fetches (default 4)
      --read-ahead N       chunks fetched ahead of forward scans (default 8 for
                           remote stores, 0 for directories)
      --stats-out FILE     write counters (JSON) there at exit
${keyOption.help}
${securityOptions.help}
  -q, --quiet              log errors only
  -h, --help               this help`,

  async run(argv) {
    const { values, positionals } = parse('serve', argv, {
      listen: { type: 'string' },
      socket: { type: 'string' },
      'no-tcp': { type: 'boolean' },
      export: { type: 'string', multiple: true },
      'cache-mem': { type: 'string' },
      'cache-dir': { type: 'string' },
      'cache-dir-size': { type: 'string' },
      writable: { type: 'boolean' },
      overlay: { type: 'string' },
      'trace-out': { type: 'string', multiple: true },
      prefetch: { type: 'string', multiple: true },
      'prefetch-concurrency': { type: 'string' },
      'read-ahead': { type: 'string' },
      'stats-out': { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      ...storeOption.spec,
      ...keyOption.spec,
      ...securityOptions.spec,
    });
    const quiet = Boolean(values.quiet);
    const log = (level: 'info' | 'warn' | 'error', msg: string) => {
      if (quiet && level !== 'error') return;
      process.stderr.write(`${new Date().toISOString()} smr serve: ${level === 'info' ? '' : `${level}: `}${msg}\n`);
    };
    const specs = exportSpecs(positionals, (values.export as string[] | undefined) ?? []);
    if (values.overlay && !values.writable) throw new UsageError('--overlay needs --writable');
    const traces = perExport(values['trace-out'] as string[] | undefined, specs, '--trace-out');
    const prefetches = perExport(values.prefetch as string[] | undefined, specs, '--prefetch');
    const concurrency = values['prefetch-concurrency'] !== undefined ? Number(values['prefetch-concurrency']) : 4;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new UsageError('--prefetch-concurrency: a number from 1 to 256');
    const readAheadOption = values['read-ahead'] !== undefined ? Number(values['read-ahead']) : undefined;
    if (readAheadOption !== undefined && (!Number.isInteger(readAheadOption) || readAheadOption < 0 || readAheadOption > 256)) throw new UsageError('--read-ahead: a number of chunks from 0 to 256');
    const listen = values['no-tcp'] ? null : parseListen((values.listen as string | undefined) ?? '127.0.0.1:10809');
    if (!listen && !values.socket) throw new UsageError('--no-tcp needs --socket PATH');

    const store = await openStore(requireStore(values, 'serve'), storeSettings(values));
    // A local store answers faster than read-ahead would help.
    const readAhead = readAheadOption ?? (store.remote ? 8 : 0);
    const memory = new LruKCache<Buffer>({ maxBytes: parseSize((values['cache-mem'] as string | undefined) ?? '256M', '--cache-mem') });
    const disk = values['cache-dir']
      ? await DiskCache.open(resolve(values['cache-dir'] as string), parseSize((values['cache-dir-size'] as string | undefined) ?? '10G', '--cache-dir-size'))
      : undefined;
    const source = new TieredChunkSource(store, { memory, disk });
    const keyFile = values['key-file'] as string | undefined;

    const exports: RecipeExport[] = [];
    const overlays: Overlay[] = [];
    const recorders = new Map<string, TraceRecorder>();
    const prefetchStats: Record<string, PrefetchStats> = {};
    const stoppers: Array<() => void> = [];
    for (const spec of specs) {
      const recipe = await readRecipe(spec.recipe, { keyFile, ...storeSettings(values) });
      const view = new RecipeView(recipe, source, { readAhead });
      let overlay: Overlay | undefined;
      if (values.writable) {
        const identity = Overlay.identityOf(/^(s3|https?):\/\//i.test(spec.recipe) ? await readRecipeBytes(spec.recipe, storeSettings(values)) : await readFile(spec.recipe));
        overlay = await Overlay.open(values.overlay ? join(resolve(values.overlay as string), spec.name) : undefined, recipe.imageSize, identity);
        overlays.push(overlay);
      }
      const tracePath = traces.get(spec.name);
      const trace = tracePath ? await TraceRecorder.create(tracePath) : undefined;
      if (trace) recorders.set(spec.name, trace);
      exports.push(new RecipeExport({ name: spec.name, description: recipe.source.reference ?? spec.recipe, view, overlay, trace, log, isCached: (d) => source.inMemory(d) }));
      const pf = prefetches.get(spec.name);
      if (pf) {
        const p = startPrefetch(view, await readTrace(pf), concurrency, (m) => log('warn', `${spec.name}: ${m}`));
        prefetchStats[spec.name] = p.stats;
        stoppers.push(p.stop);
        void p.finished.then(() => log('info', `${spec.name}: prefetch done: ${p.stats.fetched} chunks fetched ahead, ${p.stats.failed} failed, ${p.stats.skipped} not in this image`));
      }
    }

    // --- who may connect and what they may use (serve-security.ts) ---
    const security = await securitySettings(values, exports.map((e) => e.name));
    let server: NbdServer;
    try {
      server = new NbdServer({
        exports,
        log,
        tls: security.tls,
        access: security.access,
        maxConnections: security.maxConnections,
        maxConnectionsPerAddress: security.maxConnectionsPerAddress,
        limits: security.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: security.handshakeTimeoutMs } : undefined,
      });
    } catch (e) {
      throw new SmrError('TLS_INVALID', `cannot use the TLS certificate or key: ${(e as { reason?: string }).reason ?? (e as Error).message}`);
    }
    // --- end of the security block ---
    const where: string[] = [];
    try {
      if (listen) {
        const r = await server.listen({ host: listen.host, port: listen.port });
        where.push(`${listen.host}:${r.port}`);
      }
      if (values.socket) {
        await server.listen({ socket: resolve(values.socket as string) });
        where.push(`unix:${resolve(values.socket as string)}`);
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      await server.close().catch(() => {});
      throw new SmrError('LISTEN_FAILED', `cannot listen: ${err.code === 'EADDRINUSE' ? `address ${listen?.host}:${listen?.port} is in use` : err.message}`);
    }
    // One line on stdout once ready: scripts wait for it (and read the port).
    process.stdout.write(`listening on ${where.join(' and ')}: ${exports.map((e) => e.name).join(', ')}\n`);

    const stopped = new Promise<string>((res) => {
      process.once('SIGTERM', () => res('SIGTERM'));
      process.once('SIGINT', () => res('SIGINT'));
    });
    const signal = await stopped;
    log('info', `${signal}: finishing in-flight requests`);
    for (const s of stoppers) s();
    await server.close({ drainMs: 10_000 });
    await Promise.all([...recorders.values()].map((r) => r.flush()));
    await Promise.all(overlays.map((o) => o.close()));
    // Remote stores count their requests, hedges and retries.
    const remote = (store as { reader?: { stats: object } }).reader?.stats;
    const stats = { server: server.stats, remote, cache: { ...source.stats, memoryBytes: memory.usedBytes, memoryEntries: memory.size }, disk: disk?.stats, prefetch: prefetchStats, exports: Object.fromEntries(exports.map((e) => [e.name, e.stats])), traced: Object.fromEntries([...recorders].map(([n, r]) => [n, r.count])) };
    if (values['stats-out']) await writeFile(values['stats-out'] as string, `${JSON.stringify(stats, null, 2)}\n`);
    log('info', `stopped: ${server.stats.requests} requests, ${source.stats.originFetches} chunks (${source.stats.originBytes} bytes) fetched from the store`);
    await store.close?.();
    return 0;
  },
};
