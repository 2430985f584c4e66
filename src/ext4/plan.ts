// Lays the flattened tree out as an ext4 filesystem and produces its bytes.
//
// The layout is chosen for deduplication of fixed-size, content-addressed
// chunks between images that share base layers (see docs/ext4-layout.md):
//
//   [header: superblock, group descriptors]     4 MiB, changes per image
//   [layer 0 region: its files' blocks in stream order]  same in every image
//   [layer 1 region ...]                                  built on layer 0..
//   [inode tables: dirs first, then one range per layer]
//   [directory region, then the allocation bitmaps]       changes per image
//   [free space]
//
// Every region starts on a 4 MiB boundary, so a region's content never shares
// a chunk with another region for chunk sizes up to 4 MiB. A layer's region
// and its inode range depend only on that layer and the layers below it, plus
// which of its files upper layers hide (those stay as holes).
import { SmrError } from '../util/errors.js';
import { isDir, type DirInode, type Inode } from '../flatten/tree.js';
import type { LayerPlan, Slot } from '../flatten/flattener.js';
import { Bitmap } from './bitmap.js';
import * as C from './constants.js';
import { buildDirectory, type DirEntryIn } from './directory.js';
import { buildExtentTree, emptyExtentTree } from './extents.js';
import { seedWords } from './hash.js';
import { deviceIblock, encodeInode } from './inode.js';
import { dataBlocks, extentLeafBlocks } from './placement.js';
import { contentBlock, fileExtentTree, xattrBlockOf, xattrItemsOf, type Piece } from './slot-blocks.js';
import { encodeGroupDesc, encodeSuperblock } from './superblock.js';
import { buildXattrBlock, fitsInInode, toXattrItems } from './xattr.js';

/** Start block of each layer's region: aligned, right after the header. */
export function layerRegionStarts(layerBlocks: number[]): number[] {
  const starts: number[] = [];
  let cursor = C.HEADER_REGION_BLOCKS;
  for (const b of layerBlocks) {
    starts.push(cursor);
    cursor = alignUp(cursor + b, C.REGION_ALIGN_BLOCKS);
  }
  starts.push(cursor); // end of the last region
  return starts;
}

export interface PlanOptions {
  /** Device size in bytes; default: content plus headroom. */
  sizeBytes?: number;
  uuid: Buffer;
  hashSeed: Buffer;
  /** Seconds; recorded as the filesystem's creation time. */
  mkfsTime: number;
  volumeName?: string;
}

export type { Piece };

export interface LayoutRegion {
  what: string;
  start: number;
  end: number;
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;
const LOST_FOUND = Buffer.from('lost+found');

function fileType(i: Inode): number {
  switch (i.kind) {
    case 'file': return C.FT_REG;
    case 'dir': return C.FT_DIR;
    case 'symlink': return C.FT_SYMLINK;
    case 'char': return C.FT_CHR;
    case 'block': return C.FT_BLK;
    case 'fifo': return C.FT_FIFO;
  }
}

function typeBits(i: Inode): number {
  switch (i.kind) {
    case 'file': return C.S_IFREG;
    case 'dir': return C.S_IFDIR;
    case 'symlink': return C.S_IFLNK;
    case 'char': return C.S_IFCHR;
    case 'block': return C.S_IFBLK;
    case 'fifo': return C.S_IFIFO;
  }
}

interface DirPlace {
  dir: DirInode;
  parentIno: number;
  /** First block of its area in the directory region (absolute). */
  start: number;
  xattrBlock: boolean;
  leafBlocks: number;
  dirBlocks: number;
  htree: boolean;
}

export interface PlanStats {
  blocksCount: number;
  usedBlocks: number;
  inodesCount: number;
  usedInodes: number;
  groups: number;
  dataBlocks: number;
  hiddenBlocks: number;
  directories: number;
}

export class Ext4Plan {
  readonly totalBytes: number;
  readonly stats: PlanStats;
  private readonly seed: Uint32Array;
  private readonly groups: number;
  private readonly ipg: number;
  private readonly gdtBlocks: number;
  private readonly layerStart: number[];
  private readonly inodeTableStart: number;
  private readonly bitmapStart: number;
  private layerInodeBase: number[] = [];
  private readonly dirs: DirPlace[] = [];
  private readonly leaves: Inode[] = [];
  private readonly blockMap: Bitmap;
  private readonly inodeMap: Bitmap;
  private readonly header: Buffer;

  constructor(private readonly root: DirInode, private readonly layers: LayerPlan[], private readonly opts: PlanOptions) {
    this.seed = seedWords(opts.hashSeed);
    const { dirsInOrder, parents, leaves } = this.collect();
    this.leaves = leaves;
    const maxIno = this.numberInodes(dirsInOrder, leaves);

    // Directory region size does not depend on geometry: compute it first.
    let dirRegionBlocks = 0;
    const dirShapes = dirsInOrder.map((d) => {
      const entries = this.dirEntries(d);
      const shape = buildDirectory(d.ino, parents.get(d)!.ino, entries, this.seed);
      const xattrBlock = d.xattrs !== null && !fitsInInode(toXattrItems(d.xattrs, () => `directory inode ${d.ino}`));
      const leafBlocks = extentLeafBlocks(shape.blocks.length);
      const total = (xattrBlock ? 1 : 0) + leafBlocks + shape.blocks.length;
      const place = { dir: d, parentIno: parents.get(d)!.ino, start: dirRegionBlocks, xattrBlock, leafBlocks, dirBlocks: shape.blocks.length, htree: shape.htree };
      dirRegionBlocks += total;
      return place;
    });

    // Geometry: the inode tables grow with the group count, and the group
    // count with everything; iterate to a fixed point.
    const requested = opts.sizeBytes !== undefined ? Math.floor(opts.sizeBytes / C.BLOCK_SIZE) : undefined;
    const starts = layerRegionStarts(layers.map((l) => l.blocks));
    this.layerStart = starts.slice(0, layers.length);
    const layerEnd = starts[layers.length]!;
    let groups = 1;
    let ipg = 0, itBlocks = 0, dirStart = 0, bitmapStart = 0, total = 0, end = 0;
    for (let iter = 0; iter < 20; iter++) {
      const used = layerEnd + dirRegionBlocks;
      const sizeGuess = requested ?? used + Math.max(16384, Math.ceil(used / 10));
      const wantInodes = Math.max(maxIno + Math.max(1024, Math.ceil(maxIno / 4)), Math.floor((sizeGuess * C.BLOCK_SIZE) / 65536));
      ipg = Math.min(alignUp(Math.ceil(wantInodes / groups), C.INODES_PER_BLOCK), C.BLOCKS_PER_GROUP);
      itBlocks = (groups * ipg) / C.INODES_PER_BLOCK;
      dirStart = alignUp(layerEnd + itBlocks, C.REGION_ALIGN_BLOCKS);
      bitmapStart = dirStart + dirRegionBlocks;
      end = bitmapStart + 2 * groups;
      total = requested ?? alignUp(end + Math.max(16384, Math.ceil(end / 10)), C.REGION_ALIGN_BLOCKS);
      // Many small files can need more groups (inodes) than the blocks do;
      // every group must then have blocks of its own.
      if (requested === undefined) total = Math.max(total, (groups - 1) * C.BLOCKS_PER_GROUP + C.REGION_ALIGN_BLOCKS);
      const needGroups = Math.max(Math.ceil(total / C.BLOCKS_PER_GROUP), Math.ceil(maxIno / C.BLOCKS_PER_GROUP));
      if (needGroups === groups && groups * ipg >= maxIno && end <= total) break;
      groups = needGroups;
    }
    if (requested !== undefined && end > total) {
      throw new SmrError('IMAGE_TOO_SMALL', `--size ${opts.sizeBytes} bytes is too small: this image needs at least ${Math.ceil((end * C.BLOCK_SIZE) / 2 ** 20)} MiB`);
    }
    if (groups > C.MAX_GROUPS || total >= 2 ** 32) throw new SmrError('IMAGE_TOO_LARGE', 'images of 16 TiB or more are not supported');
    if (groups * ipg < maxIno || end > total || (groups - 1) * C.BLOCKS_PER_GROUP >= total) {
      throw new SmrError('IMAGE_TOO_SMALL', `cannot lay out ${maxIno} inodes in a ${total * C.BLOCK_SIZE}-byte image; give a larger --size`);
    }
    this.groups = groups;
    this.ipg = ipg;
    this.gdtBlocks = Math.ceil((groups * C.GROUP_DESC_SIZE) / C.BLOCK_SIZE);
    this.inodeTableStart = layerEnd;
    this.bitmapStart = bitmapStart;
    this.totalBytes = total * C.BLOCK_SIZE;
    for (const s of dirShapes) s.start += dirStart;
    this.dirs = dirShapes;

    // Allocation bitmaps.
    this.blockMap = new Bitmap(total);
    this.blockMap.setRange(0, 1 + this.gdtBlocks);
    let liveData = 0, hidden = 0;
    layers.forEach((l, li) => {
      for (const s of l.slots) {
        if (s.inode.links > 0) {
          this.blockMap.setRange(this.layerStart[li]! + s.inode.firstBlock, s.inode.ownBlocks);
          liveData += s.inode.ownBlocks;
        } else {
          hidden += s.inode.ownBlocks;
        }
      }
    });
    this.blockMap.setRange(layerEnd, itBlocks);
    this.blockMap.setRange(dirStart, dirRegionBlocks + 2 * groups);
    this.inodeMap = new Bitmap(groups * ipg + 1); // bit i = inode i (bit 0 unused)
    this.inodeMap.setRange(1, C.FIRST_INO - 1);
    for (const d of dirsInOrder) this.inodeMap.set(d.ino);
    for (const l of leaves) this.inodeMap.set(l.ino);

    const usedBlocks = this.blockMap.countSet(0, total);
    const usedInodes = this.inodeMap.countSet(1, groups * ipg);
    this.header = this.buildHeader(total, usedBlocks, usedInodes);
    this.stats = {
      blocksCount: total,
      usedBlocks,
      inodesCount: groups * ipg,
      usedInodes,
      groups,
      dataBlocks: liveData,
      hiddenBlocks: hidden,
      directories: dirsInOrder.length,
    };
  }

  /** Walks the final tree: counts links, finds live inodes and parents. */
  private collect(): { dirsInOrder: DirInode[]; parents: Map<DirInode, DirInode>; leaves: Inode[] } {
    const parents = new Map<DirInode, DirInode>();
    const dirs: DirInode[] = [];
    const leaves: Inode[] = [];
    const stack: DirInode[] = [this.root];
    parents.set(this.root, this.root);
    this.root.links = 2;
    while (stack.length) {
      const d = stack.pop()!;
      dirs.push(d);
      for (const child of d.children.values()) {
        if (isDir(child)) {
          parents.set(child, d);
          child.links = 2;
          d.links++;
          stack.push(child);
        } else {
          if (child.links === 0) leaves.push(child);
          child.links++;
        }
      }
    }
    // lost+found is where e2fsck reconnects orphans; every ext4 has one.
    let lf = this.root.children.get(LOST_FOUND.toString('latin1'));
    if (lf === undefined || !isDir(lf)) {
      if (lf !== undefined) throw new SmrError('LAYER_BAD_ENTRY', "/lost+found in the image is not a directory; ext4 needs it to be one");
      const made: DirInode = {
        kind: 'dir', perm: 0o700, uid: 0, gid: 0, mtime: this.root.mtime, atime: this.root.mtime, ctime: this.root.mtime,
        xattrs: null, layer: -1, ordinal: -1, ino: 0, links: 2, firstBlock: -1, ownBlocks: 0,
        children: new Map(), boundLayer: -2, boundNames: null,
      };
      this.root.children.set(LOST_FOUND.toString('latin1'), made);
      this.root.links++;
      parents.set(made, this.root);
      dirs.push(made);
    }
    for (const d of dirs) if (d.links > C.MAX_LINKS) d.links = 1; // dir_nlink
    return { dirsInOrder: dirs, parents, leaves };
  }

  /**
   * Inode numbers: 2 root, 11 lost+found, directories from 12 in creation
   * order within the first 2048 (one 512 KiB chunk of inode table, which
   * changes whenever a directory does), then per layer an aligned range in
   * stream order, then any directories that did not fit.
   */
  private numberInodes(dirs: DirInode[], leaves: Inode[]): number {
    const lf = this.root.children.get(LOST_FOUND.toString('latin1')) as DirInode;
    this.root.ino = C.ROOT_INO;
    lf.ino = C.FIRST_INO;
    const others = dirs.filter((d) => d !== this.root && d !== lf).sort((a, b) => a.ordinal - b.ordinal);
    let cursor = C.INODE_RANGE_ALIGN;
    const base: number[] = [];
    for (const l of this.layers) {
      base.push(cursor);
      cursor = alignUp(cursor + l.inodes, C.INODE_RANGE_ALIGN);
    }
    this.layerInodeBase = base;
    for (const leaf of leaves) leaf.ino = base[leaf.layer]! + leaf.ordinal + 1;
    let next = C.FIRST_INO + 1;
    for (const d of others) {
      if (next === C.INODE_RANGE_ALIGN + 1) next = cursor + 1; // overflow past the layer ranges
      d.ino = next++;
    }
    // Directories sort by inode number from here on (that is their region order).
    dirs.sort((a, b) => a.ino - b.ino);
    let max = C.FIRST_INO;
    for (const d of dirs) max = Math.max(max, d.ino);
    for (const l of leaves) max = Math.max(max, l.ino);
    return max;
  }

  private dirEntries(d: DirInode): DirEntryIn[] {
    const out: DirEntryIn[] = [];
    for (const [name, child] of d.children) {
      out.push({ name: Buffer.from(name, 'latin1'), ino: child.ino, fileType: fileType(child) });
    }
    return out;
  }

  private buildHeader(total: number, usedBlocks: number, usedInodes: number): Buffer {
    const { groups, ipg, gdtBlocks } = this;
    const hdr = Buffer.alloc((1 + gdtBlocks) * C.BLOCK_SIZE);
    let largeFile = false;
    for (const l of this.leaves) if (l.kind === 'file' && l.size >= 2 ** 31) largeFile = true;
    encodeSuperblock({
      inodesCount: groups * ipg,
      blocksCount: total,
      freeBlocks: total - usedBlocks,
      freeInodes: groups * ipg - usedInodes,
      inodesPerGroup: ipg,
      uuid: this.opts.uuid,
      hashSeed: this.opts.hashSeed,
      mkfsTime: this.opts.mkfsTime,
      largeFile,
      volumeName: this.opts.volumeName ?? '',
    }).copy(hdr, C.SUPERBLOCK_OFFSET);
    const dirsPerGroup = new Array<number>(groups).fill(0);
    for (const d of this.dirs) dirsPerGroup[Math.floor((d.dir.ino - 1) / ipg)]!++;
    for (let g = 0; g < groups; g++) {
      const first = g * C.BLOCKS_PER_GROUP;
      const count = Math.min(C.BLOCKS_PER_GROUP, total - first);
      encodeGroupDesc({
        blockBitmap: this.bitmapStart + g,
        inodeBitmap: this.bitmapStart + groups + g,
        inodeTable: this.inodeTableStart + (g * ipg) / C.INODES_PER_BLOCK,
        freeBlocks: count - this.blockMap.countSet(first, count),
        freeInodes: ipg - this.inodeMap.countSet(g * ipg + 1, ipg),
        usedDirs: dirsPerGroup[g]!,
      }, hdr, C.BLOCK_SIZE + g * C.GROUP_DESC_SIZE);
    }
    return hdr;
  }

  /** Block bitmaps then inode bitmaps, one block per group each. */
  private bitmapPiece(): Piece {
    const { groups, ipg } = this;
    const total = this.totalBytes / C.BLOCK_SIZE;
    const out = Buffer.alloc(2 * groups * C.BLOCK_SIZE);
    for (let g = 0; g < groups; g++) {
      const first = g * C.BLOCKS_PER_GROUP;
      this.blockMap.block(first, Math.min(C.BLOCKS_PER_GROUP, total - first), C.BLOCK_SIZE).copy(out, g * C.BLOCK_SIZE);
      // Inode i is bit (i - 1) of its group's bitmap.
      this.inodeMap.block(g * ipg + 1, ipg, C.BLOCK_SIZE).copy(out, (groups + g) * C.BLOCK_SIZE);
    }
    return { offset: this.bitmapStart * C.BLOCK_SIZE, data: out };
  }

  /**
   * Byte ranges reserved by files that upper layers hid: they stay holes.
   * (For reports: which chunks of a lower image cannot reappear here.)
   */
  hiddenRanges(): Array<{ start: number; end: number }> {
    const out: Array<{ start: number; end: number }> = [];
    this.layers.forEach((l, li) => {
      for (const s of l.slots) {
        if (s.inode.links > 0) continue;
        const start = (this.layerStart[li]! + s.inode.firstBlock) * C.BLOCK_SIZE;
        const last = out[out.length - 1];
        if (last && last.end === start) last.end = start + s.inode.ownBlocks * C.BLOCK_SIZE;
        else out.push({ start, end: start + s.inode.ownBlocks * C.BLOCK_SIZE });
      }
    });
    return out;
  }

  /**
   * What each byte range of the image holds, in offset order: for reports
   * that tell which ext4 structure a chunk belongs to.
   */
  regions(): LayoutRegion[] {
    const B = C.BLOCK_SIZE;
    const out: LayoutRegion[] = [{ what: 'header', start: 0, end: this.header.length }];
    this.layers.forEach((l, li) => {
      const s = this.layerStart[li]! * B;
      out.push({ what: `layer ${li} data`, start: s, end: s + l.blocks * B });
    });
    const it = this.inodeTableStart * B;
    const dirRange = C.INODE_RANGE_ALIGN * C.INODE_SIZE;
    out.push({ what: 'inode table (directories)', start: it, end: it + dirRange });
    this.layers.forEach((l, li) => {
      const s = it + this.layerInodeBase[li]! * C.INODE_SIZE;
      out.push({ what: `inode table (layer ${li})`, start: s, end: s + l.inodes * C.INODE_SIZE });
    });
    const first = this.dirs[0]!.start * B;
    out.push({ what: 'directory blocks', start: first, end: this.bitmapStart * B });
    out.push({ what: 'bitmaps', start: this.bitmapStart * B, end: (this.bitmapStart + 2 * this.groups) * B });
    return out;
  }

  /** Byte offset of the inode tables. */
  inodeTableOffset(): number {
    return this.inodeTableStart * C.BLOCK_SIZE;
  }

  /**
   * Inode-table bytes of the inodes upper layers hid (they stay zero), as
   * offsets from the start of the inode tables.
   */
  hiddenInodeRanges(): Array<{ start: number; end: number }> {
    const live = new Set<number>(this.leaves.map((l) => l.ino));
    const out: Array<{ start: number; end: number }> = [];
    const base = 0;
    this.layers.forEach((l, li) => {
      for (let k = 0; k < l.inodes; k++) {
        const ino = this.layerInodeBase[li]! + k + 1;
        if (live.has(ino)) continue;
        const start = base + (ino - 1) * C.INODE_SIZE;
        const last = out[out.length - 1];
        if (last && last.end === start) last.end += C.INODE_SIZE;
        else out.push({ start, end: start + C.INODE_SIZE });
      }
    });
    return out;
  }

  /** Superblock and group descriptors, at offset 0. */
  headerPiece(): Piece {
    return { offset: 0, data: this.header };
  }

  /** Start block of each layer's region. */
  layerStartBlock(layer: number): number {
    return this.layerStart[layer]!;
  }

  /** Whether a slot's inode is still visible in the final tree. */
  isLive(slot: Slot): boolean {
    return slot.inode.links > 0;
  }

  /** Inode table slices, the directory region and the bitmaps, in offset order. */
  *tailPieces(): Generator<Piece> {
    // Inode table, one 2048-inode slice (512 KiB) at a time.
    const all: Inode[] = [...this.dirs.map((d) => d.dir as Inode), ...this.leaves].sort((a, b) => a.ino - b.ino);
    const dirPlace = new Map<Inode, DirPlace>(this.dirs.map((d) => [d.dir, d]));
    const slice = C.INODE_RANGE_ALIGN;
    let k = 0;
    while (k < all.length) {
      const sliceNo = Math.floor((all[k]!.ino - 1) / slice);
      const buf = Buffer.alloc(slice * C.INODE_SIZE);
      while (k < all.length && Math.floor((all[k]!.ino - 1) / slice) === sliceNo) {
        const node = all[k++]!;
        this.encode(node, dirPlace.get(node)).copy(buf, ((node.ino - 1) % slice) * C.INODE_SIZE);
      }
      yield { offset: this.inodeTableStart * C.BLOCK_SIZE + sliceNo * slice * C.INODE_SIZE, data: buf };
    }
    // Directory region, one directory at a time.
    for (const p of this.dirs) {
      const pieces: Buffer[] = [];
      const items = xattrItemsOf(p.dir);
      if (p.xattrBlock && items) pieces.push(buildXattrBlock(items));
      const shape = buildDirectory(p.dir.ino, p.parentIno, this.dirEntries(p.dir), this.seed);
      const first = p.start + (p.xattrBlock ? 1 : 0);
      pieces.push(...buildExtentTree(first + p.leafBlocks, p.dirBlocks, first).leaves);
      pieces.push(...shape.blocks);
      yield { offset: p.start * C.BLOCK_SIZE, data: pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces) };
    }
    yield this.bitmapPiece();
  }

  private encode(node: Inode, place: DirPlace | undefined): Buffer {
    const items = xattrItemsOf(node) ?? [];
    const inline = fitsInInode(items) ? items : [];
    const common = {
      mode: typeBits(node) | node.perm,
      uid: node.uid,
      gid: node.gid,
      links: node.links,
      mtime: node.mtime,
      atime: node.atime,
      ctime: node.ctime,
      inlineXattrs: inline,
      htree: false,
    };
    if (node.kind === 'dir') {
      const p = place!;
      const first = p.start + (p.xattrBlock ? 1 : 0);
      const tree = buildExtentTree(first + p.leafBlocks, p.dirBlocks, first);
      return encodeInode({
        ...common,
        size: p.dirBlocks * C.BLOCK_SIZE,
        blocks: (p.xattrBlock ? 1 : 0) + p.leafBlocks + p.dirBlocks,
        extents: true,
        htree: p.htree,
        iblock: tree.iblock,
        xattrBlock: p.xattrBlock ? p.start : 0,
      });
    }
    const layerStart = node.firstBlock >= 0 ? this.layerStart[node.layer]! : 0;
    const xattrBlock = xattrBlockOf(layerStart, node);
    switch (node.kind) {
      case 'file': {
        const d = dataBlocks(node.size);
        return encodeInode({
          ...common,
          size: node.size,
          blocks: node.ownBlocks,
          extents: true,
          iblock: d === 0 ? emptyExtentTree() : fileExtentTree(layerStart, node).iblock,
          xattrBlock,
        });
      }
      case 'symlink': {
        const slow = node.target.length > C.FAST_SYMLINK_MAX;
        let iblock: Buffer;
        if (slow) {
          const blk = contentBlock(layerStart, node);
          iblock = buildExtentTree(blk, 1, blk).iblock;
        } else {
          iblock = Buffer.alloc(60);
          node.target.copy(iblock);
        }
        return encodeInode({ ...common, size: node.target.length, blocks: node.ownBlocks, extents: slow, iblock, xattrBlock });
      }
      case 'char':
      case 'block':
        return encodeInode({ ...common, size: 0, blocks: node.ownBlocks, extents: false, iblock: deviceIblock(node.major, node.minor), xattrBlock });
      case 'fifo':
        return encodeInode({ ...common, size: 0, blocks: node.ownBlocks, extents: false, iblock: Buffer.alloc(60), xattrBlock });
    }
  }
}
