// smr serve: parses the command line, starts a serve session
// (src/serve/session.ts) and waits for SIGTERM or SIGINT to stop it.
import { basename, extname, join, resolve } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { start } from '../serve/session.js';
import { recipeName } from '../store/recipe-io.js';
import { metricsListen, sharedCacheOptions, sharedCacheSettings } from './shared-cache-options.js';
import { parse, parseSize, UsageError, type Command } from './args.js';
import { keyOption, requireStore, storeSettings, storeOption } from './chunk-options.js';
import { securityOptions, securitySettings } from './serve-security.js';

interface ExportSpec {
  name: string;
  recipe: string;
}

function exportSpecs(positionals: string[], named: string[]): ExportSpec[] {
  const out: ExportSpec[] = positionals.map((p) => ({ name: recipeName(p) ?? basename(p, extname(p)), recipe: p }));
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
  help: `Usage: smr serve RECIPE... --store STORE [options]
       smr serve docker://REGISTRY/REPO:TAG [options]   (recipe artifact, chunks in REPO)

Serves each recipe as an NBD export (named after the recipe file without its
extension, a docker:// image after its repository's last part, or --export
NAME=RECIPE). Chunks are fetched only when a client
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
      --chunk-cache DIR    disk cache of chunks, kept across restarts
                           (--cache-dir is the older spelling)
      --chunk-cache-size SIZE  bound of the disk cache (default 10G;
                           also --cache-dir-size)
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
${sharedCacheOptions.help}
  -q, --quiet              log errors only
  -h, --help               this help`,

  async run(argv) {
    const { values, positionals } = parse('serve', argv, {
      listen: { type: 'string' },
      socket: { type: 'string' },
      'no-tcp': { type: 'boolean' },
      export: { type: 'string', multiple: true },
      'cache-mem': { type: 'string' },
      'chunk-cache': { type: 'string' },
      'chunk-cache-size': { type: 'string' },
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
      ...sharedCacheOptions.spec,
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

    const chunkCacheDir = (values['chunk-cache'] ?? values['cache-dir']) as string | undefined;
    const chunkCacheSize = (values['chunk-cache-size'] ?? values['cache-dir-size'] ?? '10G') as string;
    const session = await start({
      store: requireStore(values, 'serve', specs.map((s) => s.recipe)),
      storeOptions: storeSettings(values),
      readAhead: readAheadOption,
      exports: specs.map((spec) => ({
        name: spec.name,
        recipe: spec.recipe,
        overlayDir: values.overlay ? join(resolve(values.overlay as string), spec.name) : undefined,
        traceOut: traces.get(spec.name),
        prefetch: prefetches.get(spec.name),
      })),
      keyFile: values['key-file'] as string | undefined,
      memoryCacheBytes: parseSize((values['cache-mem'] as string | undefined) ?? '256M', '--cache-mem'),
      chunkCache: chunkCacheDir ? { dir: chunkCacheDir, maxBytes: parseSize(chunkCacheSize, '--chunk-cache-size') } : undefined,
      writable: Boolean(values.writable),
      prefetchConcurrency: concurrency,
      tcp: listen ?? undefined,
      socket: values.socket as string | undefined,
      // Who may connect and what they may use (serve-security.ts).
      security: await securitySettings(values, specs.map((e) => e.name)),
      sharedAndMetrics: { shared: sharedCacheSettings(values, log), metrics: metricsListen(values) },
      log,
    });
    // One line on stdout once ready: scripts wait for it (and read the port).
    process.stdout.write(`listening on ${session.addresses.join(' and ')}: ${session.exports.map((e) => e.name).join(', ')}\n`);

    const signal = await new Promise<string>((res) => {
      process.once('SIGTERM', () => res('SIGTERM'));
      process.once('SIGINT', () => res('SIGINT'));
    });
    log('info', `${signal}: finishing in-flight requests`);
    const stats = await session.close({ drainMs: 10_000 });
    if (values['stats-out']) await writeFile(values['stats-out'] as string, `${JSON.stringify(stats, null, 2)}\n`);
    log('info', `stopped: ${stats.server.requests} requests, ${stats.cache.originFetches} chunks (${stats.cache.originBytes} bytes) fetched from the store`);
    return 0;
  },
};
