// Booting a guest from an NBD export and running one command in it: the
// cached kernel + initramfs, the request appended as a second archive, the
// accelerator chosen, the console read, and the result with phase timings.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SmrError } from '../util/errors.js';
import { chooseAccel, type AccelChoice } from './accel.js';
import { aptFor } from './apt-root.js';
import { vmCacheDir } from './cache-dir.js';
import { ConsoleReader } from './console.js';
import { ARCH, archCacheDir, hostArch, type GuestArch } from './guest-arch.js';
import { prepareInitramfs, type Initramfs } from './initramfs.js';
import { ensureCacheDir, prepareKernel, type Kernel } from './kernel.js';
import { guestModules } from './kernel-modules.js';
import { qemuArgs, type Accel } from './qemu-args.js';
import { startQemu } from './qemu-process.js';
import { openPipes, type HostPipes } from './pipes.js';
import { encodeRequest, type GuestRequest } from './request.js';
import { missingTool, onPath } from './tool.js';

/** Exit statuses besides the command's own (as timeout(1) and docker run use them). */
export const STATUS_TIMEOUT = 124;
export const STATUS_VM_FAILED = 125;
export const STATUS_ABORTED = 130;

export interface Guest {
  arch: GuestArch;
  kernel: Kernel;
  initramfs: Initramfs;
  /** What boots: the uncompressed vmlinux (PVH entry) when there is one. */
  bootImage: string;
}

export interface PrepareOptions {
  cacheDir?: string;
  /** The guest's architecture (default the host's; another is emulated). */
  arch?: GuestArch;
  /** A linux-image-* package instead of what linux-image-ARCH points at. */
  kernelPackage?: string;
  refresh?: boolean;
  log?: (msg: string) => void;
}

/** The guest architecture OPTS ask for: the host's by default. */
export function guestArch(opts: { arch?: GuestArch }): GuestArch {
  const arch = opts.arch ?? hostArch();
  if (!arch) throw new SmrError('USAGE', `smr boots amd64 and arm64 guests; this ${process.arch} host needs --arch (emulated)`);
  return arch;
}

/** Kernel and initramfs in the cache, fetched and built first when missing. */
export async function prepareGuest(opts: PrepareOptions = {}): Promise<Guest> {
  const arch = guestArch(opts);
  const cache = archCacheDir(vmCacheDir(opts.cacheDir), arch);
  await ensureCacheDir(cache);
  const apt = await aptFor(arch, cache);
  let kernel: Kernel;
  try {
    kernel = await prepareKernel(cache, { arch, apt, package: opts.kernelPackage, refresh: opts.refresh, log: opts.log });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SmrError('KERNEL_MISSING', `no guest kernel in ${cache} and fetching Debian's failed: ${why} (needs Debian's apt-get and dpkg-deb, and ${ARCH[arch].kernelMeta} in the apt sources)`);
  }
  const initramfs = await prepareInitramfs(cache, kernel, apt);
  return { arch, kernel, initramfs, bootImage: kernel.vmlinux ?? kernel.vmlinuz };
}

export interface BootOptions extends PrepareOptions {
  /** nbd://HOST:PORT/EXPORT or nbd+unix:///EXPORT?socket=PATH */
  disk: string;
  /** A kernel of one's own instead of Debian's (for the guest's architecture; it needs virtio-mmio, virtio-blk and ext4, built in or as modules of initrdFile). */
  kernelFile?: string;
  /** An initramfs of one's own instead of ours; it must speak our /init's protocol (init-script.ts). */
  initrdFile?: string;
  /** QEMU user-mode networking for the guest (eth0 10.0.2.15, host 10.0.2.2, DNS 10.0.2.3). */
  net?: boolean;
  request: GuestRequest;
  memoryMiB?: number;
  cpus?: number;
  accel?: AccelChoice;
  /** Kernel and init messages to onLog, kernel log level 7. */
  verbose?: boolean;
  /** The command's stdin (request.stdin 'ports'): raw bytes; its end is an end of file. */
  stdin?: NodeJS.ReadableStream;
  /** The command's output (stdout and stderr merged, as on a console; with request.stdin 'ports', stdout apart). */
  onOutput?: (data: Buffer) => void;
  /** Lines outside the command's output, when verbose, and notices. */
  onLog?: (line: string) => void;
  /** Give up when the command has not started after this long (default 300 s). */
  bootTimeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface BootTimings {
  /** Whole run, from spawning QEMU to its exit. */
  wallMs: number;
  /** QEMU start until the guest kernel started (host time minus guest uptime at init). */
  vmStartMs?: number;
  kernelToInitMs?: number;
  initToCommandMs?: number;
  commandMs?: number;
}

export interface BootResult {
  outcome: 'exited' | 'timeout' | 'vm-failed' | 'aborted';
  /** The command's exit status, or STATUS_TIMEOUT / STATUS_VM_FAILED / STATUS_ABORTED. */
  status: number;
  arch: GuestArch;
  /** QEMU's machine: microvm (amd64) or virt (arm64). */
  machine: string;
  accel: Accel;
  /** Why the VM failed, in one line. */
  error?: string;
  /** The console's last lines, when the guest failed before reaching init. */
  logTail?: string[];
  timings: BootTimings;
}

export function checkNbdUrl(url: string): void {
  if (!/^nbd(\+tcp|\+unix)?:\/\//.test(url)) {
    throw new SmrError('USAGE', `'${url}' is not an NBD URL (nbd://HOST:PORT/EXPORT or nbd+unix:///EXPORT?socket=PATH)`);
  }
  if (url.startsWith('nbd+unix:') && !/[?&]socket=/.test(url)) throw new SmrError('USAGE', `'${url}' has no ?socket=PATH`);
}

const ms = (s: number) => Math.round(s * 1000);

/** How long a guest may take to sync and power off after the command ended. */
const POWER_OFF_GRACE_S = 30;

/** QEMU for an ARCH guest on PATH, or a one-line error naming the package to install. */
export function checkQemu(arch: GuestArch): void {
  if (!onPath(ARCH[arch].qemu)) throw missingTool(ARCH[arch].qemu);
}

export async function boot(opts: BootOptions): Promise<BootResult> {
  checkNbdUrl(opts.disk);
  const arch = guestArch(opts);
  const { qemu, machine } = ARCH[arch];
  checkQemu(arch);
  const log = opts.onLog ?? (() => {});
  const cache = archCacheDir(vmCacheDir(opts.cacheDir), arch);
  let kernel = opts.kernelFile && resolve(opts.kernelFile);
  let initramfs = opts.initrdFile && resolve(opts.initrdFile);
  let id = `${kernel} ${initramfs}`;
  let modules: string | undefined;
  if (!kernel || !initramfs) {
    const guest = await prepareGuest({ ...opts, log });
    if (!kernel) modules = guest.kernel.modules;
    id = `${kernel ?? guest.kernel.package} ${initramfs ?? guest.initramfs.path}`;
    kernel ??= guest.bootImage;
    initramfs ??= guest.initramfs.path;
  } else {
    await ensureCacheDir(cache);
  }
  for (const f of [kernel, initramfs]) if (!existsSync(f)) throw new SmrError('USAGE', `${f} does not exist`);
  const accel = await chooseAccel(opts.accel ?? 'auto', cache, { arch, id, kernel, initramfs }, log);
  const ran = { arch, machine, accel };
  const verbose = Boolean(opts.verbose);
  // virtio-net travels with this boot's request: the cached initramfs stays the same for every boot.
  const net = opts.net ? { modules: modules ? await guestModules(modules, ['virtio_net']) : [] } : undefined;
  const piped = opts.request.stdin === 'ports';
  const portModules = piped && modules ? await guestModules(modules, ['virtio_console']) : [];
  const req = encodeRequest(opts.request, { mode: 'run', bus: 'mmio', verbose }, { net, portModules });
  const onOutput = opts.onOutput ?? ((d: Buffer) => process.stdout.write(d));

  const dir = await mkdtemp(join(tmpdir(), 'smr-boot-'));
  let pipes: HostPipes | undefined;
  try {
    const initrd = join(dir, 'initrd.cpio');
    await writeFile(initrd, Buffer.concat([await readFile(initramfs), req.cpio]));
    pipes = piped ? await openPipes(dir, opts.stdin, onOutput) : undefined;
    const args = qemuArgs({ arch, accel, kernel, initrd, disk: opts.disk, writable: opts.request.writable, memoryMiB: opts.memoryMiB ?? 512, cpus: opts.cpus ?? 1, verbose, net: opts.net, pipes: pipes?.paths });
    if (verbose) log(`${qemu} ${args.map((a) => (/[\s,']/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
    if (opts.signal?.aborted) return { outcome: 'aborted', status: STATUS_ABORTED, ...ran, timings: { wallMs: 0 } };

    const reader = new ConsoleReader(req.nonce, onOutput, verbose ? log : undefined);
    const t0 = performance.now();
    let commandTimer: NodeJS.Timeout | undefined;
    let offTimer: NodeJS.Timeout | undefined;
    const q = startQemu(qemu, args, (d) => {
      const started = reader.markers.start !== undefined;
      const ended = reader.markers.exit !== undefined;
      reader.feed(d);
      if (!ended && reader.markers.exit !== undefined) {
        clearTimeout(commandTimer);
        // The status is known; a guest that cannot power off (say, sync
        // waiting on a disk that stopped answering) must not hold us.
        offTimer = setTimeout(() => {
          log(`the guest did not power off ${POWER_OFF_GRACE_S} s after the command ended; stopping it`);
          q.kill('no power-off');
        }, POWER_OFF_GRACE_S * 1000);
      }
      if (!started && reader.markers.start !== undefined) {
        clearTimeout(bootTimer);
        // The guest kills the command at its timeout; this only catches a guest that stops answering.
        const t = opts.request.timeoutSeconds;
        if (t) commandTimer = setTimeout(() => q.kill('timeout'), (t + 30) * 1000);
      }
    });
    const bootTimer = setTimeout(() => q.kill('boot timeout'), (opts.bootTimeoutSeconds ?? 300) * 1000);
    const onAbort = () => q.kill('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const exit = await q.done.finally(() => {
      clearTimeout(bootTimer);
      clearTimeout(commandTimer);
      clearTimeout(offTimer);
      opts.signal?.removeEventListener('abort', onAbort);
    });
    await pipes?.close();
    reader.end();
    const t1 = performance.now();

    const m = reader.markers;
    const timings: BootTimings = { wallMs: Math.round(t1 - t0) };
    if (m.init !== undefined && m.initSeenAt !== undefined) {
      timings.vmStartMs = Math.max(0, Math.round(m.initSeenAt - t0 - m.init * 1000));
      timings.kernelToInitMs = ms(m.init);
    }
    if (m.init !== undefined && m.start !== undefined) timings.initToCommandMs = ms(m.start - m.init);
    if (m.start !== undefined && m.exit !== undefined) timings.commandMs = ms(m.exit - m.start);

    if (m.status !== undefined && !Number.isNaN(m.status)) {
      return m.timedOut ? { outcome: 'timeout', status: STATUS_TIMEOUT, ...ran, error: `the command was killed after ${opts.request.timeoutSeconds} s`, timings } : { outcome: 'exited', status: m.status, ...ran, timings };
    }
    if (exit.killed === 'aborted') return { outcome: 'aborted', status: STATUS_ABORTED, ...ran, error: 'aborted', timings };
    if (exit.killed === 'timeout' || exit.killed === 'boot timeout') {
      const what = exit.killed === 'timeout' ? 'the command did not finish in time' : `the command had not started after ${opts.bootTimeoutSeconds ?? 300} s`;
      return { outcome: 'timeout', status: STATUS_TIMEOUT, ...ran, error: what, logTail: reader.logTail(), timings };
    }
    const qemuSays = exit.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/terminating on signal/.test(l))
      .pop();
    const error = m.error ?? (qemuSays ? qemuSays.replace(/^qemu-system-[\w-]+: /, 'qemu: ') : m.init === undefined ? 'the guest never reached init' : `the VM ended without reporting the command's exit (qemu exit ${exit.code ?? exit.signal})`);
    return { outcome: 'vm-failed', status: STATUS_VM_FAILED, ...ran, error, logTail: m.init === undefined ? reader.logTail() : undefined, timings };
  } finally {
    await pipes?.close();
    await rm(dir, { recursive: true, force: true });
  }
}
