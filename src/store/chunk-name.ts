// Chunk names and where a chunk sits in a store's tree. Every backend uses the
// same relative layout, so one tree can move between a directory, a plain
// HTTP server and an object store unchanged.
import { isHex64 } from '../util/digest.js';
import { SmrError } from '../util/errors.js';

export function isChunkName(s: string): boolean {
  return isHex64(s);
}

/** Refuses anything but 64 lowercase hex digits, before any path is built from it. */
export function checkChunkName(name: string): string {
  if (!isHex64(name)) {
    const shown = String(name).length > 80 ? `${String(name).slice(0, 80)}…` : String(name);
    throw new SmrError('CHUNK_NAME', `'${shown}' is not a chunk name (64 lowercase hex digits)`);
  }
  return name;
}

/** The fan-out directory of a chunk, relative to the store root. */
export function chunkDirKey(name: string): string {
  return `chunks/sha256/${name.slice(0, 2)}`;
}

/** The chunk's path relative to the store root, with '/' separators. */
export function chunkKey(name: string): string {
  return `${chunkDirKey(name)}/${name}`;
}
