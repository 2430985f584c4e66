// Fetching Debian packages without installing them: resolve a package name
// through apt's lists (running `apt-get update` once when apt knows nothing
// of it), `apt-get download` the .deb, unpack it with `dpkg-deb -x`. The
// apt is the system's, or a private one for another architecture
// (apt-root.ts).
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SmrError } from '../util/errors.js';
import type { Apt } from './apt-root.js';
import { runTool, runToolOk } from './tool.js';

const updated = new Set<string>();

/** `apt-get update`, at most once per process for each apt. */
async function aptUpdate(apt: Apt): Promise<void> {
  if (updated.has(apt.id)) return;
  updated.add(apt.id);
  await runToolOk('apt-get', ['update', '-q'], { env: apt.env });
}

/** The Depends of PKG matching PATTERN (e.g. linux-image-amd64 -> linux-image-6.1.0-41-amd64). */
export async function resolveDependency(pkg: string, pattern: RegExp, apt: Apt): Promise<string> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await runTool('apt-cache', ['depends', pkg], { env: apt.env });
    const found = r.stdout
      .toString('utf8')
      .split('\n')
      .map((l) => /^\s*Depends:\s*(\S+)\s*$/.exec(l)?.[1])
      .find((d): d is string => d !== undefined && pattern.test(d));
    if (found) return found;
    if (attempt === 0) await aptUpdate(apt);
  }
  throw new SmrError('APT_UNKNOWN', `apt knows no ${pkg} (is this Debian with deb.debian.org in its sources?)`);
}

/** The .deb of PKG in DIR, downloaded there if missing. */
export async function downloadDeb(pkg: string, dir: string, apt: Apt): Promise<string> {
  await mkdir(dir, { recursive: true });
  const existing = async () => (await readdir(dir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  let deb = await existing();
  if (!deb) {
    let r = await runTool('apt-get', ['download', '-q', pkg], { cwd: dir, env: apt.env });
    if (r.code !== 0) {
      // Stale or empty lists: the version apt knows is no longer on the mirror.
      await aptUpdate(apt);
      r = await runTool('apt-get', ['download', '-q', pkg], { cwd: dir, env: apt.env });
    }
    deb = await existing();
    if (r.code !== 0 || !deb) throw new SmrError('APT_DOWNLOAD', `apt-get download ${pkg} failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
  }
  return join(dir, deb);
}

/** Unpacks DEB's files into DEST (never runs its maintainer scripts). */
export async function unpackDeb(deb: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  await runToolOk('dpkg-deb', ['-x', deb, dest]);
}
