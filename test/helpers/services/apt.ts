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

/** A package that installs no command (a library, Python bindings): how to tell it is there. */
export interface PackageCheck {
  pkg: string;
  present: () => boolean;
}

function present(name: string, need: string | PackageCheck): boolean {
  return typeof need === 'string' ? haveCommand(name) : need.present();
}

/**
 * Makes sure each need is met, installing its package when missing: `needs`
 * maps a command to its Debian package, or any name to a PackageCheck.
 * Returns why it could not, or null.
 */
export function ensurePackages(needs: Record<string, string | PackageCheck>): string | null {
  const missing = [...new Set(Object.entries(needs).filter(([name, need]) => !present(name, need)).map(([, need]) => (typeof need === 'string' ? need : need.pkg)))];
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
  const still = Object.entries(needs).filter(([name, need]) => !present(name, need)).map(([name]) => name);
  return still.length === 0 ? null : `apt-get could not provide ${still.join(' ')}`;
}
