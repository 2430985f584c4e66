// KVM or TCG. /dev/kvm may exist and still not run an ordinary guest (on
// these machines it is kvm_pvm, which only runs PVM-enabled kernels: QEMU
// aborts with -cpu host or hangs after the boot loader), so a short probe
// boot decides, once per host kernel and guest kernel; the answer is kept
// in CACHE/accel-probe.json. A guest of another architecture than the
// host's is always emulated (TCG).
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SmrError } from '../util/errors.js';
import { ConsoleReader } from './console.js';
import { ARCH, hostArch, isForeign, type GuestArch } from './guest-arch.js';
import { qemuArgs, type Accel } from './qemu-args.js';
import { startQemu } from './qemu-process.js';
import { encodeRequest } from './request.js';

export type AccelChoice = Accel | 'auto';

interface ProbeRecord {
  host: string;
  guest: string;
  accel: Accel;
}

/** A KVM guest reaches init in well under a second; a hang is a failure. */
const PROBE_TIMEOUT_MS = 15_000;

async function kvmUsable(): Promise<boolean> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function probeKvm(arch: GuestArch, kernel: string, initramfs: string, log: (m: string) => void): Promise<boolean> {
  const req = encodeRequest({ argv: ['true'] }, { mode: 'probe', bus: 'mmio', verbose: false });
  const dir = await mkdtemp(join(tmpdir(), 'smr-kvm-probe-'));
  try {
    const initrd = join(dir, 'initrd');
    await writeFile(initrd, Buffer.concat([await readFile(initramfs), req.cpio]));
    const reader = new ConsoleReader(req.nonce, () => {});
    const q = startQemu(ARCH[arch].qemu, qemuArgs({ arch, accel: 'kvm', kernel, initrd, memoryMiB: 256, cpus: 1, verbose: false }), (d) => {
      reader.feed(d);
      if (reader.markers.probeOk) q.kill('probe done');
    });
    const timer = setTimeout(() => q.kill('probe timed out'), PROBE_TIMEOUT_MS);
    const exit = await q.done.finally(() => clearTimeout(timer));
    reader.end();
    if (!reader.markers.probeOk) log(`KVM cannot boot this kernel (${exit.killed ?? exit.stderr.trim().split('\n').pop() ?? `qemu exit ${exit.code}`}); using TCG`);
    return Boolean(reader.markers.probeOk);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function chooseAccel(want: AccelChoice, cache: string, guest: { arch: GuestArch; id: string; kernel: string; initramfs: string }, log: (m: string) => void): Promise<Accel> {
  if (isForeign(guest.arch)) {
    if (want === 'kvm') throw new SmrError('USAGE', `--accel kvm: KVM cannot run an ${guest.arch} guest on this ${hostArch() ?? process.arch} host (it is emulated, --accel tcg)`);
    return 'tcg';
  }
  if (want !== 'auto') return want;
  if (!(await kvmUsable())) return 'tcg';
  const file = join(cache, 'accel-probe.json');
  try {
    const r = JSON.parse(await readFile(file, 'utf8')) as ProbeRecord;
    if (r.host === release() && r.guest === guest.id && (r.accel === 'kvm' || r.accel === 'tcg')) return r.accel;
  } catch {
    // no record yet
  }
  const accel: Accel = (await probeKvm(guest.arch, guest.kernel, guest.initramfs, log)) ? 'kvm' : 'tcg';
  const record: ProbeRecord = { host: release(), guest: guest.id, accel };
  await writeFile(file, `${JSON.stringify(record)}\n`).catch(() => {});
  return accel;
}
