// A statically linked busybox for the initramfs: the installed one when the
// busybox-static package is installed, else the binary from that package,
// downloaded and unpacked into the cache (for another architecture's guest,
// always the package's, through that architecture's apt). (Debian's plain
// "busybox" package is dynamically linked: useless in an initramfs without
// a libc.)
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SmrError } from '../util/errors.js';
import type { Apt } from './apt-root.js';
import { downloadDeb, unpackDeb } from './deb.js';
import { hostArch, type GuestArch } from './guest-arch.js';
import { runTool } from './tool.js';

const PACKAGE = 'busybox-static';

async function installedStatic(): Promise<string | undefined> {
  const r = await runTool('dpkg-query', ['-W', '-f=${Status}', PACKAGE]).catch(() => undefined);
  if (!r || r.code !== 0 || !/ok installed/.test(r.stdout.toString())) return undefined;
  return ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
}

/** Path of a static busybox binary for ARCH; CACHE is that architecture's VM cache. */
export async function staticBusybox(cache: string, arch: GuestArch, apt: Apt): Promise<string> {
  const installed = arch === hostArch() ? await installedStatic() : undefined;
  if (installed) return installed;
  const cached = join(cache, 'busybox', 'busybox');
  if (existsSync(cached)) return cached;
  const deb = await downloadDeb(PACKAGE, join(cache, 'debs'), apt);
  const tmp = join(cache, `busybox.tmp-${process.pid}`);
  try {
    await unpackDeb(deb, tmp);
    const bin = [join(tmp, 'bin', 'busybox'), join(tmp, 'usr', 'bin', 'busybox')].find((p) => existsSync(p));
    if (!bin) throw new SmrError('BUSYBOX', `${deb} holds no bin/busybox`);
    await mkdir(join(cache, 'busybox'), { recursive: true });
    await rename(bin, `${cached}.${process.pid}`);
    await rename(`${cached}.${process.pid}`, cached);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return cached;
}
