// How many blocks an inode needs in its layer's region: decided from metadata
// alone (pass 1), so that content can later be streamed to its final place.
import type { Inode } from '../flatten/tree.js';
import {
  BLOCK_SIZE,
  EXTENTS_PER_LEAF_BLOCK,
  FAST_SYMLINK_MAX,
  INODE_EXTENTS_IN_IBLOCK,
  MAX_EXTENT_LEN,
} from './constants.js';
import { checkFitsInBlock, fitsInInode, toXattrItems } from './xattr.js';

export function dataBlocks(size: number): number {
  return Math.ceil(size / BLOCK_SIZE);
}

/** Data is contiguous, so extents = ceil(blocks / 32768); >4 needs leaf blocks. */
export function extentLeafBlocks(blocks: number): number {
  const extents = Math.ceil(blocks / MAX_EXTENT_LEN);
  if (extents <= INODE_EXTENTS_IN_IBLOCK) return 0;
  return Math.ceil(extents / EXTENTS_PER_LEAF_BLOCK);
}

/** Data blocks plus the extent-tree leaf blocks that describe them. */
export function blocksForFile(size: number): number {
  const d = dataBlocks(size);
  return d + extentLeafBlocks(d);
}

export function slowSymlink(targetLen: number): boolean {
  return targetLen > FAST_SYMLINK_MAX;
}

export function inodeNeedsXattrBlock(xattrs: Inode['xattrs'], where: () => string): boolean {
  if (xattrs === null || xattrs.size === 0) return false;
  const items = toXattrItems(xattrs, where);
  if (fitsInInode(items)) return false;
  checkFitsInBlock(items, where);
  return true;
}
