// The inode kinds of the tree as ext4 spells them: directory entry file types
// and the type bits of i_mode.
import type { Inode } from '../flatten/tree.js';
import * as C from './constants.js';

export function fileType(i: Inode): number {
  switch (i.kind) {
    case 'file': return C.FT_REG;
    case 'dir': return C.FT_DIR;
    case 'symlink': return C.FT_SYMLINK;
    case 'char': return C.FT_CHR;
    case 'block': return C.FT_BLK;
    case 'fifo': return C.FT_FIFO;
  }
}

export function typeBits(i: Inode): number {
  switch (i.kind) {
    case 'file': return C.S_IFREG;
    case 'dir': return C.S_IFDIR;
    case 'symlink': return C.S_IFLNK;
    case 'char': return C.S_IFCHR;
    case 'block': return C.S_IFBLK;
    case 'fifo': return C.S_IFIFO;
  }
}
