// Extent trees for contiguous runs of blocks: up to four extents fit in the
// inode's i_block; longer runs get one level of leaf blocks.
import { SmrError } from '../util/errors.js';
import {
  BLOCK_SIZE,
  EXTENT_MAGIC,
  EXTENTS_PER_LEAF_BLOCK,
  INODE_EXTENTS_IN_IBLOCK,
  MAX_EXTENT_LEN,
} from './constants.js';

interface Extent {
  logical: number;
  len: number;
  physical: number;
}

function splitRun(physical: number, blocks: number): Extent[] {
  const out: Extent[] = [];
  for (let l = 0; l < blocks; l += MAX_EXTENT_LEN) {
    out.push({ logical: l, len: Math.min(MAX_EXTENT_LEN, blocks - l), physical: physical + l });
  }
  return out;
}

function writeHeader(buf: Buffer, at: number, entries: number, max: number, depth: number): void {
  buf.writeUInt16LE(EXTENT_MAGIC, at);
  buf.writeUInt16LE(entries, at + 2);
  buf.writeUInt16LE(max, at + 4);
  buf.writeUInt16LE(depth, at + 6);
  buf.writeUInt32LE(0, at + 8);
}

function writeExtent(buf: Buffer, at: number, e: Extent): void {
  buf.writeUInt32LE(e.logical, at);
  buf.writeUInt16LE(e.len, at + 4);
  buf.writeUInt16LE(Math.floor(e.physical / 2 ** 32), at + 6);
  buf.writeUInt32LE(e.physical >>> 0, at + 8);
}

export interface ExtentTree {
  /** 60 bytes for i_block. */
  iblock: Buffer;
  /** Leaf blocks, to be written at leafPhysical, leafPhysical+1, ... */
  leaves: Buffer[];
}

/**
 * Extent tree for `blocks` data blocks at `dataPhysical`, with leaf blocks (if
 * any are needed) at `leafPhysical`.
 */
export function buildExtentTree(dataPhysical: number, blocks: number, leafPhysical: number): ExtentTree {
  const iblock = Buffer.alloc(60);
  const extents = splitRun(dataPhysical, blocks);
  if (extents.length <= INODE_EXTENTS_IN_IBLOCK) {
    writeHeader(iblock, 0, extents.length, INODE_EXTENTS_IN_IBLOCK, 0);
    extents.forEach((e, i) => writeExtent(iblock, 12 + i * 12, e));
    return { iblock, leaves: [] };
  }
  const nLeaves = Math.ceil(extents.length / EXTENTS_PER_LEAF_BLOCK);
  if (nLeaves > INODE_EXTENTS_IN_IBLOCK) {
    throw new SmrError('FILE_TOO_LARGE', `a file of ${blocks * BLOCK_SIZE} bytes needs a deeper extent tree than this writer makes`);
  }
  writeHeader(iblock, 0, nLeaves, INODE_EXTENTS_IN_IBLOCK, 1);
  const leaves: Buffer[] = [];
  for (let j = 0; j < nLeaves; j++) {
    const part = extents.slice(j * EXTENTS_PER_LEAF_BLOCK, (j + 1) * EXTENTS_PER_LEAF_BLOCK);
    const leaf = Buffer.alloc(BLOCK_SIZE);
    writeHeader(leaf, 0, part.length, EXTENTS_PER_LEAF_BLOCK, 0);
    part.forEach((e, i) => writeExtent(leaf, 12 + i * 12, e));
    leaves.push(leaf);
    const at = 12 + j * 12;
    const leafBlock = leafPhysical + j;
    iblock.writeUInt32LE(part[0]!.logical, at);
    iblock.writeUInt32LE(leafBlock >>> 0, at + 4);
    iblock.writeUInt16LE(Math.floor(leafBlock / 2 ** 32), at + 8);
    iblock.writeUInt16LE(0, at + 10);
  }
  return { iblock, leaves };
}

/** An empty extent tree (empty regular files and directories start so). */
export function emptyExtentTree(): Buffer {
  const iblock = Buffer.alloc(60);
  writeHeader(iblock, 0, 0, INODE_EXTENTS_IN_IBLOCK, 0);
  return iblock;
}
