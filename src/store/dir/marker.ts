// The marker file that makes a directory a store: smr-store.json at the root,
// holding a format name and version. Readers refuse a non-empty directory
// without it (a mistyped --store must not look like an empty store); writers
// create it first, before any chunk, so a half-made store always has it.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { SmrError } from '../../util/errors.js';
import { isErrno, storeError } from '../../util/fs-errors.js';

export const MARKER = 'smr-store.json';
export const STORE_FORMAT = 'stream-my-root-store';
export const STORE_VERSION = 1;

// Where a writer prepares the marker; another process deciding whether the
// directory is empty must not count it.
const MARKER_TEMP_PREFIX = `.${MARKER}.`;

export type StoreDirState = 'store' | 'empty' | 'missing';

/** What the directory is: a store, an empty directory, or nothing at all. */
export async function inspectStoreDir(root: string): Promise<StoreDirState> {
  let text: string;
  try {
    text = await readFile(join(root, MARKER), 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOTDIR')) throw new SmrError('STORE_INVALID', `${root} is not a stream-my-root store (not a directory)`);
    if (!isErrno(e, 'ENOENT')) throw storeError(e, root, 'read');
    return emptyOrMissing(root);
  }
  checkMarker(text, root);
  return 'store';
}

async function emptyOrMissing(root: string): Promise<StoreDirState> {
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return 'missing';
    if (isErrno(e, 'ENOTDIR')) throw new SmrError('STORE_INVALID', `${root} is not a stream-my-root store (not a directory)`);
    throw storeError(e, root, 'read');
  }
  // Another process made it a store between our two looks.
  if (entries.includes(MARKER)) return inspectStoreDir(root);
  if (entries.some((n) => !n.startsWith(MARKER_TEMP_PREFIX))) {
    throw new SmrError('STORE_INVALID', `${root} is not a stream-my-root store (it has files but no ${MARKER})`);
  }
  return 'empty';
}

function checkMarker(text: string, root: string): void {
  let m: { format?: unknown; version?: unknown };
  try {
    m = JSON.parse(text) as typeof m;
  } catch {
    m = {};
  }
  if (m === null || typeof m !== 'object' || m.format !== STORE_FORMAT) {
    throw new SmrError('STORE_INVALID', `${root} is not a stream-my-root store (${MARKER} is not a store marker)`);
  }
  if (m.version !== STORE_VERSION) {
    throw new SmrError('STORE_VERSION', `the store ${root} has format version ${String(m.version)}; this smr reads version ${STORE_VERSION}`);
  }
}

/**
 * Writes the marker atomically (temporary file, fsync, rename): processes
 * creating the same store at once all succeed and nobody reads half of it.
 */
export async function writeMarker(root: string): Promise<void> {
  const text = `${JSON.stringify({ format: STORE_FORMAT, version: STORE_VERSION })}\n`;
  await writeFileAtomic(join(root, MARKER), text, { sync: 'data', prefix: MARKER_TEMP_PREFIX });
}
