// Installing the Debian packages a test server needs, once, when a command
// is missing (CI machines start fresh). A policy-rc.d keeps the packages'
// own init scripts from starting system-wide services (redis, nginx, ceph)
// that would take the ports and the memory our own instances need.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { haveCommand, isRoot } from '../run.js';

const POLICY = '/usr/sbin/policy-rc.d';

function aptGet(args: string[]): boolean {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another apt (a parallel test run, unattended upgrades) may hold the lock.
  const r = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', '-y', '-q', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return r.status === 0;
}

/**
 * Makes sure each command exists, installing its package when missing
 * (`needs` maps command -> Debian package). Returns why it could not, or null.
 */
export function ensurePackages(needs: Record<string, string>): string | null {
  const missing = [...new Set(Object.entries(needs).filter(([cmd]) => !haveCommand(cmd)).map(([, pkg]) => pkg))];
  if (missing.length === 0) return null;
  if (!isRoot()) return `missing ${missing.join(' ')} (run as root, or apt-get install them)`;
  const madePolicy = !existsSync(POLICY);
  if (madePolicy) writeFileSync(POLICY, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const install = ['install', '--no-install-recommends', ...missing];
    if (!aptGet(install)) {
      aptGet(['update']);
      aptGet(install);
    }
  } finally {
    if (madePolicy) rmSync(POLICY, { force: true });
  }
  const still = Object.keys(needs).filter((cmd) => !haveCommand(cmd));
  return still.length === 0 ? null : `apt-get could not provide ${still.join(' ')}`;
}
