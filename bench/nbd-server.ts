// bench/nbd-server: our NBD server against qemu-nbd and nbdkit serving the same
// bytes, in one run. Ours serves a ~300 MB in-memory export (random data with
// some holes) from a child process; the peers serve the same bytes from a
// file in /dev/shm (sparse, and for qemu-nbd also fully allocated, "dense").
// Measured: nbdcopy full reads (with and without extents) in MB/s, and fio
// 4 KiB random reads at depth 1 and 32 (IOPS, p99); ratios are ours over
// qemu-nbd's.
//
// Usage: node dist/bench/nbd-server.js [--size MB] [--runtime S] [--repeat N]
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { NbdServer, type BlockExport, type Extent } from '../src/nbd/index.js';
import { layoutExtents, prng, randomBytes, type Layout } from '../test/helpers/nbd-exports.js';

const MB = 1 << 20;

/** Mostly data with a hole of 1-4 MiB every 8-40 MiB, like a filesystem image. */
function benchLayout(size: number, seed: number): Layout {
  const rnd = prng(seed);
  const holes: Array<[number, number]> = [];
  for (let pos = (8 + Math.floor(rnd() * 32)) * MB; pos < size; pos += (8 + Math.floor(rnd() * 32)) * MB) {
    const end = Math.min(size, pos + (1 + Math.floor(rnd() * 4)) * MB);
    holes.push([pos, end]);
    pos = end;
  }
  return { holes };
}

function benchData(size: number, seed: number): { data: Buffer; layout: Layout } {
  const data = randomBytes(seed, size);
  const layout = benchLayout(size, seed);
  for (const [s, e] of layout.holes) data.fill(0, s, e);
  return { data, layout };
}

class MemExport implements BlockExport {
  readonly name = 'bench';
  readonly readOnly = true;
  readonly size: number;
  constructor(
    private readonly data: Buffer,
    private readonly layout: Layout,
  ) {
    this.size = data.length;
  }
  async read(buf: Buffer, offset: number): Promise<void> {
    this.data.copy(buf, 0, offset, offset + buf.length);
  }
  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    return layoutExtents(this.layout, this.size, offset, length);
  }
}

/** Child mode: serve the export until SIGTERM. */
async function serveChild(size: number, seed: number): Promise<void> {
  const { data, layout } = benchData(size, seed);
  const server = new NbdServer({ exports: [new MemExport(data, layout)] });
  const { port } = await server.listen({ port: 0 });
  process.stdout.write(`port ${port}\n`);
  process.on('SIGTERM', () => void server.close({ drainMs: 100 }).then(() => process.exit(0)));
}

async function qemuNbd(file: string): Promise<Served> {
  const port = await freePort();
  const args = ['-r', '-f', 'raw', '-t', '--shared=16', '-b', '127.0.0.1', '-p', String(port), '-x', 'bench', file];
  return start('qemu-nbd', spawn('qemu-nbd', args, { stdio: ['ignore', 'ignore', 'pipe'] }), port);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim()}`))));
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await exec('nbdinfo', ['--size', `nbd://127.0.0.1:${port}/bench`]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing serves nbd://127.0.0.1:${port}/bench`);
}

interface Served {
  name: string;
  uri: string;
  stop(): Promise<void>;
}

async function start(name: string, child: ChildProcess, port: number): Promise<Served> {
  child.stderr?.on('data', (d) => process.stderr.write(`${name}: ${d}`));
  await waitForPort(port);
  return {
    name,
    uri: `nbd://127.0.0.1:${port}/bench`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function startOurs(size: number, seed: number): Promise<Served> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', String(size), String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return start('smr', child, port);
}

interface Result {
  copy: number;
  copyNoExtents: number;
  iops1: number;
  p99us1: number;
  iops32: number;
  p99us32: number;
}

async function nbdcopyMBs(uri: string, size: number, extra: string[], repeat: number): Promise<number> {
  let best = 0;
  for (let i = 0; i < repeat; i++) {
    const t0 = process.hrtime.bigint();
    await exec('nbdcopy', [...extra, uri, 'null:']);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.max(best, size / 1e6 / s);
  }
  return best;
}

async function fio(uri: string, size: number, depth: number, runtime: number): Promise<{ iops: number; p99us: number }> {
  const out = await exec('fio', [
    '--name=bench', '--ioengine=nbd', `--uri=${uri}`, '--rw=randread', '--bs=4k', `--iodepth=${depth}`,
    `--size=${size}`, '--time_based', `--runtime=${runtime}`, '--output-format=json',
  ]);
  const job = (JSON.parse(out.slice(out.indexOf('{'))) as { jobs: Array<{ read: { iops: number; clat_ns: { percentile: Record<string, number> } } }> }).jobs[0]!;
  return { iops: job.read.iops, p99us: job.read.clat_ns.percentile['99.000000']! / 1000 };
}

async function measure(s: Served, size: number, runtime: number, repeat: number): Promise<Result> {
  // Warm up (JIT, page cache, thread pools) the same way for every server.
  await fio(s.uri, size, 32, 1);
  await exec('nbdcopy', [s.uri, 'null:']);
  const copy = await nbdcopyMBs(s.uri, size, [], repeat);
  const copyNoExtents = await nbdcopyMBs(s.uri, size, ['--no-extents'], repeat);
  const r1 = await fio(s.uri, size, 1, runtime);
  const r32 = await fio(s.uri, size, 32, runtime);
  return { copy, copyNoExtents, iops1: r1.iops, p99us1: r1.p99us, iops32: r32.iops, p99us32: r32.p99us };
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--serve') return serveChild(Number(process.argv[3]), Number(process.argv[4]));
  const size = arg('--size', 300) * MB;
  const runtime = arg('--runtime', 5);
  const repeat = arg('--repeat', 5);
  const seed = 42;

  // The same bytes as files for the peers: sparse (holes are real holes, so
  // the peers see them too) and fully allocated. qemu-nbd looks up
  // allocation for every read of a sparse file (lseek SEEK_DATA, slow on
  // tmpfs), so it is measured on both.
  const sparse = `/dev/shm/smr-bench-nbd-${process.pid}.raw`;
  const dense = `/dev/shm/smr-bench-nbd-${process.pid}-dense.raw`;
  const { data, layout } = benchData(size, seed);
  writeFileSync(dense, data);
  const fd = openSync(sparse, 'w');
  ftruncateSync(fd, size);
  let pos = 0;
  for (const [hs, he] of [...layout.holes, [size, size] as [number, number]]) {
    for (let at = pos; at < hs; ) at += writeSync(fd, data, at, Math.min(hs - at, 64 * MB), at);
    pos = he;
  }
  closeSync(fd);

  const holeBytes = layout.holes.reduce((n, [s, e]) => n + e - s, 0);
  console.log(`${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
  console.log(`export: ${(size / MB).toFixed(0)} MiB, ${layout.holes.length} holes (${((100 * holeBytes) / size).toFixed(1)}%); fio runtime ${runtime} s; nbdcopy best of ${repeat}`);
  const results = new Map<string, Result>();
  try {
    const servers: Array<[string, () => Promise<Served>]> = [
      ['smr', () => startOurs(size, seed)],
      ['qemu-nbd', () => qemuNbd(sparse)],
      ['qemu-nbd dense', () => qemuNbd(dense)],
      ['nbdkit', async () => {
        const port = await freePort();
        return start('nbdkit', spawn('nbdkit', ['-f', '-r', '-i', '127.0.0.1', '-p', String(port), '-e', 'bench', 'file', sparse], { stdio: ['ignore', 'ignore', 'pipe'] }), port);
      }],
    ];
    for (const [name, launch] of servers) {
      const s = await launch();
      try {
        results.set(name, await measure(s, size, runtime, repeat));
      } finally {
        await s.stop();
      }
    }
  } finally {
    rmSync(sparse, { force: true });
    rmSync(dense, { force: true });
  }

  const peers = ['qemu-nbd', 'qemu-nbd dense'];
  const row = (label: string, cells: string[]) => console.log(label.padEnd(30) + cells.map((c) => c.padStart(15)).join(''));
  row('', [...results.keys(), 'vs qemu-nbd', 'vs dense']);
  const line = (label: string, get: (r: Result) => number, fmt: (n: number) => string, lowerIsBetter = false) => {
    const smr = get(results.get('smr')!);
    const ratios = peers.map((p) => {
      const q = get(results.get(p)!);
      return `${(lowerIsBetter ? q / smr : smr / q).toFixed(2)}x`;
    });
    row(label, [...results.values()].map((r) => fmt(get(r))).concat(ratios));
  };
  line('nbdcopy (MB/s)', (r) => r.copy, (n) => n.toFixed(0));
  line('nbdcopy --no-extents (MB/s)', (r) => r.copyNoExtents, (n) => n.toFixed(0));
  line('fio 4K randread QD1 (IOPS)', (r) => r.iops1, (n) => n.toFixed(0));
  line('fio 4K randread QD1 p99 (us)', (r) => r.p99us1, (n) => n.toFixed(0), true);
  line('fio 4K randread QD32 (IOPS)', (r) => r.iops32, (n) => n.toFixed(0));
  line('fio 4K randread QD32 p99 (us)', (r) => r.p99us32, (n) => n.toFixed(0), true);
  console.log('targets: sequential >= 1.0x, QD32 >= 1.0x, QD1 >= 0.8x (higher is better; p99 ratios are qemu-nbd/smr)');
}

await main();
