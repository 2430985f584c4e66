// A writer for the cpio "newc" format (SVR4 portable ASCII, magic 070701),
// the only one the kernel's initramfs unpacker reads. Deterministic: inode
// numbers are assigned in order, times are zero (or what the caller gives).
//
// Layout of one entry: a 110-byte header of "070701" and 13 8-digit hex
// fields, the NUL-terminated name padded so that header+name is a multiple
// of 4, then the data padded to a multiple of 4. The archive ends with an
// entry named "TRAILER!!!".

import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG } from '../ext4/constants.js';

export type CpioEntry =
  | { type: 'dir'; name: string; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { type: 'file'; name: string; data: Buffer; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { type: 'symlink'; name: string; target: string; uid?: number; gid?: number; mtime?: number }
  | { type: 'char' | 'block'; name: string; major: number; minor: number; mode?: number; uid?: number; gid?: number; mtime?: number };

const TRAILER = 'TRAILER!!!';

function hex8(n: number, field: string): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio: ${field} ${n} does not fit in 32 bits`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

interface Fields {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  size: number;
  rdevMajor: number;
  rdevMinor: number;
}

function header(name: string, f: Fields): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const head =
    '070701' +
    [f.ino, f.mode, f.uid, f.gid, f.nlink, f.mtime, f.size, 0, 0, f.rdevMajor, f.rdevMinor, nameBytes.length, 0]
      .map((v, i) => hex8(v, ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'][i]!))
      .join('');
  return Buffer.concat([Buffer.from(head, 'latin1'), nameBytes, Buffer.alloc(pad4(110 + nameBytes.length))]);
}

/** Archive member names are relative ("bin/sh"): strip leading "/" and "./". */
function memberName(name: string): string {
  const n = name.replace(/^(\.\/|\/)+/, '');
  if (n === '' || n.split('/').includes('..')) throw new RangeError(`cpio: bad member name ${JSON.stringify(name)}`);
  return n;
}

/**
 * The archive for ENTRIES, in the order given (a directory must come before
 * what it holds: the kernel does not create parents). FIRST_INO lets a
 * second archive appended to this one use inode numbers of its own.
 */
export function writeCpio(entries: CpioEntry[], opts: { firstIno?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  let ino = opts.firstIno ?? 1;
  for (const e of entries) {
    const name = memberName(e.name);
    let data: Buffer = Buffer.alloc(0);
    let mode: number;
    let rdevMajor = 0;
    let rdevMinor = 0;
    let nlink = 1;
    switch (e.type) {
      case 'dir':
        mode = S_IFDIR | ((e.mode ?? 0o755) & 0o7777);
        nlink = 2;
        break;
      case 'file':
        mode = S_IFREG | ((e.mode ?? 0o644) & 0o7777);
        data = e.data;
        break;
      case 'symlink':
        mode = S_IFLNK | 0o777;
        data = Buffer.from(e.target, 'utf8');
        break;
      case 'char':
      case 'block':
        mode = (e.type === 'char' ? S_IFCHR : S_IFBLK) | ((e.mode ?? 0o600) & 0o7777);
        rdevMajor = e.major;
        rdevMinor = e.minor;
        break;
    }
    parts.push(header(name, { ino: ino++, mode, uid: e.uid ?? 0, gid: e.gid ?? 0, nlink, mtime: e.mtime ?? 0, size: data.length, rdevMajor, rdevMinor }));
    parts.push(data, Buffer.alloc(pad4(data.length)));
  }
  parts.push(header(TRAILER, { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, size: 0, rdevMajor: 0, rdevMinor: 0 }));
  return Buffer.concat(parts);
}
