// How a failed export call becomes the error of one request.
import { ERRNO, type ErrnoName } from './constants.js';

export interface RequestFailure {
  errno: number;
  message: string;
  /** An error the export meant to report (ExportError), not a bug or an outage. */
  expected: boolean;
}

/** Node's codes that the spec asks to map to ENOSPC. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

export function failure(e: unknown): RequestFailure {
  const message = e instanceof Error ? e.message : String(e);
  // Duck-typed: an ExportError from another copy of export.ts counts too.
  // (Node's own errors have numeric errno values.)
  const name = (e as { errno?: unknown } | null)?.errno;
  if (e instanceof Error && typeof name === 'string' && Object.hasOwn(ERRNO, name)) {
    return { errno: ERRNO[name as ErrnoName], message, expected: true };
  }
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NO_SPACE.has(code)) return { errno: ERRNO.ENOSPC, message, expected: false };
  return { errno: ERRNO.EIO, message, expected: false };
}
