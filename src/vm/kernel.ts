// The guest kernel: Debian's distribution kernel, fetched as a package and
// unpacked (never installed) into the cache:
//   CACHE/kernel/kernel.json   which package and kernel version
//   CACHE/kernel/vmlinuz       the bzImage (amd64), the Image (arm64)
//   CACHE/kernel/vmlinux       the uncompressed ELF (PVH entry), when it could be extracted (amd64)
// (CACHE is the VM cache's directory for the guest architecture, guest-arch.ts.)
//   CACHE/kernel/modules/      the package's /lib/modules/KVER tree
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SmrError } from '../util/errors.js';
import type { Apt } from './apt-root.js';
import { downloadDeb, resolveDependency, unpackDeb } from './deb.js';
import { ARCH, type GuestArch } from './guest-arch.js';
import { extractVmlinux } from './vmlinux.js';

export interface Kernel {
  dir: string;
  arch: GuestArch;
  /** The Debian package, e.g. linux-image-6.1.0-41-amd64. */
  package: string;
  /** uname -r of the guest, e.g. 6.1.0-41-amd64. */
  release: string;
  vmlinuz: string;
  /** The uncompressed ELF kernel, or undefined when only the bzImage exists. */
  vmlinux?: string;
  /** /lib/modules/RELEASE of the package. */
  modules: string;
}

interface Stamp {
  /** Absent in caches from before arm64 guests: amd64. */
  arch?: GuestArch;
  package: string;
  release: string;
  vmlinux: boolean;
}

async function readStamp(dir: string): Promise<Stamp | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'kernel.json'), 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

function kernelOf(dir: string, s: Stamp): Kernel {
  return {
    dir,
    arch: s.arch ?? 'amd64',
    package: s.package,
    release: s.release,
    vmlinuz: join(dir, 'vmlinuz'),
    vmlinux: s.vmlinux ? join(dir, 'vmlinux') : undefined,
    modules: join(dir, 'modules'),
  };
}

/** The cached kernel, if CACHE has a complete one. */
export async function cachedKernel(cache: string): Promise<Kernel | undefined> {
  const dir = join(cache, 'kernel');
  const s = await readStamp(dir);
  if (!s || !existsSync(join(dir, 'vmlinuz')) || !existsSync(join(dir, 'modules'))) return undefined;
  return kernelOf(dir, s);
}

export interface KernelOptions {
  arch: GuestArch;
  /** The apt that has ARCH's packages. */
  apt: Apt;
  /** A linux-image-* package instead of the one linux-image-ARCH points at. */
  package?: string;
  /** Fetch again even when the cache has a kernel. */
  refresh?: boolean;
  log?: (msg: string) => void;
}

/** The kernel in CACHE, fetched and unpacked first when missing. */
export async function prepareKernel(cache: string, opts: KernelOptions): Promise<Kernel> {
  const have = await cachedKernel(cache);
  if (have && have.arch === opts.arch && !opts.refresh && (!opts.package || opts.package === have.package)) return have;
  const log = opts.log ?? (() => {});

  const arch = ARCH[opts.arch];
  const pkg = opts.package ?? (await resolveDependency(arch.kernelMeta, arch.kernelPackage, opts.apt));
  log(`kernel package ${pkg}`);
  const deb = await downloadDeb(pkg, join(cache, 'debs'), opts.apt);
  const tmp = join(cache, `kernel.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  try {
    const root = join(tmp, 'root');
    await unpackDeb(deb, root);
    const modRoot = [join(root, 'lib', 'modules'), join(root, 'usr', 'lib', 'modules')].find((d) => existsSync(d));
    const releases = modRoot ? await readdir(modRoot) : [];
    if (!modRoot || releases.length !== 1) throw new SmrError('KERNEL_PACKAGE', `${pkg} does not hold exactly one /lib/modules tree`);
    const release = releases[0]!;
    const image = join(root, 'boot', `vmlinuz-${release}`);
    if (!existsSync(image)) throw new SmrError('KERNEL_PACKAGE', `${pkg} has no /boot/vmlinuz-${release}`);
    await rename(image, join(tmp, 'vmlinuz'));
    await rename(join(modRoot, release), join(tmp, 'modules'));
    // arm64's vmlinuz is an uncompressed Image already, booted as it is.
    const elf = opts.arch === 'amd64' ? await extractVmlinux(await readFile(join(tmp, 'vmlinuz'))) : undefined;
    if (elf) await writeFile(join(tmp, 'vmlinux'), elf);
    else if (opts.arch === 'amd64') log('could not extract an uncompressed vmlinux; the slower bzImage will boot');
    await rm(root, { recursive: true, force: true });
    const stamp: Stamp = { arch: opts.arch, package: pkg, release, vmlinux: Boolean(elf) };
    await writeFile(join(tmp, 'kernel.json'), `${JSON.stringify(stamp, null, 2)}\n`);

    const dir = join(cache, 'kernel');
    const old = join(cache, `kernel.old-${process.pid}`);
    if (existsSync(dir)) await rename(dir, old);
    await rename(tmp, dir);
    await rm(old, { recursive: true, force: true });
    return kernelOf(dir, stamp);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function ensureCacheDir(cache: string): Promise<void> {
  try {
    await mkdir(cache, { recursive: true });
  } catch (e) {
    throw new SmrError('VM_CACHE', `cannot create the VM cache ${cache}: ${(e as Error).message}`);
  }
}
