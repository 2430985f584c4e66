// How many blocks an inode needs in its layer's region: decided from metadata
// alone (pass 1), so that content can later be streamed to its final place.
import { SmrError } from '../util/errors.js';
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

/**
 * The blocks a new non-directory inode reserves in its layer's region: its
 * xattr block, extent leaves and content. This is what the flattener is given
 * to reserve space in stream order.
 */
export function blocksFor(node: Inode, where: () => string): number {
  let content = 0;
  if (node.kind === 'file') {
    content = blocksForFile(node.size);
  } else if (node.kind === 'symlink') {
    if (node.target.length >= BLOCK_SIZE) {
      throw new SmrError('LAYER_BAD_ENTRY', `${where()}: symbolic link target is ${node.target.length} bytes, at most ${BLOCK_SIZE - 1} allowed`);
    }
    content = slowSymlink(node.target.length) ? 1 : 0;
  }
  return (inodeNeedsXattrBlock(node.xattrs, where) ? 1 : 0) + content;
}
