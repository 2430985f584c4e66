// The listing of a root filesystem that the fixture builder writes as
// expected/<image>.tsv and the tests take of a kernel-mounted image: one
// tab-separated row per path, so two trees compare with a line diff.
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { devNumbers, mtimeSeconds, permissions, toFs, walk, xattrsUnder, type BytePath } from './tree.js';

export const LISTING_HEADER = '#path\ttype\tmode\tuid\tgid\tsize\tsha256|target|dev\thardlink-of\txattrs\tmtime';

/** Printable, tab-free bytes: anything outside '!'..'~', and the backslash, as \xNN. */
export function escapeBytes(p: BytePath): string {
  let s = '';
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    s += c < 0x21 || c > 0x7e || c === 0x5c ? `\\x${c.toString(16).padStart(2, '0')}` : p[i];
  }
  return s;
}

/**
 * Lists the tree under root. mtimes are clamped to epoch (what a
 * deterministic layer stores); the root's is '-' since not every layer
 * style carries it. A second name of a file points at the first one met.
 */
export function rootfsListing(root: string, epoch: number): string {
  const top = Buffer.from(root).toString('latin1');
  const xattrs = xattrsUnder(top);
  const firstName = new Map<bigint, string>();
  const rows = [LISTING_HEADER];
  for (const e of walk(top)) {
    const name = `/${escapeBytes(e.rel)}`;
    let what = '-';
    if (e.kind === 'f') what = createHash('sha256').update(readFileSync(toFs(e.abs))).digest('hex');
    else if (e.kind === 'l') what = escapeBytes(readlinkSync(toFs(e.abs), { encoding: 'buffer' }).toString('latin1'));
    else if (e.kind === 'c' || e.kind === 'b') what = devNumbers(e.st.rdev).join(',');
    let linkOf = '-';
    if (e.kind === 'f' && e.st.nlink > 1n) {
      const first = firstName.get(e.st.ino);
      if (first === undefined) firstName.set(e.st.ino, name);
      else linkOf = first;
    }
    const xa = e.kind === 'l' ? [] : (xattrs.get(e.abs) ?? []);
    rows.push([
      name,
      e.kind,
      permissions(e.st).toString(8).padStart(4, '0'),
      String(e.st.uid),
      String(e.st.gid),
      String(e.kind === 'f' ? e.st.size : 0n),
      what,
      linkOf,
      xa.length === 0 ? '-' : xa.map(([k, v]) => `${k}=${v.toString('hex')}`).join(','),
      e.rel === '' ? '-' : String(Math.min(mtimeSeconds(e.st), epoch)),
    ].join('\t'));
  }
  return rows.join('\n') + '\n';
}
