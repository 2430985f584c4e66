// Why writing a file failed, in words a user can act on rather than errno names.

export function describeWriteError(e: unknown, dir: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return `directory ${dir} does not exist`;
    case 'ENOTDIR':
      return `${dir} is not a directory`;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return `no permission to write in ${dir}`;
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space left on the device';
    case 'EISDIR':
      return 'a directory is in the way';
    default:
      return (e as Error).message;
  }
}
