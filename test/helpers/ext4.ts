// Checking images with the real ext4 tools: e2fsck, and the kernel itself
// through a read-only loop mount.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './run.js';
import { rootfsListing } from '../fixtures-builder/rootfs-listing.js';

export async function e2fsck(image: string): Promise<{ ok: boolean; output: string }> {
  const r = await run('e2fsck', ['-fn', image]);
  return { ok: r.code === 0, output: r.stdout + r.stderr };
}

export async function withLoopMount<T>(image: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'smr-mnt-'));
  const m = await run('mount', ['-o', 'loop,ro', '-t', 'ext4', image, dir]);
  if (m.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`mount failed: ${m.stderr}`);
  }
  try {
    return await fn(dir);
  } finally {
    await run('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

/** The listing the fixture builder writes as expected/<image>.tsv, so we compare like with like. */
export async function listing(dir: string, epoch: number): Promise<string> {
  return rootfsListing(dir, epoch);
}

/** Listing lines minus what ext4 adds by itself (/lost+found). */
export function withoutLostFound(tsv: string): string[] {
  return tsv.split('\n').filter((l) => l !== '' && !l.startsWith('/lost+found\t') && !l.startsWith('/lost+found/'));
}

export interface ListedEntry {
  type: string;
  mode: string;
  uid: string;
  gid: string;
  size: string;
  what: string;
  hardlinkOf: string;
  xattrs: string;
  mtime: string;
}

/** path -> listing columns, as rootfsListing prints them. */
export function parseListing(tsv: string): Map<string, ListedEntry> {
  const out = new Map<string, ListedEntry>();
  for (const line of tsv.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [path, type, mode, uid, gid, size, what, hardlinkOf, xattrs, mtime] = line.split('\t');
    out.set(path!, { type: type!, mode: mode!, uid: uid!, gid: gid!, size: size!, what: what!, hardlinkOf: hardlinkOf!, xattrs: xattrs!, mtime: mtime! });
  }
  return out;
}
