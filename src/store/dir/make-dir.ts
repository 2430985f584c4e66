// mkdir -p that keeps the real error. Node's recursive mkdir reports ENOENT
// when the system said EROFS (measured on Node 20), so a read-only store would
// look like a missing directory.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Creates `dir` and any missing parents; true when `dir` itself was created. */
export async function makeDir(dir: string): Promise<boolean> {
  try {
    await mkdir(dir);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
  }
  await makeDir(dirname(dir));
  try {
    await mkdir(dir);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}
