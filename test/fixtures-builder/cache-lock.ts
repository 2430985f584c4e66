// One build per cache at a time: two would share the private apt root and
// the chroot's download directory. The project's process lock: a lock whose
// owner is gone (or whose pid was reused) is taken over.
import { join } from 'node:path';
import { acquireLock } from '../../src/util/process-lock.js';
import { note } from './commands.js';

/** Waits for the cache's lock; returns the function that releases it. */
export async function lockCache(cache: string): Promise<() => Promise<void>> {
  const path = join(cache, '.smr-build.lock');
  const lock = await acquireLock(path, {
    onWait: (owner) => note(`waiting for the build that holds ${path} (pid ${owner.pid})`),
    pollMs: 2000,
  });
  return () => lock.release();
}
