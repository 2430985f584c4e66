// Lays the flattened tree out as an ext4 filesystem and produces its bytes.
//
// The layout is chosen for deduplication of fixed-size, content-addressed
// chunks between images that share base layers (see docs/ext4-layout.md):
//
//   [header: superblock, group descriptors, bitmaps, the image's own
//    directory blocks]                                     4 MiB, changes per image
//   [layer 0 region: its files' blocks in stream order,
//    then the directories it touched, as it left them]    same in every image
//   [layer 1 region ...]                                  built on layer 0..
//   [inode tables: dirs first, then one range per layer]
//   [free space]
//
// Every region starts on a 4 MiB boundary, so a region's content never shares
// a chunk with another region for chunk sizes up to 4 MiB. A layer's region
// and its inode range depend only on that layer and the layers below it. When
// the header cannot hold the bitmaps (images of several GiB), they and the
// image's own directory blocks go after the inode tables instead.
import { SmrError } from '../util/errors.js';
import { isDir, type DirInode, type Inode } from '../flatten/tree.js';
import type { LayerPlan, Slot } from '../flatten/flattener.js';
import { Bitmap } from './bitmap.js';
import * as C from './constants.js';
import { buildDirectory } from './directory.js';
import { buildExtentTree, emptyExtentTree, type ExtentTree } from './extents.js';
import { seedWords } from './hash.js';
import { deviceIblock, encodeInode } from './inode.js';
import { typeBits } from './kinds.js';
import { LOST_FOUND, makeLostFound, snapshotPieces, type DirSnapshot, type LayerLayout } from './layer-layout.js';
import { dataBlocks, extentLeafBlocks } from './placement.js';
import { contentBlock, fileExtentTree, xattrBlockOf, xattrItemsOf, type Piece } from './slot-blocks.js';
import { encodeGroupDesc, encodeSuperblock } from './superblock.js';
import { buildXattrBlock, fitsInInode, toXattrItems } from './xattr.js';

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

interface DirPlace {
  dir: DirInode;
  /** The layer's copy that is this directory's content, or null. */
  copy: DirSnapshot | null;
  xattrBlock: boolean;
  /** Blocks it needs in the image's own area (xattr block, and when there is no copy: extent leaves and content). */
  ownBlocks: number;
  /** Offset of those in the image's own area (relative, then absolute). */
  ownAt: number;
  leafBlocks: number;
  dirBlocks: number;
  htree: boolean;
  /** Content when there is no copy. */
  blocks: Buffer[] | null;
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

const sameBlocks = (a: Buffer[], b: Buffer[]) => a.length === b.length && a.every((x, i) => x.equals(b[i]!));

export class Ext4Plan {
  readonly totalBytes: number;
  readonly stats: PlanStats;
  private readonly seed: Uint32Array;
  private readonly groups: number;
  private readonly ipg: number;
  private readonly gdtBlocks: number;
  private readonly inodeTableStart: number;
  /** The image's own area: bitmaps, then directory blocks no layer holds. */
  private readonly ownStart: number;
  private readonly ownInHeader: boolean;
  private readonly ownDirBlocks: number;
  private readonly dirs: DirPlace[] = [];
  private readonly leaves: Inode[] = [];
  private readonly liveCopies = new Set<DirSnapshot>();
  private readonly blockMap: Bitmap;
  private readonly inodeMap: Bitmap;
  private readonly header: Buffer;

  constructor(private readonly root: DirInode, private readonly layers: LayerPlan[], private readonly layout: LayerLayout, private readonly opts: PlanOptions) {
    this.seed = seedWords(opts.hashSeed);
    const { dirsInOrder, parents, leaves } = this.collect();
    this.leaves = leaves;
    let maxIno = C.FIRST_INO;
    for (const l of leaves) maxIno = Math.max(maxIno, layout.inoOf(l));
    for (const d of dirsInOrder) {
      if (d.ino === 0) throw new Error(`Ext4Plan: directory without an inode number (layer ${d.layer})`);
      maxIno = Math.max(maxIno, d.ino);
    }
    dirsInOrder.sort((a, b) => a.ino - b.ino);

    // Each directory's content is the copy its last layer made, when that is
    // still what it holds; else it goes in the image's own area.
    let own = 0;
    this.dirs = dirsInOrder.map((d) => {
      const shape = buildDirectory(d.ino, parents.get(d)!.ino, layout.entries(d), this.seed);
      const latest = layout.latest.get(d);
      const copy = latest !== undefined && sameBlocks(latest.blocks, shape.blocks) ? latest : null;
      if (copy) this.liveCopies.add(copy);
      const xattrBlock = d.xattrs !== null && !fitsInInode(toXattrItems(d.xattrs, () => `directory inode ${d.ino}`));
      const leafBlocks = copy ? 0 : extentLeafBlocks(shape.blocks.length);
      const ownBlocks = (xattrBlock ? 1 : 0) + (copy ? 0 : leafBlocks + shape.blocks.length);
      const place: DirPlace = { dir: d, copy, xattrBlock, ownBlocks, ownAt: own, leafBlocks, dirBlocks: shape.blocks.length, htree: shape.htree, blocks: copy ? null : shape.blocks };
      own += ownBlocks;
      return place;
    });
    this.ownDirBlocks = own;

    // Geometry: the inode tables grow with the group count, and the group
    // count with everything; iterate to a fixed point.
    const requested = opts.sizeBytes !== undefined ? Math.floor(opts.sizeBytes / C.BLOCK_SIZE) : undefined;
    const layerEnd = layout.nextStart();
    let groups = 1;
    let ipg = 0, itBlocks = 0, ownStart = 0, inHeader = true, total = 0, end = 0;
    for (let iter = 0; iter < 20; iter++) {
      const used = layerEnd + own;
      const sizeGuess = requested ?? used + Math.max(16384, Math.ceil(used / 10));
      const wantInodes = Math.max(maxIno + Math.max(1024, Math.ceil(maxIno / 4)), Math.floor((sizeGuess * C.BLOCK_SIZE) / 65536));
      ipg = Math.min(alignUp(Math.ceil(wantInodes / groups), C.INODES_PER_BLOCK), C.BLOCKS_PER_GROUP);
      itBlocks = (groups * ipg) / C.INODES_PER_BLOCK;
      const headerBlocks = 1 + Math.ceil((groups * C.GROUP_DESC_SIZE) / C.BLOCK_SIZE);
      inHeader = headerBlocks + 2 * groups + own <= C.HEADER_REGION_BLOCKS;
      ownStart = inHeader ? headerBlocks : alignUp(layerEnd + itBlocks, C.REGION_ALIGN_BLOCKS);
      end = inHeader ? layerEnd + itBlocks : ownStart + 2 * groups + own;
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
    this.ownStart = ownStart;
    this.ownInHeader = inHeader;
    this.totalBytes = total * C.BLOCK_SIZE;
    for (const p of this.dirs) p.ownAt += ownStart + 2 * groups;

    // Allocation bitmaps.
    this.blockMap = new Bitmap(total);
    this.blockMap.setRange(0, 1 + this.gdtBlocks);
    let liveData = 0, hidden = 0;
    layers.forEach((l, li) => {
      const start = layout.areas[li]!.start;
      for (const s of l.slots) {
        if (s.inode.links > 0) {
          this.blockMap.setRange(start + s.inode.firstBlock, s.inode.ownBlocks);
          liveData += s.inode.ownBlocks;
        } else {
          hidden += s.inode.ownBlocks;
        }
      }
    });
    for (const c of this.liveCopies) this.blockMap.setRange(c.start, c.blocks.length);
    this.blockMap.setRange(layerEnd, itBlocks);
    this.blockMap.setRange(ownStart, 2 * groups + own);
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
    let lf = this.root.children.get(LOST_FOUND);
    if (lf === undefined || !isDir(lf)) {
      if (lf !== undefined) throw new SmrError('LAYER_BAD_ENTRY', "/lost+found in the image is not a directory; ext4 needs it to be one");
      // An upper layer removed the one made before the first layer.
      const made = makeLostFound(this.root);
      this.root.children.set(LOST_FOUND, made);
      this.root.links++;
      parents.set(made, this.root);
      dirs.push(made);
    }
    for (const d of dirs) if (d.links > C.MAX_LINKS) d.links = 1; // dir_nlink
    return { dirsInOrder: dirs, parents, leaves };
  }

  /** Where a directory's content starts. */
  private dirBlocksAt(p: DirPlace): number {
    return p.copy ? p.copy.start : p.ownAt + (p.xattrBlock ? 1 : 0) + p.leafBlocks;
  }

  private dirXattrAt(p: DirPlace): number {
    return p.xattrBlock ? p.ownAt : 0;
  }

  private dirExtents(p: DirPlace): ExtentTree {
    return buildExtentTree(this.dirBlocksAt(p), p.dirBlocks, p.ownAt + (p.xattrBlock ? 1 : 0));
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
        blockBitmap: this.ownStart + g,
        inodeBitmap: this.ownStart + groups + g,
        inodeTable: this.inodeTableStart + (g * ipg) / C.INODES_PER_BLOCK,
        freeBlocks: count - this.blockMap.countSet(first, count),
        freeInodes: ipg - this.inodeMap.countSet(g * ipg + 1, ipg),
        usedDirs: dirsPerGroup[g]!,
      }, hdr, C.BLOCK_SIZE + g * C.GROUP_DESC_SIZE);
    }
    return hdr;
  }

  /**
   * The image's own area: block bitmaps then inode bitmaps (one block per
   * group each), then the directory blocks no layer's copy holds.
   */
  private ownPiece(): Piece {
    const { groups, ipg } = this;
    const B = C.BLOCK_SIZE;
    const total = this.totalBytes / B;
    const out = Buffer.alloc((2 * groups + this.ownDirBlocks) * B);
    for (let g = 0; g < groups; g++) {
      const first = g * C.BLOCKS_PER_GROUP;
      this.blockMap.block(first, Math.min(C.BLOCKS_PER_GROUP, total - first), B).copy(out, g * B);
      // Inode i is bit (i - 1) of its group's bitmap.
      this.inodeMap.block(g * ipg + 1, ipg, B).copy(out, (groups + g) * B);
    }
    for (const p of this.dirs) {
      let at = (p.ownAt - this.ownStart) * B;
      const items = xattrItemsOf(p.dir);
      if (p.xattrBlock && items) {
        buildXattrBlock(items).copy(out, at);
        at += B;
      }
      if (p.blocks === null) continue;
      for (const b of [...this.dirExtents(p).leaves, ...p.blocks]) {
        b.copy(out, at);
        at += B;
      }
    }
    return { offset: this.ownStart * B, data: out };
  }

  /**
   * Byte ranges that nothing in the filesystem reaches: blocks of files that
   * upper layers hid, and directory copies that upper layers replaced. Kept
   * by default, holes with `--hidden zero`.
   */
  hiddenRanges(): Array<{ start: number; end: number }> {
    const B = C.BLOCK_SIZE;
    const out: Array<{ start: number; end: number }> = [];
    const add = (start: number, blocks: number) => {
      const last = out[out.length - 1];
      if (last && last.end === start * B) last.end += blocks * B;
      else out.push({ start: start * B, end: (start + blocks) * B });
    };
    this.layers.forEach((l, li) => {
      const area = this.layout.areas[li]!;
      for (const s of l.slots) if (s.inode.links === 0) add(area.start + s.inode.firstBlock, s.inode.ownBlocks);
      for (const c of area.snapshots) if (!this.liveCopies.has(c)) add(c.start, c.blocks.length);
    });
    return out;
  }

  /**
   * What each byte range of the image holds, in offset order: for reports
   * that tell which ext4 structure a chunk belongs to.
   */
  regions(): LayoutRegion[] {
    const B = C.BLOCK_SIZE;
    const own = this.ownStart * B;
    const bitmapsEnd = own + 2 * this.groups * B;
    const out: LayoutRegion[] = [{ what: 'header', start: 0, end: (1 + this.gdtBlocks) * B }];
    const ownRegions: LayoutRegion[] = [
      { what: 'bitmaps', start: own, end: bitmapsEnd },
      { what: 'directory blocks (image)', start: bitmapsEnd, end: bitmapsEnd + this.ownDirBlocks * B },
    ];
    if (this.ownInHeader) out.push(...ownRegions);
    this.layout.areas.forEach((a, li) => {
      const s = a.start * B;
      out.push({ what: `layer ${li} data`, start: s, end: s + a.dataBlocks * B });
      out.push({ what: `directory blocks (layer ${li})`, start: s + a.dataBlocks * B, end: s + (a.dataBlocks + a.dirBlocks) * B });
    });
    const it = this.inodeTableStart * B;
    out.push({ what: 'inode table (directories)', start: it, end: it + C.INODE_RANGE_ALIGN * C.INODE_SIZE });
    this.layout.areas.forEach((a, li) => {
      const s = it + a.inodeBase * C.INODE_SIZE;
      out.push({ what: `inode table (layer ${li})`, start: s, end: s + a.inodes * C.INODE_SIZE });
    });
    if (!this.ownInHeader) out.push(...ownRegions);
    return out.filter((r) => r.end > r.start);
  }

  /** Superblock and group descriptors at offset 0, with the image's own area when the header holds it. */
  headerPiece(): Piece {
    return { offset: 0, data: this.ownInHeader ? Buffer.concat([this.header, this.ownPiece().data]) : this.header };
  }

  /** Start block of each layer's region. */
  layerStartBlock(layer: number): number {
    return this.layout.areas[layer]!.start;
  }

  /** Whether a slot's inode is still visible in the final tree. */
  isLive(slot: Slot): boolean {
    return slot.inode.links > 0;
  }

  /**
   * The directory copies in a layer's region, in offset order; with
   * `replaced` false, only those that are still a directory's content.
   */
  *layerDirPieces(layer: number, replaced: boolean): Generator<Piece> {
    const all = this.layout.areas[layer]!.snapshots;
    yield* snapshotPieces(replaced ? all : all.filter((c) => this.liveCopies.has(c)));
  }

  /** Inode table slices, then the image's own area when the header does not hold it. */
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
    if (!this.ownInHeader) yield this.ownPiece();
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
      const xattrAt = this.dirXattrAt(p);
      return encodeInode({
        ...common,
        size: p.dirBlocks * C.BLOCK_SIZE,
        blocks: (xattrAt ? 1 : 0) + p.leafBlocks + p.dirBlocks,
        extents: true,
        htree: p.htree,
        iblock: this.dirExtents(p).iblock,
        xattrBlock: xattrAt,
      });
    }
    const layerStart = node.firstBlock >= 0 ? this.layout.areas[node.layer]!.start : 0;
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
