// On-disk constants of ext4 that this writer uses (see the kernel's
// Documentation/filesystems/ext4/). Only the subset we emit is listed.

export const BLOCK_SIZE = 4096;
export const LOG_BLOCK_SIZE = 2; // 1024 << 2
export const BLOCKS_PER_GROUP = 32768; // one bitmap block covers it
export const INODE_SIZE = 256;
export const INODES_PER_BLOCK = BLOCK_SIZE / INODE_SIZE;
export const EXTRA_ISIZE = 32; // i_extra_isize: through i_projid
export const SUPERBLOCK_OFFSET = 1024;
export const GROUP_DESC_SIZE = 32; // no 64bit feature
export const FIRST_INO = 11;
export const ROOT_INO = 2;
export const MAX_NAME_LEN = 255;
export const MAX_EXTENT_LEN = 32768; // longest initialized extent
export const EXTENT_MAGIC = 0xf30a;
export const INODE_EXTENTS_IN_IBLOCK = 4; // (60 - 12) / 12
export const EXTENTS_PER_LEAF_BLOCK = (BLOCK_SIZE - 12) / 12; // 340
export const FAST_SYMLINK_MAX = 59; // target < 60 bytes lives in i_block

export const SUPER_MAGIC = 0xef53;
export const STATE_CLEAN = 1;
export const ERRORS_CONTINUE = 1;
export const REV_DYNAMIC = 1;

export const COMPAT_EXT_ATTR = 0x8;
export const COMPAT_DIR_INDEX = 0x20;
export const COMPAT_SPARSE_SUPER2 = 0x200;
export const INCOMPAT_FILETYPE = 0x2;
export const INCOMPAT_EXTENTS = 0x40;
export const INCOMPAT_FLEX_BG = 0x200;
export const RO_COMPAT_SPARSE_SUPER = 0x1;
export const RO_COMPAT_LARGE_FILE = 0x2;
export const RO_COMPAT_HUGE_FILE = 0x8;
export const RO_COMPAT_DIR_NLINK = 0x20;
export const RO_COMPAT_EXTRA_ISIZE = 0x40;

export const FLAGS_UNSIGNED_HASH = 0x2;
export const DEFM_XATTR_USER = 0x4;
export const DEFM_ACL = 0x8;
export const HASH_HALF_MD4 = 1;
export const LOG_GROUPS_PER_FLEX = 4;

export const INODE_FLAG_INDEX = 0x1000;
export const INODE_FLAG_EXTENTS = 0x80000;

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFDIR = 0o040000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** Directory entry file_type values (INCOMPAT_FILETYPE). */
export const FT_REG = 1;
export const FT_DIR = 2;
export const FT_CHR = 3;
export const FT_BLK = 4;
export const FT_FIFO = 5;
export const FT_SYMLINK = 7;

export const XATTR_MAGIC = 0xea020000;
export const XATTR_BLOCK_HEADER_SIZE = 32;
export const XATTR_ENTRY_HEADER_SIZE = 16;
/** In-inode xattr area: after the 128-byte base inode and the extra fields. */
export const INODE_XATTR_START = 128 + EXTRA_ISIZE;

/** Regions are aligned so that content-addressed chunks (up to 4 MiB) line up. */
export const REGION_ALIGN_BLOCKS = (4 * 1024 * 1024) / BLOCK_SIZE;
/** Inode-number ranges of layers are aligned to one 512 KiB chunk of table. */
export const INODE_RANGE_ALIGN = (512 * 1024) / INODE_SIZE;

export const MAX_LINKS = 65000; // beyond this dir_nlink lets a directory say 1
/**
 * The header region (superblock and group descriptors) has a fixed size, so
 * the first layer's region starts at the same offset in every image and file
 * data can be written the moment it is read. 1023 descriptor blocks cover
 * 130,944 groups: 16 TiB less 512 MiB.
 */
export const HEADER_REGION_BLOCKS = REGION_ALIGN_BLOCKS;
export const MAX_GROUPS = ((HEADER_REGION_BLOCKS - 1) * BLOCK_SIZE) / GROUP_DESC_SIZE;
