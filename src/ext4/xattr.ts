// Extended attributes as ext4 stores them: a name index for the namespace
// prefix, entries with hashes, values packed from the end; inside the inode
// when they fit, else in one attribute block. POSIX ACLs are converted from
// the VFS xattr form (what tar carries) to ext4's compact on-disk form.
import { SmrError } from '../util/errors.js';
import {
  BLOCK_SIZE,
  INODE_SIZE,
  INODE_XATTR_START,
  XATTR_BLOCK_HEADER_SIZE,
  XATTR_ENTRY_HEADER_SIZE,
  XATTR_MAGIC,
} from './constants.js';

export interface XattrItem {
  index: number;
  name: Buffer; // suffix after the namespace prefix
  value: Buffer; // on-disk value
}

const PREFIXES: Array<[string, number]> = [
  ['user.', 1],
  ['trusted.', 4],
  ['security.', 6],
];
const ACL_ACCESS = 'system.posix_acl_access';
const ACL_DEFAULT = 'system.posix_acl_default';

const pad4 = (n: number) => (n + 3) & ~3;
const entrySize = (nameLen: number) => pad4(XATTR_ENTRY_HEADER_SIZE + nameLen);

/** Maps tar xattrs to ext4 entries, sorted as the kernel keeps them. */
export function toXattrItems(xattrs: Map<string, Buffer>, where: () => string): XattrItem[] {
  const items: XattrItem[] = [];
  for (const [full, value] of xattrs) {
    if (full === ACL_ACCESS || full === ACL_DEFAULT) {
      items.push({ index: full === ACL_ACCESS ? 2 : 3, name: Buffer.alloc(0), value: aclToDisk(value, where) });
      continue;
    }
    const p = PREFIXES.find(([prefix]) => full.startsWith(prefix));
    if (!p) throw new SmrError('LAYER_BAD_XATTR', `${where()}: extended attribute '${full}' is in a namespace ext4 cannot store`);
    const name = Buffer.from(full.slice(p[0].length), 'utf8');
    if (name.length === 0 || name.length > 255) {
      throw new SmrError('LAYER_BAD_XATTR', `${where()}: extended attribute name '${full}' has a bad length`);
    }
    items.push({ index: p[1], name, value });
  }
  items.sort((a, b) => a.index - b.index || a.name.length - b.name.length || Buffer.compare(a.name, b.name));
  return items;
}

function spaceNeeded(items: XattrItem[]): number {
  let n = 4; // the terminating zero word after the last entry
  for (const it of items) n += entrySize(it.name.length) + pad4(it.value.length);
  return n;
}

/** Bytes available after the in-inode magic word. */
const IN_INODE_SPACE = INODE_SIZE - INODE_XATTR_START - 4;
const IN_BLOCK_SPACE = BLOCK_SIZE - XATTR_BLOCK_HEADER_SIZE;

export function fitsInInode(items: XattrItem[]): boolean {
  return items.length === 0 || spaceNeeded(items) <= IN_INODE_SPACE;
}

export function checkFitsInBlock(items: XattrItem[], where: () => string): void {
  if (spaceNeeded(items) > IN_BLOCK_SPACE) {
    throw new SmrError('LAYER_BAD_XATTR', `${where()}: extended attributes take ${spaceNeeded(items)} bytes, more than one ${BLOCK_SIZE}-byte block`);
  }
}

function entryHash(it: XattrItem): number {
  let h = 0;
  for (const c of it.name) h = ((h << 5) ^ (h >>> 27) ^ c) >>> 0;
  const padded = Buffer.alloc(pad4(it.value.length));
  it.value.copy(padded);
  for (let i = 0; i < padded.length; i += 4) h = ((h << 16) ^ (h >>> 16) ^ padded.readUInt32LE(i)) >>> 0;
  return h;
}

/**
 * Writes entries at `entriesAt` and values downward from `end` into buf;
 * value offsets are relative to `base`. Returns the entry hashes.
 */
function packEntries(buf: Buffer, items: XattrItem[], entriesAt: number, end: number, base: number): number[] {
  let e = entriesAt;
  let v = end;
  const hashes: number[] = [];
  for (const it of items) {
    v -= pad4(it.value.length);
    it.value.copy(buf, v);
    const h = entryHash(it);
    hashes.push(h);
    buf.writeUInt8(it.name.length, e);
    buf.writeUInt8(it.index, e + 1);
    buf.writeUInt16LE(it.value.length === 0 ? 0 : v - base, e + 2);
    buf.writeUInt32LE(0, e + 4); // e_value_inum
    buf.writeUInt32LE(it.value.length, e + 8);
    buf.writeUInt32LE(h, e + 12);
    it.name.copy(buf, e + XATTR_ENTRY_HEADER_SIZE);
    e += entrySize(it.name.length);
  }
  buf.writeUInt32LE(0, e); // end of entries
  return hashes;
}

/** Fills the in-inode xattr area of a 256-byte inode. */
export function writeInodeXattrs(inode: Buffer, items: XattrItem[]): void {
  if (items.length === 0) return;
  inode.writeUInt32LE(XATTR_MAGIC, INODE_XATTR_START);
  const first = INODE_XATTR_START + 4;
  packEntries(inode, items, first, INODE_SIZE, first);
}

/** One attribute block (referenced by a single inode). */
export function buildXattrBlock(items: XattrItem[]): Buffer {
  const b = Buffer.alloc(BLOCK_SIZE);
  b.writeUInt32LE(XATTR_MAGIC, 0);
  b.writeUInt32LE(1, 4); // h_refcount
  b.writeUInt32LE(1, 8); // h_blocks
  const hashes = packEntries(b, items, XATTR_BLOCK_HEADER_SIZE, BLOCK_SIZE, 0);
  let h = 0;
  for (const eh of hashes) {
    if (eh === 0) {
      h = 0;
      break;
    }
    h = ((h << 16) ^ (h >>> 16) ^ eh) >>> 0;
  }
  b.writeUInt32LE(h, 12); // h_hash
  return b;
}

// POSIX ACL tags
const ACL_USER_OBJ = 0x01;
const ACL_USER = 0x02;
const ACL_GROUP_OBJ = 0x04;
const ACL_GROUP = 0x08;
const ACL_MASK = 0x10;
const ACL_OTHER = 0x20;

/**
 * VFS form: le32 version 2, then {le16 tag, le16 perm, le32 id} entries.
 * ext4 form: le32 version 1, then 4-byte entries for the *_OBJ/MASK/OTHER
 * tags and 8-byte entries (with id) for named users and groups.
 */
function aclToDisk(v: Buffer, where: () => string): Buffer {
  const bad = () => new SmrError('LAYER_BAD_XATTR', `${where()}: malformed POSIX ACL extended attribute`);
  if (v.length < 4 || (v.length - 4) % 8 !== 0 || v.readUInt32LE(0) !== 2) throw bad();
  const parts: Buffer[] = [Buffer.from([1, 0, 0, 0])];
  for (let o = 4; o < v.length; o += 8) {
    const tag = v.readUInt16LE(o);
    const perm = v.readUInt16LE(o + 2);
    const id = v.readUInt32LE(o + 4);
    if (tag === ACL_USER || tag === ACL_GROUP) {
      const e = Buffer.alloc(8);
      e.writeUInt16LE(tag, 0);
      e.writeUInt16LE(perm, 2);
      e.writeUInt32LE(id, 4);
      parts.push(e);
    } else if (tag === ACL_USER_OBJ || tag === ACL_GROUP_OBJ || tag === ACL_MASK || tag === ACL_OTHER) {
      const e = Buffer.alloc(4);
      e.writeUInt16LE(tag, 0);
      e.writeUInt16LE(perm, 2);
      parts.push(e);
    } else {
      throw bad();
    }
  }
  return Buffer.concat(parts);
}
