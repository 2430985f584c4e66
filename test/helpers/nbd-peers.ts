// Real NBD clients and servers from Debian, installed on first use when we
// are root (CI machines start bare), and small wrappers to run them.
import { spawnSync } from 'node:child_process';
import { run, type RunResult } from './run.js';
import { ensurePackages, type PackageCheck } from './services/apt.js';

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
  const needs: Record<string, string | PackageCheck> = Object.fromEntries(commands.map((c) => [c, PACKAGES[c] ?? c]));
  if (pythonNbd) needs['python3 nbd module'] = { pkg: 'python3-libnbd', present: havePythonNbd };
  return ensurePackages(needs) ?? false;
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
