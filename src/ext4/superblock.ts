// Superblock and group descriptor encoding.
import * as C from './constants.js';

export interface SuperblockFields {
  inodesCount: number;
  blocksCount: number;
  freeBlocks: number;
  freeInodes: number;
  inodesPerGroup: number;
  uuid: Buffer;
  hashSeed: Buffer;
  mkfsTime: number;
  largeFile: boolean;
  volumeName: string;
}

export function encodeSuperblock(f: SuperblockFields): Buffer {
  const b = Buffer.alloc(1024);
  b.writeUInt32LE(f.inodesCount, 0x00);
  b.writeUInt32LE(f.blocksCount, 0x04);
  b.writeUInt32LE(0, 0x08); // no blocks reserved for root: the image is read-mostly
  b.writeUInt32LE(f.freeBlocks, 0x0c);
  b.writeUInt32LE(f.freeInodes, 0x10);
  b.writeUInt32LE(0, 0x14); // s_first_data_block (4 KiB blocks)
  b.writeUInt32LE(C.LOG_BLOCK_SIZE, 0x18);
  b.writeUInt32LE(C.LOG_BLOCK_SIZE, 0x1c);
  b.writeUInt32LE(C.BLOCKS_PER_GROUP, 0x20);
  b.writeUInt32LE(C.BLOCKS_PER_GROUP, 0x24);
  b.writeUInt32LE(f.inodesPerGroup, 0x28);
  // s_mtime, s_wtime stay 0: e2fsck flags times in the future, and a build
  // must not read the clock.
  b.writeUInt16LE(0, 0x34); // s_mnt_count
  b.writeUInt16LE(0xffff, 0x36); // s_max_mnt_count: no forced checks
  b.writeUInt16LE(C.SUPER_MAGIC, 0x38);
  b.writeUInt16LE(C.STATE_CLEAN, 0x3a);
  b.writeUInt16LE(C.ERRORS_CONTINUE, 0x3c);
  b.writeUInt32LE(C.REV_DYNAMIC, 0x4c);
  b.writeUInt32LE(C.FIRST_INO, 0x54);
  b.writeUInt16LE(C.INODE_SIZE, 0x58);
  b.writeUInt32LE(C.COMPAT_EXT_ATTR | C.COMPAT_DIR_INDEX | C.COMPAT_SPARSE_SUPER2, 0x5c);
  b.writeUInt32LE(C.INCOMPAT_FILETYPE | C.INCOMPAT_EXTENTS | C.INCOMPAT_FLEX_BG, 0x60);
  let ro = C.RO_COMPAT_SPARSE_SUPER | C.RO_COMPAT_DIR_NLINK | C.RO_COMPAT_EXTRA_ISIZE | C.RO_COMPAT_HUGE_FILE;
  if (f.largeFile) ro |= C.RO_COMPAT_LARGE_FILE;
  b.writeUInt32LE(ro, 0x64);
  f.uuid.copy(b, 0x68, 0, 16);
  Buffer.from(f.volumeName, 'utf8').subarray(0, 16).copy(b, 0x78);
  f.hashSeed.copy(b, 0xec, 0, 16);
  b.writeUInt8(C.HASH_HALF_MD4, 0xfc);
  b.writeUInt32LE(C.DEFM_XATTR_USER | C.DEFM_ACL, 0x100);
  b.writeUInt32LE(f.mkfsTime >>> 0, 0x108);
  b.writeUInt16LE(C.EXTRA_ISIZE, 0x15c);
  b.writeUInt16LE(C.EXTRA_ISIZE, 0x15e);
  b.writeUInt32LE(C.FLAGS_UNSIGNED_HASH, 0x160);
  b.writeUInt8(C.LOG_GROUPS_PER_FLEX, 0x174);
  // s_backup_bgs (0x24c) = {0, 0}: sparse_super2 with no backup copies, so no
  // group other than 0 carries metadata that changes from image to image.
  return b;
}

export interface GroupDesc {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
}

export function encodeGroupDesc(g: GroupDesc, out: Buffer, at: number): void {
  out.writeUInt32LE(g.blockBitmap, at);
  out.writeUInt32LE(g.inodeBitmap, at + 4);
  out.writeUInt32LE(g.inodeTable, at + 8);
  out.writeUInt16LE(g.freeBlocks, at + 0x0c);
  out.writeUInt16LE(g.freeInodes, at + 0x0e);
  out.writeUInt16LE(g.usedDirs, at + 0x10);
}
