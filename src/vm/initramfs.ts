// The guest's initramfs: a static busybox, the kernel modules the guest
// loads, and our /init, as one uncompressed newc archive (the kernel reads
// it directly; compressing would cost decompression time under TCG). It
// depends only on the kernel, busybox and /init, so it is built once and
// cached as CACHE/initramfs-KEY.cpio; each boot appends its request.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import { join } from 'node:path';
import { staticBusybox } from './busybox.js';
import { writeCpio, type CpioEntry } from './cpio.js';
import { INIT_SCRIPT } from './init-script.js';
import type { Apt } from './apt-root.js';
import { ARCH } from './guest-arch.js';
import { guestModules, resolveGuestModules } from './kernel-modules.js';
import type { Kernel } from './kernel.js';

/** Bump when the layout of the archive changes. */
const FORMAT = 1;

/** The busybox applets /init uses. */
const APPLETS = ['sh', 'mount', 'insmod', 'mkdir', 'cat', 'echo', 'sleep', 'poweroff', 'reboot', 'sync', 'awk', 'cut', 'hostname', 'ip', 'printf', 'touch', 'kill', 'env', 'nsenter'];

/** Module roots per virtio transport: microvm and virt have MMIO, q35 PCI. */
function busRoots(modules: string[]): Record<'mmio' | 'pci', string[]> {
  return {
    mmio: modules.filter((m) => m !== 'virtio_pci'),
    pci: modules.filter((m) => m !== 'virtio_mmio'),
  };
}

export interface Initramfs {
  path: string;
  size: number;
}

async function buildArchive(kernel: Kernel, busybox: Buffer): Promise<Buffer> {
  const roots = ARCH[kernel.arch].modules;
  const modules = await guestModules(kernel.modules, roots);
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'newroot', 'run', 'tmp', 'lib', 'lib/modules'].map((name): CpioEntry => ({ type: 'dir', name })),
    // The kernel opens /dev/console for init before /init mounts devtmpfs.
    { type: 'char', name: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'file', name: 'bin/busybox', data: busybox, mode: 0o755 },
    ...APPLETS.map((a): CpioEntry => ({ type: 'symlink', name: `bin/${a}`, target: 'busybox' })),
    { type: 'file', name: 'init', data: Buffer.from(INIT_SCRIPT, 'utf8'), mode: 0o755 },
    ...modules.map((m): CpioEntry => ({ type: 'file', name: `lib/modules/${m.name}.ko`, data: m.data, mode: 0o644 })),
  ];
  for (const [bus, busModules] of Object.entries(busRoots(roots))) {
    const closure = await resolveGuestModules(kernel.modules, busModules);
    entries.push({ type: 'file', name: `lib/modules/${bus}.list`, data: Buffer.from(closure.order.map((m) => `${m.name}\n`).join(''), 'utf8') });
  }
  return writeCpio(entries);
}

/** The cached initramfs for KERNEL, built first when missing; CACHE is the kernel architecture's VM cache. */
export async function prepareInitramfs(cache: string, kernel: Kernel, apt: Apt): Promise<Initramfs> {
  const busybox = await readFile(await staticBusybox(cache, kernel.arch, apt));
  const key = createHash('sha256')
    .update(JSON.stringify({ FORMAT, kernel: kernel.package, release: kernel.release, modules: ARCH[kernel.arch].modules, applets: APPLETS }))
    .update(INIT_SCRIPT)
    .update(busybox)
    .digest('hex')
    .slice(0, 16);
  const name = `initramfs-${key}.cpio`;
  const path = join(cache, name);
  if (!existsSync(path)) {
    const archive = await buildArchive(kernel, busybox);
    await writeFileAtomic(path, archive);
    // Older builds (another kernel or /init) are of no further use.
    for (const f of await readdir(cache)) if (/^initramfs-[0-9a-f]{16}\.cpio$/.test(f) && f !== name) await rm(join(cache, f), { force: true });
  }
  return { path, size: (await stat(path)).size };
}
