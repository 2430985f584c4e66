// The in-memory model of the flattened root filesystem: inodes and the names
// bound to them. Only metadata lives here; file content stays in the layer
// blobs and is streamed straight to its final place in the image later.
import type { TarTime } from '../tar/types.js';

export type InodeKind = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';

interface InodeBase {
  kind: InodeKind;
  /** Permission bits incl. setuid/setgid/sticky. */
  perm: number;
  uid: number;
  gid: number;
  mtime: TarTime;
  atime: TarTime;
  ctime: TarTime;
  /** Name -> value; names as in tar (e.g. "security.capability"). */
  xattrs: Map<string, Buffer> | null;
  /** Layer index that created this inode. */
  layer: number;
  /**
   * Creation ordinal: per layer for non-directories (their inode numbers are
   * laid out per layer), global for directories.
   */
  ordinal: number;
  /** Final inode number, assigned by the planner. */
  ino: number;
  /** Names bound to it in the final tree, counted by the planner. */
  links: number;
  /**
   * Blocks reserved in its layer's region (xattr block, extent leaves, data),
   * relative to the region's start; -1 when it owns none. Directories live in
   * the directory region instead and keep -1 here.
   */
  firstBlock: number;
  ownBlocks: number;
}

export interface FileInode extends InodeBase {
  kind: 'file';
  size: number;
}

export interface SymlinkInode extends InodeBase {
  kind: 'symlink';
  target: Buffer;
}

export interface DeviceInode extends InodeBase {
  kind: 'char' | 'block';
  major: number;
  minor: number;
}

export interface FifoInode extends InodeBase {
  kind: 'fifo';
}

export interface DirInode extends InodeBase {
  kind: 'dir';
  /** Entry name (latin1 bytes string) -> inode. Excludes "." and "..". */
  children: Map<string, Inode>;
  /** Names bound by the layer currently being applied (whiteout/opaque rules). */
  boundLayer: number;
  boundNames: Set<string> | null;
}

export type Inode = FileInode | SymlinkInode | DeviceInode | FifoInode | DirInode;

export function isDir(i: Inode): i is DirInode {
  return i.kind === 'dir';
}

/** Records that `layer` bound `name` in `dir`; true when it is the layer's first name there. */
export function markBound(dir: DirInode, name: string, layer: number): boolean {
  const first = dir.boundLayer !== layer || dir.boundNames === null;
  if (first) {
    dir.boundLayer = layer;
    dir.boundNames = new Set();
  }
  dir.boundNames!.add(name);
  return first;
}

export function boundInLayer(dir: DirInode, name: string, layer: number): boolean {
  return dir.boundLayer === layer && dir.boundNames !== null && dir.boundNames.has(name);
}
