// smr boot: run one command in a micro-VM whose root disk is an NBD export
// (e.g. from smr serve). The exit status is the command's.
import { boot, isForeign, parseGuestArch, prepareGuest, STATUS_VM_FAILED, type AccelChoice, type BootResult } from '../vm/index.js';
import { isSmrError } from '../util/errors.js';
import { formatBytes } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';

export function positiveInt(text: string | undefined, what: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${what}: '${text}' is not a whole number from 1 to ${max}`);
  return n;
}

export const seconds = (ms: number | undefined) => (ms === undefined ? '?' : `${(ms / 1000).toFixed(2)} s`);

/** The guest's phases, shared by boot's and run's --timing. */
export function stageTimings(r: BootResult): string {
  const t = r.timings;
  return `VM ${seconds(t.wallMs)}: vm start ${seconds(t.vmStartMs)}, kernel->init ${seconds(t.kernelToInitMs)}, init->command ${seconds(t.initToCommandMs)}, command ${seconds(t.commandMs)}`;
}

/** Which guest ran on what: "arm64 guest on QEMU virt (emulated)". */
export function machineLine(r: BootResult): string {
  return `${r.arch} guest on QEMU ${r.machine}${isForeign(r.arch) ? ' (emulated)' : ''}`;
}

function timingLine(r: BootResult): string {
  return `smr boot: status ${r.status} (${r.outcome}), ${machineLine(r)}, accel ${r.accel}, ${stageTimings(r)}`;
}

export const bootCommand: Command = {
  name: 'boot',
  help: `Usage: smr boot NBD_URL [options] -- CMD [ARG...]
       smr boot --prepare [--cache DIR] [--arch ARCH]

Boots Debian's kernel under QEMU (microvm; KVM when it can run the kernel,
else TCG) with the NBD export as its root disk (virtio-blk through QEMU's
NBD client), and runs CMD in it with the environment, working directory and
user applied as docker run applies them. CMD's output (stdout and stderr
together: the guest's console) streams to stdout. Exit status: CMD's; 124
when it timed out, 125 when smr boot or the VM failed (as docker run), 130
when interrupted.

NBD_URL is nbd://HOST:PORT/EXPORT or nbd+unix:///EXPORT?socket=PATH.

The kernel (apt-get download of linux-image-ARCH's kernel, never installed)
and the initramfs are fetched and built on first use into the cache
(--cache, else $SMR_VM_CACHE, else ~/.cache/stream-my-root/vm; another
architecture than amd64 in its subdirectory ARCH).

--arch arm64 boots an arm64 guest on QEMU's virt machine (qemu-system-arm):
with KVM on an arm64 host that can, else emulated (TCG, slow); its packages
come through a private apt state for that architecture in the cache.

Options:
  -e, --env K=V          environment entry (repeatable); PATH and HOME get
                         docker's defaults when not given
  -w, --workdir DIR      working directory in the image (default /)
  -u, --user USER[:GROUP]  name or uid, as docker run --user (default root)
      --hostname NAME    guest hostname (default localhost)
      --writable         mount the root read-write (needs a writable export)
      --timeout S        kill the command after S seconds
      --memory MiB       guest memory (default 512)
      --cpus N           virtual CPUs (default 1)
      --accel A          auto (default), kvm or tcg
      --arch ARCH        the guest's architecture, amd64 or arm64 (default
                         this machine's)
      --cache DIR        kernel and initramfs cache
      --prepare          only fetch and build the kernel and initramfs
      --timing           print the phase timings on stderr
  -v, --verbose          show the kernel's and init's messages and the QEMU command
  -h, --help             this help`,

  run: withVmFailureStatus('boot', (argv) => runBoot(argv)),
};

/**
 * As docker run does: failures of smr itself (an SmrError) exit 125, so that
 * they cannot be taken for the guest command's own status.
 */
export function withVmFailureStatus(name: string, run: (argv: string[]) => Promise<number>): (argv: string[]) => Promise<number> {
  return async (argv) => {
    try {
      return await run(argv);
    } catch (e) {
      if (!isSmrError(e)) throw e;
      process.stderr.write(`smr ${name}: ${e.message}\n`);
      return STATUS_VM_FAILED;
    }
  };
}

async function runBoot(argv: string[]): Promise<number> {
  const dashes = argv.indexOf('--');
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  const { values, positionals } = parse('boot', own, {
    env: { type: 'string', short: 'e', multiple: true },
    workdir: { type: 'string', short: 'w' },
    user: { type: 'string', short: 'u' },
    hostname: { type: 'string' },
    writable: { type: 'boolean' },
    timeout: { type: 'string' },
    memory: { type: 'string' },
    cpus: { type: 'string' },
    accel: { type: 'string' },
    arch: { type: 'string' },
    cache: { type: 'string' },
    prepare: { type: 'boolean' },
    timing: { type: 'boolean' },
    verbose: { type: 'boolean', short: 'v' },
  });
  const verbose = Boolean(values.verbose);
  const note = (line: string) => process.stderr.write(`${line}\n`);
  const cacheDir = values.cache as string | undefined;
  const arch = values.arch === undefined ? undefined : parseGuestArch(values.arch as string, '--arch');

  if (values.prepare) {
    if (positionals.length || dashes >= 0) throw new UsageError('--prepare takes no NBD_URL or command');
    const t0 = performance.now();
    const g = await prepareGuest({ arch, cacheDir, log: (m) => note(`smr boot: ${m}`) });
    note(`smr boot: ready in ${seconds(performance.now() - t0)}: ${g.arch} ${g.kernel.package}, ${g.bootImage} and ${g.initramfs.path} (${formatBytes(g.initramfs.size)})`);
    return 0;
  }

  const [url, ...rest] = positionals;
  const cmd = dashes < 0 ? rest : [...rest, ...argv.slice(dashes + 1)];
  if (!url) throw new UsageError("give an NBD_URL and a command (see 'smr boot --help')");
  if (cmd.length === 0) throw new UsageError("give the command to run after '--' (see 'smr boot --help')");
  const accel = (values.accel as string | undefined) ?? 'auto';
  if (!['auto', 'kvm', 'tcg'].includes(accel)) throw new UsageError(`--accel: '${accel}' is not auto, kvm or tcg`);
  const timeout = positiveInt(values.timeout as string | undefined, '--timeout', 86_400);

  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const r = await boot({
      disk: url,
      request: {
        argv: cmd,
        env: values.env as string[] | undefined,
        workingDir: values.workdir as string | undefined,
        user: values.user as string | undefined,
        hostname: values.hostname as string | undefined,
        writable: Boolean(values.writable),
        timeoutSeconds: timeout,
      },
      memoryMiB: positiveInt(values.memory as string | undefined, '--memory', 1 << 20),
      cpus: positiveInt(values.cpus as string | undefined, '--cpus', 64),
      arch,
      accel: accel as AccelChoice,
      cacheDir,
      verbose,
      onLog: (line) => note(line),
      signal: abort.signal,
    });
    if (r.outcome !== 'exited') {
      if (!verbose && r.logTail?.length) note(`smr boot: the guest's last console lines:\n${r.logTail.join('\n')}`);
      note(`smr boot: ${r.error ?? r.outcome}`);
    }
    if (values.timing) note(timingLine(r));
    return r.status;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
