// Guest micro-VMs: Debian's kernel and our own busybox initramfs, booted by
// QEMU from an NBD export to run one command the way docker run would.
export { boot, prepareGuest, checkNbdUrl, checkQemu, guestArch, STATUS_ABORTED, STATUS_TIMEOUT, STATUS_VM_FAILED, type BootOptions, type BootResult, type BootTimings, type Guest, type PrepareOptions } from './boot.js';
export type { GuestRequest } from './request.js';
export type { AccelChoice } from './accel.js';
export type { Accel } from './qemu-args.js';
export { vmCacheDir } from './cache-dir.js';
export { writeCpio, type CpioEntry } from './cpio.js';
export { ARCH, GUEST_ARCHES, guestArchOf, hostArch, isForeign, parseGuestArch, type GuestArch } from './guest-arch.js';
