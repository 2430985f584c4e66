// The shape of one tar entry as the flattener sees it. Paths and link names
// are byte strings held as latin1 JS strings (one char per byte), so names
// that are not UTF-8 survive unchanged: Buffer.from(path, 'latin1') gives the
// exact bytes.

export type TarEntryType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char'
  | 'block'
  | 'dir'
  | 'fifo';

export interface TarTime {
  /** Seconds since the epoch; may be negative. */
  sec: number;
  /** Nanoseconds, 0..999999999. */
  nsec: number;
}

export interface TarEntry {
  /** Entry name as in the archive (PAX/GNU long name applied), latin1 bytes. */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content that follow (0 for everything but 'file'). */
  size: number;
  mtime: TarTime;
  /** From PAX atime/ctime when present. */
  atime?: TarTime;
  ctime?: TarTime;
  /** Target of a symlink or hard link, latin1 bytes. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** SCHILY.xattr.* records: name (UTF-8 decoded) -> raw value bytes. */
  xattrs: Map<string, Buffer>;
  /** Byte offset of this entry's header in the uncompressed stream (for errors). */
  headerOffset: number;
}
