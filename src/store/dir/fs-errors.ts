// File-system errors as the store's stable codes. A full or read-only device
// is something the user can act on, so it gets a code and a sentence of its
// own; everything else is STORE_IO with the system's message.
import { SmrError } from '../../util/errors.js';

export function storeError(e: unknown, root: string, doing: 'read' | 'write'): SmrError {
  if (e instanceof SmrError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (doing === 'write') {
    if (code === 'ENOSPC') return new SmrError('STORE_FULL', `no space left on the device holding the store ${root}`, { cause: e });
    if (code === 'EDQUOT') return new SmrError('STORE_FULL', `disk quota exceeded on the device holding the store ${root}`, { cause: e });
    if (code === 'EROFS') return new SmrError('STORE_NOT_WRITABLE', `the store ${root} is not writable: its file system is read-only`, { cause: e });
    if (code === 'EACCES' || code === 'EPERM') {
      return new SmrError('STORE_NOT_WRITABLE', `the store ${root} is not writable: permission denied (${code})`, { cause: e });
    }
  }
  const why = (e as Error | undefined)?.message ?? String(e);
  return new SmrError('STORE_IO', `cannot ${doing} the store ${root}: ${why}`, { cause: e });
}

export function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === code;
}
