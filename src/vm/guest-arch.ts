// The guest architectures smr boots, and what differs between them: the
// QEMU binary and machine, the console, Debian's kernel package, the
// modules the initramfs carries. amd64 boots QEMU's microvm, arm64 its virt
// machine. A guest of the host's architecture can use KVM; another is
// emulated (TCG), which works but is slow.
import { join } from 'node:path';
import { SmrError } from '../util/errors.js';

export type GuestArch = 'amd64' | 'arm64';

export const GUEST_ARCHES: readonly GuestArch[] = ['amd64', 'arm64'];

export interface ArchProfile {
  arch: GuestArch;
  /** The QEMU system emulator and the Debian package that has it. */
  qemu: string;
  qemuPackage: string;
  machine: 'microvm' | 'virt';
  /** The serial console the kernel writes to (QEMU's -serial stdio). */
  console: string;
  /** Debian's meta package naming the current kernel, and the name of what it depends on. */
  kernelMeta: string;
  kernelPackage: RegExp;
  /** Modules the guest loads (see kernel-modules.ts): crc32c_intel is x86 only. */
  modules: string[];
}

export const ARCH: Record<GuestArch, ArchProfile> = {
  amd64: {
    arch: 'amd64',
    qemu: 'qemu-system-x86_64',
    qemuPackage: 'qemu-system-x86',
    machine: 'microvm',
    console: 'ttyS0',
    kernelMeta: 'linux-image-amd64',
    kernelPackage: /^linux-image-\d.*-amd64$/,
    modules: ['virtio_mmio', 'virtio_pci', 'virtio_blk', 'crc32c_generic', 'crc32c_intel', 'ext4'],
  },
  arm64: {
    arch: 'arm64',
    qemu: 'qemu-system-aarch64',
    qemuPackage: 'qemu-system-arm',
    machine: 'virt',
    console: 'ttyAMA0',
    kernelMeta: 'linux-image-arm64',
    kernelPackage: /^linux-image-\d.*-arm64$/,
    modules: ['virtio_mmio', 'virtio_pci', 'virtio_blk', 'crc32c_generic', 'ext4'],
  },
};

/** The host's architecture as Debian and OCI name it, when it is one smr boots natively. */
export function hostArch(): GuestArch | undefined {
  return process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : undefined;
}

/** Whether an ARCH guest runs only emulated here. */
export function isForeign(arch: GuestArch): boolean {
  return arch !== hostArch();
}

/** An OCI/Debian architecture name as a guest architecture, or undefined when smr cannot boot it. */
export function guestArchOf(name: string): GuestArch | undefined {
  return (GUEST_ARCHES as readonly string[]).includes(name) ? (name as GuestArch) : undefined;
}

export function parseGuestArch(text: string, what: string): GuestArch {
  const arch = guestArchOf(text);
  if (!arch) throw new SmrError('USAGE', `${what}: '${text}' is not ${GUEST_ARCHES.join(' or ')}`);
  return arch;
}

/**
 * Where ARCH's kernel, busybox, initramfs and probe results live in the VM
 * cache CACHE: amd64 at its top (as before there were others), others in
 * CACHE/ARCH.
 */
export function archCacheDir(cache: string, arch: GuestArch): string {
  return arch === 'amd64' ? cache : join(cache, arch);
}
