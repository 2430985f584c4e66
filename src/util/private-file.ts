// Secrets on disk (keys, PSK files) must be readable by their owner only, as
// ssh insists for its keys: a key others can read is a key others may hold.
import { open } from 'node:fs/promises';
import { SmrError } from './errors.js';
import { describeReadError } from './fs-errors.js';

/** Refuses a file readable or writable by group or others; `what` names it in the message. */
export function checkPrivateMode(mode: number, path: string, what: string): void {
  if ((mode & 0o077) !== 0) {
    throw new SmrError('KEY_PERMISSIONS', `${what} ${path} is accessible by others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
  }
}

/** Reads a secret file after checking who may read it. Never puts its content in an error. */
export async function readPrivateFile(path: string, what: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new SmrError('KEY_UNREADABLE', `cannot read ${what} ${path}: ${describeReadError(e)}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SmrError('KEY_INVALID', `${what} ${path} is not a file`);
    checkPrivateMode(st.mode, path, what);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
