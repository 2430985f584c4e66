// File-system errors in words a user can act on, one mapping for every
// writer: a full or read-only device, or a permission, is said as such
// (and, for a store, gets a stable code of its own); anything else keeps
// the system's message.
import { SmrError } from './errors.js';

export function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === code;
}

export type WriteFailureKind = 'full' | 'not-writable' | 'other';

/** Why writing in `where` (a path, or a phrase such as "the store /x") failed. */
export function writeFailure(e: unknown, where: string): { kind: WriteFailureKind; why: string } {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
      return { kind: 'full', why: `no space left on the device holding ${where}` };
    case 'EDQUOT':
      return { kind: 'full', why: `disk quota exceeded on the device holding ${where}` };
    case 'EROFS':
      return { kind: 'not-writable', why: `${where} is not writable: its file system is read-only` };
    case 'EACCES':
    case 'EPERM':
      return { kind: 'not-writable', why: `${where} is not writable: permission denied (${code})` };
    case 'ENOENT':
      return { kind: 'other', why: `directory ${where} does not exist` };
    case 'ENOTDIR':
      return { kind: 'other', why: `${where} is not a directory` };
    case 'EISDIR':
      return { kind: 'other', why: 'a directory is in the way' };
    default:
      return { kind: 'other', why: (e as Error | undefined)?.message ?? String(e) };
  }
}

/** Why opening or reading a file failed: no such file, permission denied, or the system's words. */
export function describeReadError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (e as Error | undefined)?.message ?? String(e);
}

/** Why writing a file in `dir` failed. */
export function describeWriteError(e: unknown, dir: string): string {
  return writeFailure(e, dir).why;
}

/** A store's file-system error as STORE_FULL, STORE_NOT_WRITABLE or STORE_IO. */
export function storeError(e: unknown, root: string, doing: 'read' | 'write'): SmrError {
  if (e instanceof SmrError) return e;
  if (doing === 'write') {
    const { kind, why } = writeFailure(e, `the store ${root}`);
    if (kind === 'full') return new SmrError('STORE_FULL', why, { cause: e });
    if (kind === 'not-writable') return new SmrError('STORE_NOT_WRITABLE', why, { cause: e });
  }
  const why = (e as Error | undefined)?.message ?? String(e);
  return new SmrError('STORE_IO', `cannot ${doing} the store ${root}: ${why}`, { cause: e });
}
