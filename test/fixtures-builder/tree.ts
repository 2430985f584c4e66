// Walking a root filesystem on disk: entries in sorted depth-first order
// (names compared as bytes, as tar writers and our listings order them),
// with their lstat and extended attributes.
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** Paths are raw bytes held in latin1 strings: one char per byte, any name round-trips. */
export type BytePath = string;

export const toFs = (p: BytePath): Buffer => Buffer.from(p, 'latin1');

export function join(root: BytePath, rel: BytePath): BytePath {
  return rel === '' ? root : `${root}/${rel}`;
}

export function sortedNames(dir: BytePath): BytePath[] {
  const names = readdirSync(toFs(dir), { encoding: 'buffer' });
  names.sort(Buffer.compare);
  return names.map((n) => n.toString('latin1'));
}

export function lstat(p: BytePath): BigIntStats {
  return lstatSync(toFs(p), { bigint: true });
}

export type Kind = 'd' | 'f' | 'l' | 'c' | 'b' | 'p' | 's';

export function kindOf(st: BigIntStats): Kind {
  if (st.isDirectory()) return 'd';
  if (st.isFile()) return 'f';
  if (st.isSymbolicLink()) return 'l';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  return 's';
}

/** Linux dev_t split (glibc's gnu_dev_major/minor). */
export function devNumbers(rdev: bigint): [number, number] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

export const mtimeSeconds = (st: BigIntStats): number => Number(st.mtimeNs / 1_000_000_000n);

export const permissions = (st: BigIntStats): number => Number(st.mode & 0o7777n);

/** xattr names that describe the host, not the image. */
const IGNORED_XATTR = (name: string) => name === 'security.selinux' || name.startsWith('trusted.overlay.');

/**
 * Every extended attribute under root (symlinks excluded), by absolute
 * path, names sorted. One getfattr run per tree: Node has no xattr API.
 */
export function xattrsUnder(root: BytePath): Map<BytePath, Array<[string, Buffer]>> {
  const r = spawnSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', toFs(root).toString('latin1')], {
    encoding: 'latin1',
    maxBuffer: 256 << 20,
  });
  if (r.error) throw new Error(`getfattr: ${r.error.message} (apt-get install attr)`);
  const out = new Map<BytePath, Array<[string, Buffer]>>();
  let current: Array<[string, Buffer]> | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      // getfattr writes unprintable bytes and backslashes as \ooo.
      const path = line.slice(8).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      current = [];
      out.set(path, current);
    } else if (current && line !== '') {
      const eq = line.indexOf('=');
      const name = eq < 0 ? line : line.slice(0, eq);
      const value = eq < 0 ? '' : line.slice(eq + 1);
      if (IGNORED_XATTR(name)) continue;
      current.push([name, Buffer.from(value.replace(/^0x/, ''), 'hex')]);
    }
  }
  for (const list of out.values()) list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return out;
}

export interface TreeEntry {
  /** Path below the root, no leading slash; '' is the root itself. */
  rel: BytePath;
  abs: BytePath;
  st: BigIntStats;
  kind: Kind;
}

/** Depth-first, names sorted as bytes; a directory comes before its content. */
export function* walk(root: BytePath, rel: BytePath = ''): Generator<TreeEntry> {
  const abs = join(root, rel);
  const st = lstat(abs);
  const kind = kindOf(st);
  yield { rel, abs, st, kind };
  if (kind === 'd') for (const n of sortedNames(abs)) yield* walk(root, rel === '' ? n : `${rel}/${n}`);
}
