// The chaos soak: one `smr serve` with an S3 origin (Ceph RGW) reached
// through a TCP fault proxy, for a set time, with 16 honest clients (our
// reader comparing every byte with the raw image, qemu-img compare over a
// reconnecting NBD driver, fio verifying its writes), 300 hostile
// connections spread over the run, a fault injector (origin down and back,
// latency, dropped connections) and one SIGTERM + restart of the server on
// the same port. Then durability rounds (kill -9 at a random moment). The
// result is counts only; bench/soak prints them, the test asserts the ones
// that must be zero.
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HOSTILE_KINDS, hostileConnection, type HostileKind } from './hostile-client.js';
import { prng } from './nbd-exports.js';
import { smr } from './run.js';
import { testS3Client } from './services/s3.js';
import { startServe, type Served } from './smr-serve.js';
import { emptyCounts, fioLoop, qemuCompareLoop, readerLoop, type ClientContext, type HonestCounts } from './soak-clients.js';
import { durabilityRounds, type DurabilityResult } from './soak-durability.js';
import { startTcpFaultProxy } from './tcp-fault-proxy.js';

export interface SoakOptions {
  seconds: number;
  /** An OCI layout to serve. */
  layout: string;
  /** Scratch directory (the caller removes it). */
  work: string;
  /** S3 settings of the origin (AWS_ENDPOINT_URL and credentials). */
  s3: Record<string, string>;
  hostile?: number;
  durabilityRounds?: number;
  seed?: number;
  log?: (m: string) => void;
}

export interface SoakReport {
  seconds: number;
  imageBytes: number;
  requestsServed: number;
  honest: HonestCounts;
  /** Bytes our readers got that differ from the raw image (qemu-img and fio findings are in honest). */
  wrongBytes: number;
  crashes: number;
  peakRssBytes: number;
  fdsAtStart: number;
  fdsAtEnd: number;
  hostile: Record<HostileKind, number>;
  /** Hostile connections the server closed before the client gave up. */
  hostileClosedByServer: number;
  faults: { originDown: number; latency: number; drops: number; serverRestarts: number; refused: number; dropped: number };
  durability: DurabilityResult;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function must(what: string, p: ReturnType<typeof smr>): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr.trim()}`);
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const rnd = prng(o.seed ?? 11);
  const hostileTotal = o.hostile ?? 300;

  // --- the image: chunks in S3, the raw image to compare with ---
  const bucket = `soak-${randomUUID()}`;
  const s3 = testS3Client(o.s3);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  s3.destroy();
  const originEnv = { ...process.env, ...o.s3 };
  const recipe = join(o.work, 'image.recipe');
  const rawPath = join(o.work, 'image.raw');
  log('converting the image into S3 and building the raw image');
  await must('smr convert', smr(['convert', `oci:${o.layout}`, '--store', `s3://${bucket}/store`, '-o', recipe, '-q'], { env: originEnv }));
  await must('smr build', smr(['build', `oci:${o.layout}`, '-o', rawPath, '-q']));
  const imageBytes = (await stat(rawPath)).size;

  // --- the server, reaching S3 only through the fault proxy ---
  const proxy = await startTcpFaultProxy(o.s3.AWS_ENDPOINT_URL as string);
  const serveEnv = { ...originEnv, AWS_ENDPOINT_URL: proxy.url };
  const statsFiles: string[] = [];
  const serveArgs = (stats: string) => [
    '--export', `ro=${recipe}`, '--export', `rw=${recipe}`, '--store', `s3://${bucket}/store`,
    '--writable', '--overlay', join(o.work, 'overlay'), '--cache-mem', '8M',
    '--max-connections', '1024', '--max-connections-per-client', '1024', '--handshake-timeout', '3',
    '--stats-out', stats, '-q',
  ];
  let crashes = 0;
  let peakRssBytes = 0;
  let expectingExit = false;
  const start = async (port = 0): Promise<Served> => {
    const stats = join(o.work, `stats-${statsFiles.length}.json`);
    statsFiles.push(stats);
    const s = await startServe(serveArgs(stats), { port, env: serveEnv });
    s.child.once('exit', (code, signal) => {
      if (!expectingExit || code !== 0) {
        crashes++;
        log(`smr serve exited unexpectedly (code ${code}, signal ${signal}): ${s.stderr().split('\n').slice(-5).join(' | ')}`);
      }
    });
    return s;
  };
  let served = await start();
  const port = served.port;
  const fdsAtStart = fdCount(served.child.pid!);
  log(`smr serve on port ${port}, ${fdsAtStart} open fds`);

  // --- fault windows, for telling failed reads while faulted from others ---
  const windows: Array<[number, number]> = [];
  let openWindow: number | null = null;
  const RETRY_GRACE_MS = 15_000; // a read started in a fault may fail after it, retries spent
  const faultedBetween = (from: number, to: number) =>
    openWindow !== null || windows.some(([a, b]) => a <= to && from <= b + RETRY_GRACE_MS);
  const fault = async (ms: number, on: () => void, off: () => void) => {
    openWindow = Date.now();
    on();
    await sleep(ms);
    off();
    windows.push([openWindow, Date.now()]);
    openWindow = null;
  };

  const deadline = Date.now() + o.seconds * 1000;
  const stopped = () => Date.now() >= deadline;
  const counts = emptyCounts();
  const ctx: ClientContext = { port, counts, stopped, faultedBetween, restarts: [], qemuRunning: new Set(), note: log };
  const raw = await open(rawPath, 'r');

  // --- 16 honest clients ---
  const honest: Array<Promise<void>> = [];
  for (let i = 0; i < 12; i++) honest.push(readerLoop(ctx, 'ro', raw, imageBytes, prng(1000 + i)));
  for (let i = 0; i < 2; i++) honest.push(qemuCompareLoop(ctx, 'ro', rawPath));
  const region = Math.min(16 << 20, Math.floor(imageBytes / 4 / 4096) * 4096);
  for (let i = 0; i < 2; i++) honest.push(fioLoop(ctx, 'rw', { offset: i * region, size: region }));

  // --- 300 hostile connections, spread evenly, a few at a time ---
  const hostile = Object.fromEntries(HOSTILE_KINDS.map((k) => [k, 0])) as Record<HostileKind, number>;
  let hostileClosedByServer = 0;
  const hostileRun = (async () => {
    const gap = (o.seconds * 1000) / hostileTotal;
    const running = new Set<Promise<void>>();
    for (let n = 0; n < hostileTotal; n++) {
      const kind = HOSTILE_KINDS[n % HOSTILE_KINDS.length]!;
      hostile[kind]++;
      const p = hostileConnection(kind, { port, exports: ['ro', 'rw', 'nonexistent'] }, prng(5000 + n))
        .then((closed) => void (closed && hostileClosedByServer++))
        .catch(() => {});
      running.add(p);
      void p.then(() => running.delete(p));
      await sleep(gap);
    }
    await Promise.all(running);
  })();

  // --- faults: origin down, latency, drops; one server restart midway ---
  const faults = { originDown: 0, latency: 0, drops: 0, serverRestarts: 0, refused: 0, dropped: 0 };
  const restartAt = Date.now() + o.seconds * 450;
  // SIGTERM and a restart on the same port while qemu-img compares are in
  // the middle of the image, no fault before they finish: each must
  // reconnect (reconnect-delay) and still find every byte equal.
  const restartUnderQemu = async () => {
    const running = () => [...ctx.qemuRunning];
    await Promise.all(running().map((q) => q.done)); // runs that may have met a fault
    // Fresh runs, connected and part-way through the image.
    while (ctx.qemuRunning.size === 0 || !running().every((q) => q.progressed)) {
      if (stopped()) return;
      await sleep(100);
    }
    faults.serverRestarts++;
    const spanning = running();
    log(`SIGTERM to smr serve with ${spanning.length} qemu-img compares running, then a restart on the same port`);
    peakRssBytes = Math.max(peakRssBytes, peakRss(served.child.pid!));
    expectingExit = true;
    ctx.restarts.push(Date.now());
    await served.stop();
    expectingExit = false;
    served = await start(port);
    await Promise.all(spanning.map((q) => q.done));
  };
  let restarted = false;
  while (!stopped()) {
    await sleep(3000 + rnd() * 5000);
    if (stopped()) break;
    if (!restarted && Date.now() >= restartAt) {
      restarted = true;
      await restartUnderQemu();
      continue;
    }
    // In turn, so that every kind happens even in a short run.
    const kind = (faults.originDown + faults.latency + faults.drops) % 3;
    if (kind === 0) {
      faults.originDown++;
      await fault(1000 + rnd() * 2000, () => proxy.setDown(true), () => proxy.setDown(false));
    } else if (kind === 1) {
      faults.latency++;
      const ms = 20 + Math.floor(rnd() * 180);
      await fault(2000 + rnd() * 4000, () => proxy.setLatency(ms), () => proxy.setLatency(0));
    } else {
      faults.drops++;
      await fault(0, () => proxy.drop(), () => {});
    }
  }
  await Promise.all(honest);
  await hostileRun;
  await raw.close();
  log('clients done; waiting for the server to let go of everything');

  // Idle connections to the origin are the server's to keep (a read-ahead
  // may still open one); cut them, then every descriptor the clients caused
  // must be gone.
  const pid = served.child.pid!;
  let fdsAtEnd = -1;
  for (let i = 0; i < 100 && fdsAtEnd !== fdsAtStart; i++) {
    proxy.drop();
    await sleep(100);
    fdsAtEnd = fdCount(pid);
  }
  peakRssBytes = Math.max(peakRssBytes, peakRss(pid));
  expectingExit = true;
  await served.stop();
  faults.refused = proxy.counts.refused;
  faults.dropped = proxy.counts.dropped;
  await proxy.close();

  let requestsServed = 0;
  for (const f of statsFiles) requestsServed += JSON.parse(readFileSync(f, 'utf8')).server.requests as number;

  log('durability rounds (kill -9 at a random moment)');
  const durability = await durabilityRounds({
    rounds: o.durabilityRounds ?? 20,
    serveArgs: ['--export', `d=${recipe}`, '--store', `s3://${bucket}/store`, '--writable', '--overlay', join(o.work, 'durable'), '-q'],
    name: 'd',
    env: originEnv,
    // Its own sequence: the same kills for the same seed, however long the soak ran.
    rnd: prng((o.seed ?? 11) + 1),
    log,
  });

  return { seconds: o.seconds, imageBytes, requestsServed, honest: counts, wrongBytes: counts.wrongBytes, crashes, peakRssBytes, fdsAtStart, fdsAtEnd, hostile, hostileClosedByServer, faults, durability };
}
