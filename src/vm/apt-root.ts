// apt for another architecture's packages (an arm64 kernel and busybox on
// an amd64 host) without touching the system's dpkg: as the fixture
// builder does (test/fixtures-builder/debian.ts), a private apt state whose
// APT_CONFIG sets APT::Architecture, here with the host's own sources and
// keys (so a local mirror or proxy the host uses applies), and the package
// lists, cache and an empty dpkg status of its own under CACHE/apt. No
// `dpkg --add-architecture`, no system apt-get update.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostArch, type GuestArch } from './guest-arch.js';

/** How to run apt for one architecture: the environment apt-get and apt-cache get. */
export interface Apt {
  /** undefined: the system's apt, as it is. */
  env?: NodeJS.ProcessEnv;
  /** Names this apt, so that `apt-get update` runs once per process for each. */
  id: string;
}

const SYSTEM: Apt = { id: 'system' };

/** The system's apt for the host's architecture; a private one under CACHE/apt for another. */
export async function aptFor(arch: GuestArch, cache: string): Promise<Apt> {
  if (arch === hostArch()) return SYSTEM;
  const dir = join(cache, 'apt');
  for (const d of ['lists/partial', 'archives/partial', 'cache']) await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, 'status'), '', { flag: 'a' });
  const conf = join(dir, 'apt.conf');
  await writeFile(conf, [
    `APT::Architecture "${arch}";`,
    `APT::Architectures { "${arch}"; };`,
    `Dir::State::Lists "${dir}/lists";`,
    `Dir::State::status "${dir}/status";`,
    `Dir::Cache "${dir}/cache";`,
    `Dir::Cache::archives "${dir}/archives";`,
    'Acquire::Languages "none";',
    // apt's _apt user may not be able to write into the cache.
    'APT::Sandbox::User "root";',
  ].join('\n') + '\n');
  return { id: conf, env: { ...process.env, APT_CONFIG: conf } };
}
