// The QEMU command line for a guest: for amd64 a microvm (no firmware
// beyond qboot, no PCI; virtio-mmio devices found through ACPI because
// Debian's kernel lacks VIRTIO_MMIO_CMDLINE_DEVICES), for arm64 the virt
// machine (its virtio-mmio transports and PL011 UART found through the
// device tree QEMU generates; the kernel Image booted directly, no
// firmware); the serial console on stdio, and the root disk attached
// through QEMU's own NBD client as virtio-blk.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { ARCH, type GuestArch } from './guest-arch.js';
import { PIPE_PORTS } from './request.js';

export type Accel = 'kvm' | 'tcg';

export interface QemuSpec {
  arch: GuestArch;
  accel: Accel;
  kernel: string;
  initrd: string;
  /** nbd://HOST:PORT/EXPORT or nbd+unix:///EXPORT?socket=PATH; none for a probe boot. */
  disk?: string;
  writable?: boolean;
  memoryMiB: number;
  cpus: number;
  verbose: boolean;
  /** Extra kernel command line. */
  append?: string;
  /** QEMU user-mode networking (NAT; the guest is 10.0.2.15, the host 10.0.2.2). */
  net?: boolean;
  /** Unix sockets (listening) for the command's stdin and stdout as virtio-serial ports (request.ts PIPE_PORTS). */
  pipes?: { stdin: string; stdout: string };
}

/**
 * Initcalls a disk-only guest does not need that are slow under TCG: the
 * crypto self-tests, kprobe trace events, TCP cubic, the KDF self-test
 * (together ~0.35 s of a ~2 s kernel boot).
 */
const TRIM = 'cryptomgr.notests initcall_blacklist=init_kprobe_trace,cubictcp_register,crypto_kdf108_init';

let tscKhz: number | undefined | null = null;

/**
 * The host's TSC frequency in kHz. TCG's guest TSC runs at the host's rate;
 * given it, the guest kernel skips its PIT-based calibration, which under
 * TCG fails now and then and hangs the boot. SMR_VM_TSC_KHZ overrides.
 */
function hostTscKhz(): number | undefined {
  if (tscKhz !== null) return tscKhz;
  const env = Number(process.env.SMR_VM_TSC_KHZ);
  if (env > 0) return (tscKhz = Math.round(env));
  let mhz: number | undefined;
  const dmesg = spawnSync('dmesg', [], { encoding: 'utf8' });
  if (dmesg.status === 0) {
    const refined = /tsc: Refined TSC clocksource calibration: ([\d.]+) MHz/.exec(dmesg.stdout);
    const detected = /tsc: Detected ([\d.]+) MHz/.exec(dmesg.stdout);
    mhz = Number((refined ?? detected)?.[1]) || undefined;
  }
  if (!mhz) {
    try {
      mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]) || undefined;
    } catch {
      mhz = undefined;
    }
  }
  return (tscKhz = mhz ? Math.round(mhz * 1000) : undefined);
}

/** QEMU's option values escape "," by doubling it. */
function driveValue(s: string): string {
  return s.replace(/,/g, ',,');
}

/** The machine, CPU and kernel command line particular to each architecture. */
function machineArgs(q: QemuSpec): { machine: string[]; append: string[] } {
  if (q.arch === 'arm64') {
    return {
      // gic-version=host: KVM runs the host's GIC; under TCG virt's default GICv2.
      // pauth-impdef: QEMU's cheap pointer authentication (the architected
      // QARMA costs much emulated time); the guest cannot tell.
      machine: ['-M', q.accel === 'kvm' ? 'virt,gic-version=host' : 'virt', '-cpu', q.accel === 'kvm' ? 'host' : 'max,pauth-impdef=on'],
      append: [`console=${ARCH.arm64.console}`, 'panic=-1'],
    };
  }
  const append = [`console=${ARCH.amd64.console}`, 'panic=-1', 'reboot=t', 'pci=off'];
  if (q.accel === 'tcg') {
    const khz = hostTscKhz();
    if (khz) append.push(`tsc_early_khz=${khz}`, 'tsc=reliable');
  }
  return { machine: ['-M', 'microvm,acpi=on,pcie=off', '-cpu', q.accel === 'kvm' ? 'host' : 'max'], append };
}

export function qemuArgs(q: QemuSpec): string[] {
  const { machine, append } = machineArgs(q);
  append.push(TRIM, q.verbose ? 'loglevel=7' : 'quiet');
  if (q.append) append.push(q.append);
  const args = [
    '-nodefaults', '-no-user-config', '-nographic', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
    ...machine,
    '-m', String(q.memoryMiB),
    '-smp', String(q.cpus),
    '-accel', q.accel,
    '-kernel', q.kernel,
    '-initrd', q.initrd,
    '-append', append.join(' '),
  ];
  if (q.disk) {
    args.push('-drive', `if=none,id=root,format=raw,${q.writable ? '' : 'readonly=on,'}file=${driveValue(q.disk)}`, '-device', 'virtio-blk-device,drive=root');
  }
  if (q.net) args.push('-netdev', 'user,id=net0', '-device', 'virtio-net-device,netdev=net0');
  if (q.pipes) {
    args.push('-device', 'virtio-serial-device,id=pipes');
    for (const [id, path] of Object.entries(q.pipes) as Array<[keyof typeof PIPE_PORTS, string]>) {
      args.push('-chardev', `socket,id=${id},path=${driveValue(path)}`, '-device', `virtserialport,bus=pipes.0,chardev=${id},name=${PIPE_PORTS[id]}`);
    }
  }
  return args;
}
