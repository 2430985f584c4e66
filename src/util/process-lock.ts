// A lock across processes: one holder at a time, the others wait. Used for
// one conversion per image in `smr run` (a concurrent first run waits and
// reuses the result) and for one fixture build per cache. A lock file
// created with O_EXCL (open flag 'wx') names its owner; Node has no
// flock(2), and O_EXCL is atomic on every local file system without a native
// addon. A lock whose owner is gone (crash, kill -9) would block forever, so
// it names the owner by pid *and* the process's start time (field 22 of
// /proc/PID/stat): a dead owner, or a pid reused by another process since,
// makes the lock stale and it is taken over.
//
// Taking over a stale lock is not atomic (read, unlink, create): two waiters
// breaking the same stale lock at once could both go ahead. Callers must
// tolerate that as work done twice (conversion into the shared store and the
// atomic recipe rename are safe concurrently), never a wrong result.
import { readFileSync, unlinkSync } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';

export interface LockOwner {
  pid: number;
  /** Start time of the process in clock ticks since boot; undefined where /proc is not there. */
  start?: string;
}

/** PID's start time from /proc, or undefined when it is not running (or /proc is absent). */
function startTime(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process, as a lock records it. */
export function thisOwner(): LockOwner {
  return { pid: process.pid, start: startTime(process.pid) };
}

/** Whether OWNER is still the process that took the lock. */
export function ownerAlive(owner: LockOwner): boolean {
  if (!(owner.pid > 0) || !running(owner.pid)) return false;
  return owner.start === undefined || startTime(owner.pid) === undefined || startTime(owner.pid) === owner.start;
}

function parseOwner(text: string): LockOwner | undefined {
  const m = /^(\d+)(?: (\d+))?\n?$/.exec(text);
  return m ? { pid: Number(m[1]), start: m[2] } : undefined;
}

export interface LockOptions {
  /** Called once, when the lock is held by another live process. */
  onWait?: (owner: LockOwner) => void;
  /** Poll interval while waiting (default 250 ms). */
  pollMs?: number;
}

export interface HeldLock {
  release(): Promise<void>;
}

/** Creates PATH exclusively with our owner line, or returns false when it exists. */
async function tryCreate(path: string, me: LockOwner): Promise<boolean> {
  try {
    const fh = await open(path, 'wx', 0o644);
    try {
      await fh.writeFile(`${me.pid}${me.start ? ` ${me.start}` : ''}\n`);
    } finally {
      await fh.close();
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Waits until PATH's lock is ours. The lock file goes when released, and
 * when this process exits any other way (process.exit on Ctrl-C).
 */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<HeldLock> {
  const me = thisOwner();
  let waited = false;
  for (;;) {
    if (await tryCreate(path, me)) break;
    // Read the owner, and remember which file it was, so that a lock taken
    // over by someone else meanwhile is not the one unlinked.
    const before = await stat(path).catch(() => undefined);
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (!before || text === undefined) continue; // released meanwhile
    const owner = parseOwner(text);
    // An unreadable or half-written owner line: written by a crash between
    // create and write, or in the instant before its write; stale once old.
    const stale = owner ? !ownerAlive(owner) : Date.now() - before.mtimeMs > 5000;
    if (stale) {
      const now = await stat(path).catch(() => undefined);
      if (now && now.ino === before.ino && now.dev === before.dev) await unlink(path).catch(() => {});
      continue;
    }
    if (!waited && owner) opts.onWait?.(owner);
    waited = true;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
  const onExit = () => {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
  process.on('exit', onExit);
  return {
    async release() {
      process.off('exit', onExit);
      await unlink(path).catch(() => {});
    },
  };
}
