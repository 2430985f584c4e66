// Real NBD clients and servers from Debian, installed on first use when we
// are root (CI machines start bare), and small wrappers to run them.
import { spawnSync } from 'node:child_process';
import { haveCommand, isRoot, run, type RunResult } from './run.js';

/** Commands and the Debian packages that provide them. */
const PACKAGES: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  'qemu-io': 'qemu-utils',
  'qemu-nbd': 'qemu-utils',
  nbdinfo: 'libnbd-bin',
  nbdcopy: 'libnbd-bin',
  nbdsh: 'libnbd-bin',
  nbdkit: 'nbdkit',
  fio: 'fio',
};

/** Python with libnbd bindings: Debian's, not whatever python3 is first on PATH. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

function havePythonNbd(): boolean {
  return spawnSync(SYSTEM_PYTHON, ['-c', 'import nbd'], { stdio: 'ignore' }).status === 0;
}

/** Installs what is missing; returns a reason to skip, or false when all is there. */
export function ensurePeers(commands: string[], pythonNbd = false): string | false {
  const missing = new Set(commands.filter((c) => !haveCommand(c)).map((c) => PACKAGES[c] ?? c));
  if (pythonNbd && !havePythonNbd()) missing.add('python3-libnbd');
  if (missing.size > 0 && isRoot()) {
    const pkgs = [...missing];
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { stdio: 'ignore', env }).status === 0;
    if (!install()) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore', env });
      install();
    }
  }
  const still = commands.filter((c) => !haveCommand(c));
  if (pythonNbd && !havePythonNbd()) still.push('python3-libnbd');
  return still.length ? `missing ${still.join(', ')} (apt-get install ${still.map((c) => PACKAGES[c] ?? c).join(' ')})` : false;
}

/** Runs a peer and fails with its stderr when it exits non-zero. */
export async function peer(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs a peer expected to fail. */
export async function peerFails(cmd: string, args: string[]): Promise<RunResult> {
  const r = await run(cmd, args);
  if (r.code === 0) throw new Error(`${cmd} ${args.join(' ')} succeeded: ${r.stdout.trim()}`);
  return r;
}

export function nbdUri(port: number, name: string): string {
  return `nbd://127.0.0.1:${port}/${name}`;
}
