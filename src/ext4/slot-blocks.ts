// What an inode stores in its layer's region, and where: its xattr block (when
// the attributes do not fit in the inode), extent-tree leaf blocks (files over
// 512 MiB), then its content (file data or a long symlink target). All of it
// depends only on the inode and its layer's start, so it can be written as
// soon as the entry is read.
import type { Inode } from '../flatten/tree.js';
import { BLOCK_SIZE, FAST_SYMLINK_MAX } from './constants.js';
import { buildExtentTree, type ExtentTree } from './extents.js';
import { dataBlocks, extentLeafBlocks } from './placement.js';
import { buildXattrBlock, fitsInInode, toXattrItems, type XattrItem } from './xattr.js';

export interface Piece {
  offset: number;
  data: Buffer;
}

export function xattrItemsOf(i: Inode): XattrItem[] | null {
  return i.xattrs === null ? null : toXattrItems(i.xattrs, () => `inode ${i.ino}`);
}

function hasXattrBlock(i: Inode): boolean {
  const items = xattrItemsOf(i);
  return items !== null && !fitsInInode(items);
}

function leafBlocksOf(i: Inode): number {
  return i.kind === 'file' ? extentLeafBlocks(dataBlocks(i.size)) : 0;
}

/** Absolute block where the inode's content (data or symlink target) starts. */
export function contentBlock(layerStart: number, i: Inode): number {
  return layerStart + i.firstBlock + (hasXattrBlock(i) ? 1 : 0) + leafBlocksOf(i);
}

export function xattrBlockOf(layerStart: number, i: Inode): number {
  return hasXattrBlock(i) ? layerStart + i.firstBlock : 0;
}

export function fileExtentTree(layerStart: number, i: Inode & { kind: 'file' }): ExtentTree {
  const leafAt = layerStart + i.firstBlock + (hasXattrBlock(i) ? 1 : 0);
  return buildExtentTree(contentBlock(layerStart, i), dataBlocks(i.size), leafAt);
}

/** The metadata blocks of a slot (xattr block, extent leaves, symlink target). */
export function slotMetadata(layerStart: number, i: Inode): Piece[] {
  const out: Piece[] = [];
  const items = xattrItemsOf(i);
  let b = layerStart + i.firstBlock;
  if (items && !fitsInInode(items)) out.push({ offset: b++ * BLOCK_SIZE, data: buildXattrBlock(items) });
  if (i.kind === 'file') {
    fileExtentTree(layerStart, i).leaves.forEach((leaf, k) => out.push({ offset: (b + k) * BLOCK_SIZE, data: leaf }));
  } else if (i.kind === 'symlink' && i.target.length > FAST_SYMLINK_MAX) {
    const blk = Buffer.alloc(BLOCK_SIZE);
    i.target.copy(blk);
    out.push({ offset: b * BLOCK_SIZE, data: blk });
  }
  return out;
}
