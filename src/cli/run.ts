// smr run: a container image booted as a micro-VM, lazily. The image is
// converted on first use into the run cache (src/run/image-cache.ts), served
// in-process over a private unix socket through a fresh copy-on-write
// overlay (src/serve/session.ts), and booted with src/vm; the image config
// applies as docker run applies it (src/run/container-config.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { containerDefaults, containerRequest } from '../run/container-config.js';
import { prepareImage, runCacheLayout } from '../run/image-cache.js';
import { start, type Session, type SessionStats } from '../serve/session.js';
import { isRemoteRecipe } from '../store/recipe-io.js';
import { formatBytes } from '../util/progress.js';
import { parsePlatform } from '../oci/index.js';
import { boot, checkQemu, guestArchOf, hostArch, isForeign, prepareGuest, STATUS_ABORTED, type AccelChoice, type BootResult, type GuestArch } from '../vm/index.js';
import { parse, parseSize, UsageError, type Command } from './args.js';
import { machineLine, positiveInt, seconds, stageTimings, withVmFailureStatus } from './boot.js';
import { keyOption, remoteOption, storeOption, storeSettings } from './chunk-options.js';
import { SOURCE_HELP } from './source-options.js';

export const runCommand: Command = {
  name: 'run',
  help: `Usage: smr run SOURCE [options] [-- CMD [ARG...]]
       smr run RECIPE --store STORE [options] -- CMD [ARG...]

Boots SOURCE as a QEMU micro-VM and runs its command as docker run would:
Entrypoint and Cmd (CMD replaces Cmd, --entrypoint the Entrypoint), Env
plus -e, WorkingDir or -w, User or -u (names from the image's /etc/passwd
and /etc/group). The command's output (stdout and stderr together: the
guest's console) streams to stdout. Exit status: the command's; 124 when it
timed out, 125 when smr run or the VM failed, 130 when interrupted.

An image is converted on its first run into the image cache (one chunk store
for all images, so an image sharing a base with one already run adds only
its new chunks; recipes named by manifest digest and platform); later runs
resolve the reference to its digest and convert nothing. The image is served
in-process over a private unix socket, only the blocks the guest reads are
fetched, and the guest's writes go to a copy-on-write overlay discarded at
exit. Without KVM that can boot the kernel, QEMU emulates (TCG).

The guest is of this machine's architecture (amd64: QEMU's microvm; arm64:
its virt machine). An image of the other one runs when asked for with
--platform (e.g. linux/arm64 on an x86-64 host), emulated and slow; it needs
that architecture's QEMU (qemu-system-arm for arm64) and fetches its kernel
and busybox into --vm-cache on first use.

${SOURCE_HELP}
With --store, SOURCE is a recipe in that store (converted with smr convert).

Options:
  -e, --env K=V          environment entry (repeatable; K alone: this
                         environment's value)
  -w, --workdir DIR      working directory in the image
  -u, --user USER[:GROUP]  name or uid, as docker run --user
      --entrypoint CMD   replaces the image's Entrypoint (and its Cmd)
      --hostname NAME    guest hostname (default: a random container id)
  -i, --interactive      pass stdin to the command (else it reads nothing);
                         its stdin and stdout are then raw byte pipes
                         (virtio-serial), its stderr the console
      --net              QEMU user-mode networking: the guest is 10.0.2.15
                         behind NAT, the host 10.0.2.2 (default: no network)
      --timeout S        kill the command after S seconds (status 124)
      --memory MiB       guest memory (default 512)
      --cpus N           virtual CPUs (default 1)
      --accel A          auto (default), kvm or tcg
      --keep-overlay DIR keep the guest's writes in DIR (reused by a later
                         run given the same DIR)
      --timing           print the phase timings and the chunks fetched per
                         tier on stderr
      --trace-out FILE   record the order chunks are first read
      --prefetch FILE    fetch a recorded trace's chunks ahead of the guest
      --image-cache DIR  converted images: DIR/chunks and DIR/recipes
                         (default ~/.cache/stream-my-root)
      --blob-cache DIR   downloaded registry blobs (default the same)
      --chunk-cache DIR  disk cache of chunks read from the store
      --chunk-cache-size SIZE  its bound (default 10G)
      --cache-mem SIZE   memory cache of chunks (default 256M)
      --vm-cache DIR     guest kernel and initramfs (default
                         ~/.cache/stream-my-root/vm, or $SMR_VM_CACHE)
      --kernel FILE      boot this kernel instead of Debian's (it needs
                         virtio-mmio, virtio-blk and ext4 built in, or as
                         modules in --initrd)
      --initrd FILE      an initramfs of one's own; it must run smr's /init
                         protocol (see src/vm/init-script.ts)
  -s, --store STORE      SOURCE is a recipe (path, s3:// or http(s) URL) whose
                         chunks are in STORE (dir:PATH or PATH, s3://BUCKET[/PREFIX],
                         http(s)://BASE)
${remoteOption.help}
${keyOption.help}
      --platform OS/ARCH[/VARIANT]  which image of a multi-platform index, and
                         the guest's architecture (linux/amd64 or
                         linux/arm64; another than this machine's is emulated)
      --insecure         allow plain HTTP to registries other than localhost
      --auth-file FILE   registry credentials (default: ~/.docker/config.json)
  -q, --quiet            no notices (conversion, kernel download)
  -v, --verbose          the kernel's and init's messages, the QEMU command
  -h, --help             this help`,

  run: withVmFailureStatus('run', (argv) => runRun(argv)),
};

const note = (line: string) => process.stderr.write(`smr run: ${line}\n`);

/** The guest architecture: --platform's when given (another than the host's is emulated), else the host's. */
function runArch(platform: string | undefined): GuestArch {
  const arch = platform === undefined ? hostArch() : guestArchOf(parsePlatform(platform).architecture);
  if (!arch) throw new UsageError(`guests are linux/amd64 or linux/arm64, not ${platform ?? `this ${process.arch} machine's`}`);
  return arch;
}

function fetchedLine(s: SessionStats): string {
  const tiers = Object.entries(s.fetched).map(([tier, f]) => `${f.chunks} from the ${tier === 'origin' ? 'store' : `${tier} cache`} (${formatBytes(f.bytes)})`);
  const ahead = Object.values(s.prefetch).map((p) => `${p.fetched} of them fetched ahead by --prefetch`);
  return `chunks: ${[...tiers, ...ahead, `${s.cache.memoryHits} memory-cache hits`].join(', ')}`;
}

async function runRun(argv: string[]): Promise<number> {
  const dashes = argv.indexOf('--');
  const { values, positionals } = parse('run', dashes < 0 ? argv : argv.slice(0, dashes), {
    env: { type: 'string', short: 'e', multiple: true },
    workdir: { type: 'string', short: 'w' },
    user: { type: 'string', short: 'u' },
    entrypoint: { type: 'string' },
    hostname: { type: 'string' },
    interactive: { type: 'boolean', short: 'i' },
    timeout: { type: 'string' },
    memory: { type: 'string' },
    cpus: { type: 'string' },
    accel: { type: 'string' },
    'keep-overlay': { type: 'string' },
    timing: { type: 'boolean' },
    'trace-out': { type: 'string' },
    prefetch: { type: 'string' },
    'image-cache': { type: 'string' },
    'blob-cache': { type: 'string' },
    'chunk-cache': { type: 'string' },
    'chunk-cache-size': { type: 'string' },
    'cache-mem': { type: 'string' },
    'vm-cache': { type: 'string' },
    kernel: { type: 'string' },
    initrd: { type: 'string' },
    net: { type: 'boolean' },
    ...storeOption.spec,
    platform: { type: 'string' },
    insecure: { type: 'boolean' },
    'auth-file': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    verbose: { type: 'boolean', short: 'v' },
    ...keyOption.spec,
  });
  const [source, ...extra] = positionals;
  if (!source) throw new UsageError("give an image (see 'smr run --help')");
  const command = [...extra, ...(dashes < 0 ? [] : argv.slice(dashes + 1))];
  const accel = (values.accel as string | undefined) ?? 'auto';
  if (!['auto', 'kvm', 'tcg'].includes(accel)) throw new UsageError(`--accel: '${accel}' is not auto, kvm or tcg`);
  const timeout = positiveInt(values.timeout as string | undefined, '--timeout', 86_400);
  const memoryMiB = positiveInt(values.memory as string | undefined, '--memory', 1 << 20);
  const cpus = positiveInt(values.cpus as string | undefined, '--cpus', 64);
  const memoryCacheBytes = parseSize((values['cache-mem'] as string | undefined) ?? '256M', '--cache-mem');
  const chunkCacheDir = values['chunk-cache'] as string | undefined;
  const chunkCache = chunkCacheDir ? { dir: chunkCacheDir, maxBytes: parseSize((values['chunk-cache-size'] as string | undefined) ?? '10G', '--chunk-cache-size') } : undefined;
  const quiet = Boolean(values.quiet);
  const verbose = Boolean(values.verbose);
  const info = (line: string) => quiet || note(line);
  const vmCache = values['vm-cache'] as string | undefined;
  const arch = runArch(values.platform as string | undefined);
  const foreign = isForeign(arch);

  // Ctrl-C and SIGTERM: before anything is served there is nothing to
  // clean up (a store takes chunks atomically), so exit at once; later,
  // stop the VM and clean up below.
  const abort = new AbortController();
  let serving = false;
  const stop = () => {
    if (serving) return abort.abort();
    note('interrupted');
    process.exit(STATUS_ABORTED);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let session: Session | undefined;
  let work: string | undefined;
  try {
    // What the host needs, before any conversion work.
    checkQemu(arch);
    if (values.initrd && !values.kernel) throw new UsageError('--initrd needs --kernel');
    if (!values.kernel || !values.initrd) await prepareGuest({ arch, cacheDir: vmCache, log: info });

    // --- resolve (and convert on first use) ---
    const t0 = performance.now();
    const overrides = {
      command,
      entrypoint: values.entrypoint as string | undefined,
      env: (values.env as string[] | undefined) ?? [],
      workdir: values.workdir as string | undefined,
      user: values.user as string | undefined,
      hostname: values.hostname as string | undefined,
    };
    let store: string;
    let recipePath: string;
    let config;
    if (values.store) {
      if (command.length === 0 && !values.entrypoint) throw new UsageError('a recipe carries no image config (Entrypoint, Cmd, Env): give the command after --');
      store = values.store as string;
      recipePath = isRemoteRecipe(source) ? source : resolve(source);
    } else {
      const cache = runCacheLayout(values['image-cache'] ? resolve(values['image-cache'] as string) : undefined);
      const image = await prepareImage(source, {
        cache,
        platform: values.platform as string | undefined,
        cacheDir: values['blob-cache'] as string | undefined,
        insecure: Boolean(values.insecure),
        authFile: values['auth-file'] as string | undefined,
        check: (c) => containerRequest(containerDefaults(c), overrides),
        log: info,
      });
      if (image.converted) {
        const c = image.converted;
        info(`converted: ${c.chunks} chunks (${c.zeroChunks} zero), ${c.newChunks} new in the store (${formatBytes(c.newStoredBytes)}), ${c.chunks - c.zeroChunks - c.newChunks} already there`);
      }
      store = cache.store;
      recipePath = image.recipePath;
      config = image.config;
    }
    const request = containerRequest(containerDefaults(config), overrides);
    const resolveMs = performance.now() - t0;
    if (foreign) info(`a linux/${arch} guest on this ${hostArch() ?? process.arch} machine runs emulated (QEMU TCG): slow`);
    serving = true;

    // --- serve it privately, writable through a fresh overlay ---
    work = await mkdtemp(join(tmpdir(), 'smr-run-'));
    const socket = join(work, 'nbd.sock');
    const name = basename(recipePath, extname(recipePath));
    const keep = values['keep-overlay'] as string | undefined;
    session = await start({
      store,
      storeOptions: storeSettings(values),
      exports: [{ name, recipe: recipePath, overlayDir: keep ? resolve(keep) : undefined, traceOut: values['trace-out'] as string | undefined, prefetch: values.prefetch as string | undefined }],
      keyFile: values['key-file'] as string | undefined,
      memoryCacheBytes,
      chunkCache,
      writable: true,
      socket,
      log: (level, msg) => (level === 'error' || verbose) && note(msg),
    });

    // --- boot ---
    const r: BootResult = await boot({
      disk: `nbd+unix:///${name}?socket=${socket}`,
      request: { ...request, writable: true, timeoutSeconds: timeout, stdin: values.interactive ? 'ports' : 'null' },
      stdin: values.interactive ? process.stdin : undefined,
      memoryMiB,
      cpus,
      arch,
      accel: accel as AccelChoice,
      cacheDir: vmCache,
      kernelFile: values.kernel as string | undefined,
      initrdFile: values.initrd as string | undefined,
      net: Boolean(values.net),
      verbose,
      onOutput: (d) => process.stdout.write(d),
      onLog: (line) => process.stderr.write(`${line}\n`),
      signal: abort.signal,
    });
    const stats = await session.close({ drainMs: 1000 });
    session = undefined;
    if (r.outcome !== 'exited' && r.outcome !== 'aborted') {
      if (!verbose && r.logTail?.length) note(`the guest's last console lines:\n${r.logTail.join('\n')}`);
      note(r.error ?? r.outcome);
    }
    if (values.timing) {
      note(`status ${r.status} (${r.outcome}), ${machineLine(r)}, accel ${r.accel}: resolve/convert ${seconds(resolveMs)}, ${stageTimings(r)}`);
      note(fetchedLine(stats));
    }
    return r.status;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await session?.close({ drainMs: 0 }).catch(() => {});
    if (work) await rm(work, { recursive: true, force: true });
  }
}
