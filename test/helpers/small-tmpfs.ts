// A small tmpfs (root only) for tests of a full device, unmounted whatever
// happens. Runs `body` with its mount point, or skips the test when the
// mount is not possible here.
import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function withSmallTmpfs(t: { skip(why: string): void }, parent: string, size: string, body: (mnt: string) => Promise<void>): Promise<void> {
  const mnt = join(parent, 'small');
  await mkdir(mnt);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]).status !== 0) {
    t.skip('cannot mount tmpfs here');
    return;
  }
  try {
    await body(mnt);
  } finally {
    spawnSync('umount', [mnt]);
  }
}
