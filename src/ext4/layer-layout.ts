// Where each layer's region goes, the inode numbers of what the layer
// created, and the directories it holds besides its files' blocks.
//
// A layer's region is its files' blocks (in stream order), then the blocks of
// every directory whose entries the layer created or changed, as they stood
// when the layer ended. All of it depends only on the layer and the layers
// below, so it has the same bytes in every image built on those layers. A
// directory that an upper layer changes again gets a new copy in that layer's
// region; the old copy keeps its bytes (its blocks are free, like a hidden
// file's), so the base image's chunks holding it still reappear.
import { isDir, type DirInode, type Inode } from '../flatten/tree.js';
import type { LayerPlan } from '../flatten/flattener.js';
import * as C from './constants.js';
import { buildDirectory, type DirEntryIn } from './directory.js';
import { fileType } from './kinds.js';
import { extentLeafBlocks } from './placement.js';
import type { Piece } from './slot-blocks.js';

export const LOST_FOUND = 'lost+found';

/** A directory's blocks as one layer left them. */
export interface DirSnapshot {
  dir: DirInode;
  layer: number;
  /** Absolute first block. */
  start: number;
  blocks: Buffer[];
  htree: boolean;
}

export interface LayerArea {
  /** First block of the region. */
  start: number;
  /** Blocks of the layer's files (live or not), from `start`. */
  dataBlocks: number;
  /** Its non-directory inodes are numbered inodeBase + ordinal + 1. */
  inodeBase: number;
  /** Inode numbers it uses from inodeBase (files, then overflow directories). */
  inodes: number;
  /** Directory copies, right after the files' blocks. */
  snapshots: DirSnapshot[];
  dirBlocks: number;
}

/** The bytes of directory copies, one piece each, at their places. */
export function* snapshotPieces(snaps: Iterable<DirSnapshot>): Generator<Piece> {
  for (const c of snaps) yield { offset: c.start * C.BLOCK_SIZE, data: c.blocks.length === 1 ? c.blocks[0]! : Buffer.concat(c.blocks) };
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** The directory e2fsck reconnects orphans to; every ext4 has one. */
export function makeLostFound(root: DirInode): DirInode {
  return {
    kind: 'dir', perm: 0o700, uid: 0, gid: 0, mtime: root.mtime, atime: root.mtime, ctime: root.mtime,
    xattrs: null, layer: -1, ordinal: -1, ino: C.FIRST_INO, links: 2, firstBlock: -1, ownBlocks: 0,
    children: new Map(), boundLayer: -2, boundNames: null,
  };
}

export class LayerLayout {
  readonly areas: LayerArea[] = [];
  /** The newest copy of each directory. */
  readonly latest = new Map<DirInode, DirSnapshot>();
  private readonly parents = new Map<DirInode, DirInode>();
  private nextDirIno = C.FIRST_INO + 1;
  private inodeCursor = C.INODE_RANGE_ALIGN;

  constructor(private readonly root: DirInode, private readonly seed: Uint32Array) {
    root.ino = C.ROOT_INO;
    this.parents.set(root, root);
    // Made before the first layer, so that the root's copy in layer 0 already
    // names it; a layer that brings its own keeps that one.
    if (!root.children.has(LOST_FOUND)) {
      const lf = makeLostFound(root);
      root.children.set(LOST_FOUND, lf);
      this.parents.set(lf, root);
    }
  }

  /** First block of the next layer's region (after the last one: the inode tables). */
  nextStart(): number {
    const last = this.areas[this.areas.length - 1];
    if (last === undefined) return C.HEADER_REGION_BLOCKS;
    return alignUp(last.start + last.dataBlocks + last.dirBlocks, C.REGION_ALIGN_BLOCKS);
  }

  /** First inode number after the layers' ranges. */
  inodeEnd(): number {
    return this.inodeCursor;
  }

  /** Inode number; a file's is fixed by its layer and stream position. */
  inoOf(i: Inode): number {
    if (!isDir(i)) i.ino = this.areas[i.layer]!.inodeBase + i.ordinal + 1;
    return i.ino;
  }

  /**
   * Called when a layer has been applied: numbers its new inodes and copies
   * the directories it touched into its region.
   */
  endLayer(plan: LayerPlan): LayerArea {
    const area: LayerArea = { start: this.nextStart(), dataBlocks: plan.blocks, inodeBase: this.inodeCursor, inodes: plan.inodes, snapshots: [], dirBlocks: 0 };
    this.areas.push(area);
    const touched = [...plan.dirs];
    if (plan.index === 0) {
      for (const d of [this.root, this.root.children.get(LOST_FOUND)]) {
        if (d !== undefined && isDir(d) && !plan.dirs.has(d)) touched.push(d);
      }
    }
    // Directory inodes: the first range (one chunk of table) in creation
    // order, then the layer's own range after its files.
    for (const d of touched.filter((x) => x.ino === 0).sort((a, b) => a.ordinal - b.ordinal)) {
      d.ino = this.nextDirIno <= C.INODE_RANGE_ALIGN ? this.nextDirIno++ : area.inodeBase + ++area.inodes;
    }
    this.inodeCursor = alignUp(area.inodeBase + area.inodes, C.INODE_RANGE_ALIGN);
    for (const d of touched) for (const c of d.children.values()) if (isDir(c)) this.parents.set(c, d);

    let cursor = area.start + area.dataBlocks;
    for (const d of touched.sort((a, b) => a.ino - b.ino)) {
      const parent = this.parents.get(d);
      if (parent === undefined) continue; // made and removed within the layer
      const shape = buildDirectory(d.ino, parent.ino, this.entries(d), this.seed);
      // Directories that need an extent tree block go with the image's own metadata.
      if (extentLeafBlocks(shape.blocks.length) > 0) continue;
      const snap: DirSnapshot = { dir: d, layer: plan.index, start: cursor, blocks: shape.blocks, htree: shape.htree };
      cursor += shape.blocks.length;
      area.snapshots.push(snap);
      this.latest.set(d, snap);
    }
    area.dirBlocks = cursor - area.start - area.dataBlocks;
    return area;
  }

  /** The entries of a directory as they stand, with final inode numbers. */
  entries(d: DirInode): DirEntryIn[] {
    const out: DirEntryIn[] = [];
    for (const [name, child] of d.children) {
      out.push({ name: Buffer.from(name, 'latin1'), ino: this.inoOf(child), fileType: fileType(child) });
    }
    return out;
  }
}
