// bench/cold-start: boots of the debian-python fixture in a micro-VM (smr
// boot, TCG) running python3 -c 'import json, sqlite3; print(42)', served by
// smr serve from an S3 origin (our test Ceph RGW) behind a proxy adding 20 ms
// per request, with a shared tier of five Redis servers. Not a test: it
// prints a table and one comparable last line. Each scenario runs ROUNDS
// times (median):
//   A warm worker (chunks in memory)      B cold worker, warm shared tier
//   C cold worker, origin only            D as C with --prefetch of a boot trace
//   E as B with one Redis node down       F debian-python and debian-slim booting
//                                           at once on two cold workers sharing the tier
// Per-boot chunk counts per tier and latency percentiles come from each
// worker's --metrics scrape (before and after the boot), so they are what
// the metrics say. Origin duplicates in F are counted at the delay proxy.
// Usage: node dist/bench/cold-start.js [ROUNDS] [DELAY_MS]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startS3, testS3Client } from '../test/helpers/services/s3.js';
import { startRedis } from '../test/helpers/services/redis.js';
import type { ServiceHandle } from '../test/helpers/services/service.js';
import { FIXTURES_DIR } from '../test/helpers/fixtures.js';
import { freePort } from '../test/helpers/registry.js';
import { run, SMR } from '../test/helpers/run.js';
import { startServe, type Served } from '../test/helpers/smr-serve.js';
import { startTcpGate, type TcpGate } from '../test/helpers/tcp-gate.js';
import { startDelayProxy } from './delay-proxy.js';
import { ensureGnuplot, plotLatencyCdf, type TierBuckets } from './latency-cdf.js';

const ROUNDS = Number(process.argv[2] ?? 3);
const DELAY = Number(process.argv[3] ?? 20);
const VM_CACHE = process.env.SMR_VM_CACHE ?? '/var/cache/smr-ci/nbd-vm';
const TIERS = ['memory', 'disk', 'shared', 'origin'] as const;

type Scrape = { counters: Map<string, number>; text: string };

async function scrape(port: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const counters = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\S+)$/.exec(line);
    if (m && !line.startsWith('#')) counters.set(m[1]!, Number(m[2]));
  }
  return { counters, text };
}

interface BootFigures {
  wallS: number;
  chunks: Record<string, number>;
  /** tier -> le (s) -> cumulative count of hits, this boot only. */
  buckets: Record<string, Array<[number, number]>>;
}

function figures(before: Scrape, after: Scrape, wallS: number): BootFigures {
  const d = (k: string) => (after.counters.get(k) ?? 0) - (before.counters.get(k) ?? 0);
  const chunks: Record<string, number> = {};
  for (const t of TIERS) chunks[t] = d(`smr_tier_hits_total{tier="${t}"}`);
  const buckets: Record<string, Array<[number, number]>> = {};
  for (const k of after.counters.keys()) {
    const m = /^smr_tier_latency_seconds_bucket\{(.*)\}$/.exec(k);
    if (!m || !m[1]!.includes('outcome="hit"')) continue;
    const tier = /tier="([^"]+)"/.exec(m[1]!)![1]!;
    const le = /le="([^"]+)"/.exec(m[1]!)![1]!;
    (buckets[tier] ??= []).push([le === '+Inf' ? Infinity : Number(le), d(k)]);
  }
  for (const b of Object.values(buckets)) b.sort((x, y) => x[0] - y[0]);
  return { wallS, chunks, buckets };
}

/** One tier's cumulative buckets summed over boots, sorted by bound. */
function merged(boots: BootFigures[], tier: string): Array<[number, number]> {
  const sum = new Map<number, number>();
  for (const b of boots) for (const [le, n] of b.buckets[tier] ?? []) sum.set(le, (sum.get(le) ?? 0) + n);
  return [...sum].sort((a, b) => a[0] - b[0]);
}

/** A percentile from merged cumulative buckets: the bucket's upper bound (ms). */
function percentile(boots: BootFigures[], tier: string, p: number): string {
  const sorted = merged(boots, tier);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return '-';
  const at = sorted.find(([, n]) => n >= (p / 100) * total)!;
  return at[0] === Infinity ? '>2.5s' : `<=${(at[0] * 1000).toFixed(at[0] < 0.001 ? 2 : 1)}ms`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function boot(port: number, exp: string, cmd: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await run(process.execPath, [SMR, 'boot', `nbd://127.0.0.1:${port}/${exp}`, '--cache', VM_CACHE, '--accel', 'tcg', '--', ...cmd]);
  if (r.code !== 0 || !/42/.test(r.stdout)) throw new Error(`boot of ${exp} failed (${r.code}): ${r.stdout}\n${r.stderr}`);
  return (performance.now() - t0) / 1000; // smr boot's whole run: VM start to the command's exit
}

const PY = ['python3', '-c', 'import json, sqlite3; print(42)'];
const SH = ['bash', '-c', 'echo 42'];

async function main(): Promise<void> {
  ensureGnuplot();
  const work = await mkdtemp(join(tmpdir(), 'smr-bench-cold-'));
  const services: ServiceHandle[] = [];
  const gates: TcpGate[] = [];
  const s3 = await startS3();
  services.push(s3);
  const proxy = await startDelayProxy(s3.env.AWS_ENDPOINT_URL as string, DELAY);
  try {
    const env = { ...process.env, ...s3.env, AWS_ENDPOINT_URL: proxy.url };
    Object.assign(process.env, env); // smr children inherit it
    const client = testS3Client(s3.env);
    await client.send(new CreateBucketCommand({ Bucket: 'cold' }));
    client.destroy();
    const store = 's3://cold/store';
    for (const [name, fixture] of [['dp', 'debian-python'], ['slim', 'debian-slim']]) {
      const r = await run(process.execPath, [SMR, 'convert', `oci:${FIXTURES_DIR}/${fixture}`, '--store', store, '-o', join(work, `${name}.recipe`), '-q'], { env });
      if (r.code !== 0) throw new Error(`convert ${fixture}: ${r.stderr}`);
    }
    for (let i = 0; i < 5; i++) {
      const r = await startRedis();
      services.push(r);
      gates.push(await startTcpGate('127.0.0.1', Number(/:(\d+)$/.exec(r.env.REDIS_URL!)![1])));
    }
    const nodes = gates.map((g) => `redis://${g.host}:${g.port}`).join(',');
    const trace = join(work, 'dp.trace');

    const serve = async (recipe: string, extra: string[]): Promise<Served & { metrics: number }> => {
      const metrics = await freePort();
      const s = await startServe(['--export', `${recipe.split('.')[0]}=${join(work, recipe)}`, '--store', store, '--hedge', 'off', '--metrics', `127.0.0.1:${metrics}`, '--cache-mem', '1G', '-q', ...extra]);
      return Object.assign(s, { metrics });
    };
    const measured = async (s: Served & { metrics: number }, exp: string, cmd: string[]) => {
      const before = await scrape(s.metrics);
      const wall = await boot(s.port, exp, cmd);
      return figures(before, await scrape(s.metrics), wall);
    };
    const shared = (prefix: string) => ['--cache-shared', nodes, '--shared-prefix', prefix];

    // The boot trace for D, from a first boot (origin only).
    {
      const s = await serve('dp.recipe', ['--trace-out', trace]);
      await boot(s.port, 'dp', PY);
      await s.stop();
    }

    const results: Record<string, BootFigures[]> = { A: [], B: [], C: [], D: [], E: [], F: [] };
    const dups: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // A: the same worker boots twice; the second boot is measured.
      let s = await serve('dp.recipe', []);
      await boot(s.port, 'dp', PY);
      results.A!.push(await measured(s, 'dp', PY));
      await s.stop();
      // B and E: one worker fills the shared tier, a fresh one boots from it.
      for (const sc of ['B', 'E'] as const) {
        const prefix = `r${r}${sc}/`;
        s = await serve('dp.recipe', shared(prefix));
        await boot(s.port, 'dp', PY);
        await s.stop(); // waits for the background fills
        if (sc === 'E') gates[r % 5]!.set('down');
        s = await serve('dp.recipe', shared(prefix));
        results[sc]!.push(await measured(s, 'dp', PY));
        await s.stop();
        gates[r % 5]!.set('pass');
      }
      // C and D: cold workers, origin only, without and with prefetch.
      s = await serve('dp.recipe', []);
      results.C!.push(await measured(s, 'dp', PY));
      await s.stop();
      s = await serve('dp.recipe', ['--prefetch', trace]);
      results.D!.push(await measured(s, 'dp', PY));
      await s.stop();
      // F: two images at once on two cold workers sharing a cold tier.
      proxy.gets.clear();
      const a = await serve('dp.recipe', shared(`r${r}F/`));
      const b = await serve('slim.recipe', shared(`r${r}F/`));
      const [fa] = await Promise.all([measured(a, 'dp', PY), measured(b, 'slim', SH)]);
      results.F!.push(fa);
      await Promise.all([a.stop(), b.stop()]);
      dups.push([...proxy.gets].filter(([path, n]) => /\/chunks\//.test(path) && n > 1).length);
    }

    const A = median(results.A!.map((f) => f.wallS));
    const lines = ['| scenario | wall (median s) | vs A | memory | disk | shared | origin | shared p50 | shared p99 | origin p50 | origin p99 |', '|---|---|---|---|---|---|---|---|---|---|---|'];
    for (const [sc, boots] of Object.entries(results)) {
      const wall = median(boots.map((f) => f.wallS));
      const total = boots.reduce((n, f) => n + TIERS.reduce((m, t) => m + f.chunks[t]!, 0), 0) || 1;
      const frac = (t: string) => `${((100 * boots.reduce((n, f) => n + f.chunks[t]!, 0)) / total).toFixed(1)}%`;
      lines.push(`| ${sc} | ${wall.toFixed(2)} | ${(wall / A).toFixed(2)}x | ${frac('memory')} | ${frac('disk')} | ${frac('shared')} | ${frac('origin')} | ${percentile(boots, 'shared', 50)} | ${percentile(boots, 'shared', 99)} | ${percentile(boots, 'origin', 50)} | ${percentile(boots, 'origin', 99)} |`);
    }
    const w = (sc: string) => median(results[sc]!.map((f) => f.wallS));
    const x = (sc: string, base: number) => `${w(sc).toFixed(2)}s(${(w(sc) / base).toFixed(2)}x)`;
    const last = `cold-start: A=${w('A').toFixed(2)}s B=${x('B', A)} C=${x('C', A)} D=${x('D', A)} E=${x('E', w('B'))} F=ok origin-dups=${Math.max(...dups)}`;
    const report = [`# Cold starts (bench/cold-start, ${ROUNDS} rounds, origin delay ${DELAY} ms, TCG)`, '', ...lines, '', 'Chunk fractions are of chunk reads per boot (memory hits included); latency percentiles are bucket bounds of the workers\' smr_tier_latency_seconds histograms (hits only). E is relative to B; F is the debian-python worker of the pair.', '', '![Chunk fetch latency CDF per tier](cold-start-latency.png)', '', 'The plot (written by the benchmark with gnuplot) pools the hits of every measured boot, per tier, from the same histograms; its points are the bucket bounds.', '', '```', last, '```', ''].join('\n');
    console.log(report);
    await writeFile(join(process.cwd(), 'docs', 'cold-start.md'), report);
    // The CDF pools every measured boot of every scenario, per tier.
    const all = Object.values(results).flat();
    const curves: TierBuckets = {};
    const untimed: string[] = [];
    for (const t of TIERS) {
      const b = merged(all, t);
      if ((b.at(-1)?.[1] ?? 0) > 0) curves[t] = b;
      else untimed.push(t === 'memory' ? 'memory (its hits are a map lookup the metrics do not time)' : `${t} (no hits in these scenarios)`);
    }
    await plotLatencyCdf(curves, join(process.cwd(), 'docs', 'cold-start-latency.png'), `Chunk fetch latency per tier, cold-start scenarios A-F, ${ROUNDS} round(s), origin +${DELAY} ms`, untimed);
  } finally {
    for (const g of gates) await g.close();
    await proxy.close();
    await Promise.all(services.map((s) => s.stop()));
    await rm(work, { recursive: true, force: true });
  }
}

await main();
