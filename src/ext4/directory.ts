// Directory blocks: a single linear block for small directories, a hashed
// b-tree (htree, "dir_index") for larger ones so the kernel finds one name
// among many with a few block reads. Entries are ordered deterministically:
// by name in linear blocks, by (hash, name) in htree leaves.
import { SmrError } from '../util/errors.js';
import { BLOCK_SIZE, FT_DIR, HASH_HALF_MD4 } from './constants.js';
import { dirHash } from './hash.js';

export interface DirEntryIn {
  name: Buffer;
  ino: number;
  fileType: number;
}

export interface DirBlocks {
  blocks: Buffer[];
  htree: boolean;
}

const recLen = (nameLen: number) => (8 + nameLen + 3) & ~3;
const ROOT_LIMIT = (BLOCK_SIZE - 0x20) / 8; // dx_root: header before entries is 32 bytes
const NODE_LIMIT = (BLOCK_SIZE - 8) / 8; // dx_node: one 8-byte fake dirent

function putEntry(b: Buffer, at: number, e: DirEntryIn, rec: number): void {
  b.writeUInt32LE(e.ino, at);
  b.writeUInt16LE(rec, at + 4);
  b.writeUInt8(e.name.length, at + 6);
  b.writeUInt8(e.fileType, at + 7);
  e.name.copy(b, at + 8);
}

/**
 * Packs entries into blocks in the given order; the last entry of each block
 * stretches to the block's end. Returns the blocks and, per block, the index
 * of its first entry.
 */
function packBlocks(entries: DirEntryIn[]): { blocks: Buffer[]; firsts: number[] } {
  const blocks: Buffer[] = [];
  const firsts: number[] = [];
  let b: Buffer | null = null;
  let used = 0;
  let lastAt = -1;
  entries.forEach((e, i) => {
    const rl = recLen(e.name.length);
    if (b === null || used + rl > BLOCK_SIZE) {
      if (b !== null) b.writeUInt16LE(BLOCK_SIZE - lastAt, lastAt + 4);
      b = Buffer.alloc(BLOCK_SIZE);
      blocks.push(b);
      firsts.push(i);
      used = 0;
    }
    putEntry(b, used, e, rl);
    lastAt = used;
    used += rl;
  });
  if (b !== null) (b as Buffer).writeUInt16LE(BLOCK_SIZE - lastAt, lastAt + 4);
  return { blocks, firsts };
}

const byName = (a: DirEntryIn, b: DirEntryIn) => Buffer.compare(a.name, b.name);

export function buildDirectory(selfIno: number, parentIno: number, children: DirEntryIn[], seed: Uint32Array): DirBlocks {
  const dot: DirEntryIn = { name: Buffer.from('.'), ino: selfIno, fileType: FT_DIR };
  const dotdot: DirEntryIn = { name: Buffer.from('..'), ino: parentIno, fileType: FT_DIR };
  const sorted = [...children].sort(byName);
  let bytes = 24;
  for (const c of sorted) bytes += recLen(c.name.length);
  if (bytes <= BLOCK_SIZE) {
    return { blocks: packBlocks([dot, dotdot, ...sorted]).blocks, htree: false };
  }
  return { blocks: buildHtree(dot, dotdot, sorted, seed), htree: true };
}

function buildHtree(dot: DirEntryIn, dotdot: DirEntryIn, children: DirEntryIn[], seed: Uint32Array): Buffer[] {
  const hashed = children.map((e) => ({ e, h: dirHash(e.name, seed) }));
  hashed.sort((a, b) => a.h - b.h || Buffer.compare(a.e.name, b.e.name));
  const { blocks: leaves, firsts } = packBlocks(hashed.map((x) => x.e));
  // Lookup key of each leaf: the hash of its first entry, with bit 0 set when
  // that hash continues from the previous leaf (a collision split in two).
  const keys = firsts.map((fi, i) => {
    if (i === 0) return 0;
    const h = hashed[fi]!.h;
    return hashed[fi - 1]!.h === h ? (h | 1) >>> 0 : h;
  });

  const root = Buffer.alloc(BLOCK_SIZE);
  putEntry(root, 0, dot, 12);
  putEntry(root, 12, dotdot, BLOCK_SIZE - 12);
  root.writeUInt32LE(0, 0x18); // reserved_zero
  root.writeUInt8(HASH_HALF_MD4, 0x1c); // unsigned variant per s_flags
  root.writeUInt8(8, 0x1d); // info_length
  root.writeUInt8(0, 0x1f); // unused_flags

  if (leaves.length <= ROOT_LIMIT) {
    root.writeUInt8(0, 0x1e); // indirect_levels
    writeDxEntries(root, 0x20, ROOT_LIMIT, keys, keys.map((_, i) => 1 + i));
    return [root, ...leaves];
  }
  const nNodes = Math.ceil(leaves.length / NODE_LIMIT);
  if (nNodes > ROOT_LIMIT) {
    throw new SmrError('DIR_TOO_LARGE', `a directory with ${children.length} entries is larger than a two-level htree holds`);
  }
  root.writeUInt8(1, 0x1e);
  const nodes: Buffer[] = [];
  const nodeKeys: number[] = [];
  const firstLeafBlock = 1 + nNodes;
  for (let n = 0; n < nNodes; n++) {
    const lo = n * NODE_LIMIT;
    const part = keys.slice(lo, lo + NODE_LIMIT);
    const node = Buffer.alloc(BLOCK_SIZE);
    node.writeUInt32LE(0, 0); // fake dirent: inode 0 spanning the block
    node.writeUInt16LE(BLOCK_SIZE, 4);
    writeDxEntries(node, 8, NODE_LIMIT, part, part.map((_, i) => firstLeafBlock + lo + i));
    nodes.push(node);
    nodeKeys.push(part[0]!);
  }
  writeDxEntries(root, 0x20, ROOT_LIMIT, nodeKeys, nodeKeys.map((_, i) => 1 + i));
  return [root, ...nodes, ...leaves];
}

/**
 * dx entries: the first slot holds limit/count instead of a hash (its hash is
 * implicitly the lower bound), then {hash, block} pairs.
 */
function writeDxEntries(b: Buffer, at: number, limit: number, keys: number[], blocks: number[]): void {
  b.writeUInt16LE(limit, at);
  b.writeUInt16LE(keys.length, at + 2);
  b.writeUInt32LE(blocks[0]!, at + 4);
  for (let i = 1; i < keys.length; i++) {
    b.writeUInt32LE(keys[i]! >>> 0, at + i * 8);
    b.writeUInt32LE(blocks[i]!, at + i * 8 + 4);
  }
}
