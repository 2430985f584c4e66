// The honest clients of the chaos soak, each a loop until `stopped()`:
// our NBD client reading random ranges and comparing every byte with the
// raw image, qemu-img compare through a reconnecting NBD driver, and fio
// writing and verifying through a writable export. Each counts what it saw;
// none throws.
import { spawn } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { C, RawClient } from './nbd-client.js';
import { run } from './run.js';

export interface HonestCounts {
  reads: number;
  bytesRead: number;
  wrongBytes: number;
  /** Reads answered with an error (EIO while the origin could not be reached). */
  failedReads: number;
  /** Failed reads whose time span touched no fault window. */
  failedReadsOutsideFaults: number;
  reconnects: number;
  /** Connection attempts refused or cut during the handshake (a restart, a full server). */
  connectFailures: number;
  qemuCompares: number;
  qemuMismatches: number;
  qemuErrors: number;
  /** qemu-img compares that were running when the server restarted (and reconnected). */
  qemuAcrossRestart: number;
  fioRuns: number;
  fioVerifyFailures: number;
  fioInterrupted: number;
}

export const emptyCounts = (): HonestCounts => ({
  reads: 0,
  bytesRead: 0,
  wrongBytes: 0,
  failedReads: 0,
  failedReadsOutsideFaults: 0,
  reconnects: 0,
  connectFailures: 0,
  qemuCompares: 0,
  qemuMismatches: 0,
  qemuErrors: 0,
  qemuAcrossRestart: 0,
  fioRuns: 0,
  fioVerifyFailures: 0,
  fioInterrupted: 0,
});

export interface ClientContext {
  port: number;
  counts: HonestCounts;
  stopped(): boolean;
  /** Whether a fault was active at any time in [from, to] (ms since epoch). */
  faultedBetween(from: number, to: number): boolean;
  /** When the server was restarted (ms since epoch). */
  restarts: number[];
  /** qemu-img compares running now (the restart waits for them, faults held off). */
  qemuRunning: Set<QemuRun>;
  /** Notes for the log (why a client run failed). */
  note?(m: string): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function differingBytes(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/** Random reads of `name` (up to 256 KiB, 512-aligned), each compared with the raw image. */
export async function readerLoop(ctx: ClientContext, name: string, raw: FileHandle, size: number, rnd: () => number): Promise<void> {
  while (!ctx.stopped()) {
    let client: RawClient;
    try {
      client = await RawClient.connect({ port: ctx.port });
      await client.open(name);
    } catch {
      ctx.counts.connectFailures++;
      await sleep(200);
      continue;
    }
    try {
      while (!ctx.stopped()) {
        const length = 512 * (1 + Math.floor(rnd() * 512));
        const offset = 512 * Math.floor(rnd() * ((size - length) / 512));
        const from = Date.now();
        client.request(C.CMD_READ, offset, length, { cookie: BigInt(ctx.counts.reads + 1) });
        // Generous: a read may wait out the origin's retries and a server restart.
        const r = await client.simpleReply(length).catch(() => null);
        if (!r) break; // closed (server restart, drained) or stuck: reconnect
        ctx.counts.reads++;
        if (r.error !== 0) {
          ctx.counts.failedReads++;
          if (!ctx.faultedBetween(from, Date.now())) ctx.counts.failedReadsOutsideFaults++;
          continue;
        }
        const want = Buffer.alloc(length);
        await raw.read(want, 0, length, offset);
        ctx.counts.bytesRead += length;
        ctx.counts.wrongBytes += differingBytes(r.data, want);
      }
    } finally {
      client.close();
    }
    if (!ctx.stopped()) ctx.counts.reconnects++;
  }
}

/** NBD block driver options for qemu, reconnecting for up to `delay` seconds. */
export function qemuNbdOpts(port: number, name: string, delay = 30): string {
  return `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port},export=${name},reconnect-delay=${delay}`;
}

export interface QemuRun {
  done: Promise<number | null>;
  /** Whether it has compared some of the image (so it is connected and reading). */
  progressed: boolean;
}

/** One qemu-img compare, its progress (-p) watched; resolves to the exit code. */
function qemuCompare(port: number, name: string, rawPath: string, onError: (line: string) => void): QemuRun {
  const child = spawn('qemu-img', ['compare', '-p', '--image-opts', qemuNbdOpts(port, name), `driver=raw,file.driver=file,file.filename=${rawPath}`], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmpdir() });
  const q: QemuRun = { done: Promise.resolve(null), progressed: false };
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    for (const m of d.matchAll(/\((\d+\.\d+)\/100%\)/g)) if (Number(m[1]) > 0) q.progressed = true;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  q.done = new Promise((resolve) => {
    child.on('error', () => resolve(null));
    child.on('close', (code) => {
      if (code !== 0) onError(`qemu-img compare failed (exit ${code}): ${err.trim().split('\n').slice(-1)[0]}`);
      resolve(code);
    });
  });
  return q;
}

/** qemu-img compare of the export against the raw image, again and again. */
export async function qemuCompareLoop(ctx: ClientContext, name: string, rawPath: string): Promise<void> {
  while (!ctx.stopped()) {
    const from = Date.now();
    const q = qemuCompare(ctx.port, name, rawPath, (m) => ctx.note?.(m));
    ctx.qemuRunning.add(q);
    const code = await q.done;
    ctx.qemuRunning.delete(q);
    ctx.counts.qemuCompares++;
    const across = ctx.restarts.some((t) => from < t && t < Date.now());
    if (across && code === 0) ctx.counts.qemuAcrossRestart++;
    // 0: identical; 1: different (wrong bytes); anything else: a read failed.
    if (code === 1) ctx.counts.qemuMismatches++;
    else if (code !== 0) {
      ctx.counts.qemuErrors++;
      await sleep(500);
    }
  }
}

/** fio random writes with crc32c verify, in its own region of a writable export. */
export async function fioLoop(ctx: ClientContext, name: string, region: { offset: number; size: number }): Promise<void> {
  while (!ctx.stopped()) {
    const r = await run('fio', [
      '--name=soak', '--ioengine=nbd', `--uri=nbd://127.0.0.1:${ctx.port}/${name}`, '--rw=randwrite', '--bs=4k', '--iodepth=8',
      `--offset=${region.offset}`, `--size=${region.size}`, '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--output-format=json',
    ]);
    ctx.counts.fioRuns++;
    if (r.code === 0) continue;
    // fio reports a verify failure as EILSEQ (84) and "verify:" lines; a
    // dropped connection as an I/O error, which is an interruption.
    let error = 0;
    try {
      error = Number(JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs?.[0]?.error ?? 0);
    } catch {
      // no JSON: fio did not get going (the server was restarting)
    }
    if (error === 84 || /verify: bad|bad magic|crc32c: verify failed/i.test(r.stderr + r.stdout)) ctx.counts.fioVerifyFailures++;
    else {
      ctx.counts.fioInterrupted++;
      ctx.note?.(`fio interrupted (exit ${r.code}, error ${error}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      await sleep(500);
    }
  }
}
