// Encoding of one 256-byte inode.
import type { TarTime } from '../tar/types.js';
import {
  EXTRA_ISIZE,
  INODE_FLAG_EXTENTS,
  INODE_FLAG_INDEX,
  INODE_SIZE,
} from './constants.js';
import { writeInodeXattrs, type XattrItem } from './xattr.js';

export interface InodeFields {
  mode: number; // type | permission bits
  uid: number;
  gid: number;
  size: number;
  links: number;
  /** Blocks owned (data, tree, xattr block), in filesystem blocks. */
  blocks: number;
  mtime: TarTime;
  atime: TarTime;
  ctime: TarTime;
  extents: boolean;
  htree: boolean;
  /** The 60-byte i_block area (extent root, fast symlink target or device). */
  iblock: Buffer;
  xattrBlock: number; // 0 when none
  inlineXattrs: XattrItem[];
}

/**
 * Seconds go in a signed 32-bit field; two extra bits in *_extra extend the
 * range to 2446, and the other 30 bits hold nanoseconds.
 */
function writeTime(buf: Buffer, at: number, extraAt: number, t: TarTime): void {
  let sec = t.sec;
  const min = -(2 ** 31);
  const max = 2 ** 34 - 2 ** 31 - 1;
  let nsec = t.nsec;
  if (sec < min) { sec = min; nsec = 0; }
  if (sec > max) { sec = max; nsec = 999999999; }
  const lo = sec | 0; // sign-extended low 32 bits
  const epoch = Math.round((sec - lo) / 2 ** 32) & 3;
  buf.writeInt32LE(lo, at);
  buf.writeUInt32LE(((nsec << 2) | epoch) >>> 0, extraAt);
}

export function encodeInode(f: InodeFields): Buffer {
  const b = Buffer.alloc(INODE_SIZE);
  b.writeUInt16LE(f.mode & 0xffff, 0x00);
  b.writeUInt16LE(f.uid & 0xffff, 0x02);
  b.writeUInt32LE(f.size % 2 ** 32, 0x04);
  writeTime(b, 0x08, 0x8c, f.atime);
  writeTime(b, 0x0c, 0x84, f.ctime);
  writeTime(b, 0x10, 0x88, f.mtime);
  b.writeUInt16LE(f.gid & 0xffff, 0x18);
  b.writeUInt16LE(f.links, 0x1a);
  const sectors = f.blocks * 8;
  b.writeUInt32LE(sectors % 2 ** 32, 0x1c);
  let flags = 0;
  if (f.extents) flags |= INODE_FLAG_EXTENTS;
  if (f.htree) flags |= INODE_FLAG_INDEX;
  b.writeUInt32LE(flags >>> 0, 0x20);
  f.iblock.copy(b, 0x28, 0, 60);
  b.writeUInt32LE(f.xattrBlock % 2 ** 32, 0x68);
  b.writeUInt32LE(Math.floor(f.size / 2 ** 32), 0x6c);
  b.writeUInt16LE(Math.floor(sectors / 2 ** 32) & 0xffff, 0x74);
  b.writeUInt16LE(Math.floor(f.xattrBlock / 2 ** 32) & 0xffff, 0x76);
  b.writeUInt16LE((f.uid >>> 16) & 0xffff, 0x78);
  b.writeUInt16LE((f.gid >>> 16) & 0xffff, 0x7a);
  b.writeUInt16LE(EXTRA_ISIZE, 0x80);
  writeTime(b, 0x90, 0x94, f.mtime); // crtime: the entry's time, never the build's
  writeInodeXattrs(b, f.inlineXattrs);
  return b;
}

/** Device numbers in i_block: old 16-bit form when it fits, else the new form. */
export function deviceIblock(major: number, minor: number): Buffer {
  const ib = Buffer.alloc(60);
  if (major < 256 && minor < 256) {
    ib.writeUInt32LE((major << 8) | minor, 0);
  } else {
    ib.writeUInt32LE(((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0, 4);
  }
  return ib;
}
