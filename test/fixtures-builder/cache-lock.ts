// One build per cache at a time: two would share the private apt root and
// the chroot's download directory. A lock directory holding the owner's pid;
// a lock whose owner is gone is taken over.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { note } from './commands.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits for the cache's lock; returns the function that releases it. */
export async function lockCache(cache: string): Promise<() => void> {
  const dir = join(cache, '.smr-build-lock');
  let waited = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!statSync(dir).isDirectory()) {
      rmSync(dir, { force: true }); // a plain file where the lock should be: not ours
      continue;
    }
    const owner = Number(readFileSync(join(dir, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
    if (owner > 0 && !alive(owner)) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (!waited) note(`waiting for the build that holds ${dir} (pid ${owner || '?'})`);
    waited = true;
    await new Promise((r) => setTimeout(r, 2000));
  }
}
