// Applies layers, entry by entry, to the in-memory tree, following the OCI
// image spec's layer rules (image-spec layer.md): whiteouts, opaque
// directories, directory-over-directory merges, replacement of anything else,
// hard links (also to lower layers). It also reserves, in stream order, the
// blocks each new inode will occupy in its layer's data region, so that a
// second pass can stream content straight to its final place.
import type { TarEntry, TarTime } from '../tar/types.js';
import { SmrError } from '../util/errors.js';
import { displayPath, splitEntryPath } from './path.js';
import {
  boundInLayer,
  isDir,
  markBound,
  type DirInode,
  type Inode,
} from './tree.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const MAX_SYMLINK_HOPS = 40;
const EPOCH0: TarTime = { sec: 0, nsec: 0 };

/** An inode that owns blocks in its layer's data region, in stream order. */
export interface Slot {
  inode: Inode;
  /** Ordinal of the tar entry that created it within its layer. */
  entryIndex: number;
}

/**
 * How many blocks a new non-directory inode reserves in its layer's region.
 * The filesystem writer that gets the tree decides (and may refuse the inode
 * with an SmrError); the flattener only keeps the reservations in order.
 */
export type BlocksFor = (node: Inode, where: () => string) => number;

export interface LayerPlan {
  index: number;
  slots: Slot[];
  /** Blocks reserved by the layer (live or not). */
  blocks: number;
  /** Non-directory inodes created by the layer (live or not). */
  inodes: number;
  entries: number;
  /**
   * Directories whose entries the layer created or changed, in the order it
   * first did (a writer may place their blocks beside the layer's own).
   */
  dirs: Set<DirInode>;
}

export class Flattener {
  readonly root: DirInode;
  readonly layers: LayerPlan[] = [];
  private dirOrdinal = 0;
  private current: LayerPlan | null = null;
  private entryIndex = 0;
  private describe: (e: TarEntry) => string = (e) => displayPath(e.path);
  /** Directories holding names bound by the current layer (their sets go when it ends). */
  private boundDirs: DirInode[] = [];
  /** The last timestamp seen: entries mostly share one, and so can their inodes. */
  private lastTime: TarTime = EPOCH0;

  constructor(private readonly blocksFor: BlocksFor) {
    this.root = this.newDir(-1, { perm: 0o755, uid: 0, gid: 0, mtime: EPOCH0 });
  }

  beginLayer(index: number, describe: (e: TarEntry) => string): LayerPlan {
    this.current = { index, slots: [], blocks: 0, inodes: 0, entries: 0, dirs: new Set() };
    this.layers.push(this.current);
    this.entryIndex = 0;
    this.describe = describe;
    return this.current;
  }

  endLayer(): LayerPlan {
    const l = this.layer();
    l.entries = this.entryIndex;
    this.current = null;
    // The whiteout and opaque rules look at one layer's names only.
    for (const d of this.boundDirs) d.boundNames = null;
    this.boundDirs = [];
    return l;
  }

  /** Applies one entry. */
  apply(e: TarEntry): void {
    const layer = this.layer();
    const idx = this.entryIndex++;
    const where = () => this.describe(e);
    const parts = splitEntryPath(e.path, where);

    if (parts.length === 0) {
      // The root itself ("./"): only a directory may stand there.
      if (e.type !== 'dir') throw new SmrError('LAYER_BAD_ENTRY', `${where()}: the image root must be a directory`);
      this.setAttrs(this.root, e);
      return;
    }
    const name = parts[parts.length - 1]!;
    const parent = this.lookupParent(parts, layer.index, where, name.startsWith(WHITEOUT_PREFIX));
    if (parent === null) return; // whiteout under a missing directory: nothing to hide

    if (name === OPAQUE_MARKER) {
      this.makeOpaque(parent, layer.index);
      return;
    }
    if (name.startsWith(WHITEOUT_PREFIX)) {
      const hidden = name.slice(WHITEOUT_PREFIX.length);
      // Other .wh..wh.* names are AUFS bookkeeping, not whiteouts.
      if (hidden.startsWith('.wh.')) return;
      if (hidden === '' || hidden === '.' || hidden === '..') {
        throw new SmrError('LAYER_BAD_ENTRY', `${where()}: malformed whiteout`);
      }
      // A whiteout hides lower layers only, as if applied before this layer's
      // entries: what this layer put there stays; a directory this layer
      // re-declared loses only its lower content.
      if (!boundInLayer(parent, hidden, layer.index)) {
        if (parent.children.delete(hidden)) layer.dirs.add(parent);
      } else {
        const kept = parent.children.get(hidden);
        if (kept && isDir(kept)) this.makeOpaque(kept, layer.index);
      }
      return;
    }

    const existing = parent.children.get(name);
    if (e.type === 'dir') {
      if (existing && isDir(existing)) {
        this.setAttrs(existing, e); // directory over directory keeps the content
      } else {
        const d = this.newDir(layer.index, e);
        d.xattrs = xattrsOf(e);
        parent.children.set(name, d);
        layer.dirs.add(parent);
      }
      this.bind(parent, name, layer.index);
      return;
    }

    let node: Inode;
    if (e.type === 'hardlink') {
      node = this.resolveHardLink(e, where);
    } else {
      node = this.newLeaf(e, layer, idx, where);
    }
    parent.children.set(name, node); // replaces (unlinks) whatever was there
    layer.dirs.add(parent);
    this.bind(parent, name, layer.index);
  }

  private bind(dir: DirInode, name: string, layer: number): void {
    if (markBound(dir, name, layer)) this.boundDirs.push(dir);
  }

  /** `t`, or an equal object already held by an inode. */
  private shared(t: TarTime): TarTime {
    if (t.sec === this.lastTime.sec && t.nsec === this.lastTime.nsec) return this.lastTime;
    return (this.lastTime = t);
  }

  private layer(): LayerPlan {
    if (!this.current) throw new Error('Flattener: no layer begun');
    return this.current;
  }

  private newDir(layer: number, e: Pick<TarEntry, 'mtime'> & { perm?: number; mode?: number; uid: number; gid: number; atime?: TarTime; ctime?: TarTime }): DirInode {
    const perm = (e.perm ?? e.mode ?? 0o755) & 0o7777;
    const dir: DirInode = {
      kind: 'dir',
      perm,
      uid: e.uid,
      gid: e.gid,
      mtime: this.shared(e.mtime),
      atime: this.shared(e.atime ?? e.mtime),
      ctime: this.shared(e.ctime ?? e.mtime),
      xattrs: null,
      layer,
      ordinal: this.dirOrdinal++,
      ino: 0,
      links: 0,
      firstBlock: -1,
      ownBlocks: 0,
      children: new Map(),
      boundLayer: -2,
      boundNames: null,
    };
    this.current?.dirs.add(dir); // a new directory's (empty) entries are the layer's too
    return dir;
  }

  private setAttrs(node: Inode, e: TarEntry): void {
    node.perm = e.mode & 0o7777;
    node.uid = e.uid;
    node.gid = e.gid;
    node.mtime = this.shared(e.mtime);
    node.atime = this.shared(e.atime ?? e.mtime);
    node.ctime = this.shared(e.ctime ?? e.mtime);
    node.xattrs = xattrsOf(e);
  }

  private newLeaf(e: TarEntry, layer: LayerPlan, entryIndex: number, where: () => string): Inode {
    const base = {
      perm: e.mode & 0o7777,
      uid: e.uid,
      gid: e.gid,
      mtime: this.shared(e.mtime),
      atime: this.shared(e.atime ?? e.mtime),
      ctime: this.shared(e.ctime ?? e.mtime),
      xattrs: xattrsOf(e),
      layer: layer.index,
      ordinal: layer.inodes++,
      ino: 0,
      links: 0,
      firstBlock: -1,
      ownBlocks: 0,
    };
    let node: Inode;
    switch (e.type) {
      case 'file':
        node = { ...base, kind: 'file', size: e.size };
        break;
      case 'symlink': {
        const target = Buffer.from(e.linkname, 'latin1');
        if (target.length === 0) throw new SmrError('LAYER_BAD_ENTRY', `${where()}: symbolic link with an empty target`);
        // Linux gives every symlink 0777 whatever the archive says (there is no lchmod).
        node = { ...base, kind: 'symlink', target, perm: 0o777 };
        break;
      }
      case 'char':
      case 'block':
        node = { ...base, kind: e.type, major: e.devmajor, minor: e.devminor };
        break;
      case 'fifo':
        node = { ...base, kind: 'fifo' };
        break;
      default:
        throw new SmrError('LAYER_BAD_ENTRY', `${where()}: unsupported entry type ${e.type}`);
    }
    const blocks = this.blocksFor(node, where);
    if (blocks > 0) {
      node.firstBlock = layer.blocks;
      node.ownBlocks = blocks;
      layer.slots.push({ inode: node, entryIndex });
      layer.blocks += blocks;
    }
    return node;
  }

  private resolveHardLink(e: TarEntry, where: () => string): Inode {
    const parts = splitEntryPath(e.linkname, () => `${where()} (hard link target '${displayPath(e.linkname)}')`);
    let dir: DirInode = this.root;
    for (let i = 0; i < parts.length; i++) {
      const child = dir.children.get(parts[i]!);
      if (child === undefined) break;
      if (i === parts.length - 1) {
        if (isDir(child)) throw new SmrError('LAYER_BAD_LINK', `${where()}: hard link to a directory '${displayPath(e.linkname)}'`);
        return child;
      }
      const next = child.kind === 'symlink' ? this.followSymlink(dir, child.target, 0) : child;
      if (next === null || !isDir(next)) break;
      dir = next;
    }
    throw new SmrError('LAYER_BAD_LINK', `${where()}: hard link target '${displayPath(e.linkname)}' does not exist`);
  }

  /**
   * The directory that will hold the entry. Missing parents are created as
   * containerd does (0755 root); a symlinked parent is resolved inside the
   * image root, never on the host. For whiteouts a missing parent means there
   * is nothing to hide (null).
   */
  private lookupParent(parts: string[], layer: number, where: () => string, isWhiteout: boolean): DirInode | null {
    let dir = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      const name = parts[i]!;
      let child = dir.children.get(name);
      if (child === undefined) {
        if (isWhiteout) return null;
        child = this.newDir(layer, { perm: 0o755, uid: 0, gid: 0, mtime: EPOCH0 });
        dir.children.set(name, child);
        this.layer().dirs.add(dir);
        this.bind(dir, name, layer);
      }
      if (child.kind === 'symlink') {
        const resolved = this.followSymlink(dir, child.target, 0);
        if (resolved === null) {
          if (isWhiteout) return null;
          throw new SmrError('LAYER_BAD_PARENT', `${where()}: parent '${displayPath(parts.slice(0, i + 1).join('/'))}' is a symbolic link that does not lead to a directory`);
        }
        child = resolved;
      }
      if (!isDir(child)) {
        if (isWhiteout) return null;
        throw new SmrError('LAYER_BAD_PARENT', `${where()}: parent '${displayPath(parts.slice(0, i + 1).join('/'))}' is not a directory`);
      }
      dir = child;
    }
    return dir;
  }

  /** Resolves a symlink found in `from`, confined to the image root. */
  private followSymlink(from: DirInode, target: Buffer, depth: number): DirInode | null {
    if (depth > MAX_SYMLINK_HOPS) return null;
    const text = target.toString('latin1');
    const stack: DirInode[] = text.startsWith('/') ? [this.root] : this.pathTo(from);
    for (const part of text.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const cur = stack[stack.length - 1]!;
      const child = cur.children.get(part);
      if (child === undefined) return null;
      if (child.kind === 'symlink') {
        const r = this.followSymlink(cur, child.target, depth + 1);
        if (r === null) return null;
        stack.splice(0, stack.length, ...this.pathTo(r));
        continue;
      }
      if (!isDir(child)) return null;
      stack.push(child);
    }
    return stack[stack.length - 1]!;
  }

  /** Root-to-dir chain (for '..' while resolving). Linear search: rare path. */
  private pathTo(target: DirInode): DirInode[] {
    const chain: DirInode[] = [];
    const walk = (d: DirInode): boolean => {
      chain.push(d);
      if (d === target) return true;
      for (const c of d.children.values()) if (isDir(c) && walk(c)) return true;
      chain.pop();
      return false;
    };
    return walk(this.root) ? chain : [this.root];
  }

  /**
   * Opaque directory: everything lower layers put below it disappears. The
   * spec says the marker applies first within its layer whatever the entry
   * order, so what this layer already bound below it survives.
   */
  private makeOpaque(dir: DirInode, layer: number): void {
    for (const [name, child] of [...dir.children]) {
      if (!boundInLayer(dir, name, layer)) {
        dir.children.delete(name);
        this.layer().dirs.add(dir);
      } else if (isDir(child)) {
        this.makeOpaque(child, layer);
      }
    }
  }
}

function xattrsOf(e: TarEntry): Map<string, Buffer> | null {
  return e.xattrs.size > 0 ? new Map(e.xattrs) : null;
}
