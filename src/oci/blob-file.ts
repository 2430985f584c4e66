// Blobs that sit in local files (an OCI layout, the blob cache, a region of
// an uncompressed docker-archive), read with verification. Opening first and
// streaming second means a missing file rejects the promise instead of
// surfacing later as a stream error the caller may not be listening for.
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { SmrError } from '../util/errors.js';
import { verifyBytes } from '../util/digest.js';
import { DigestVerifier } from '../util/digest-verify.js';
import type { Descriptor } from './types.js';

/** Largest manifest/index/config read into memory. */
export const MAX_METADATA_BYTES = 32 << 20;

export interface FileRegion {
  start: number;
  /** Length of the region; the descriptor's size must equal it. */
  length: number;
}

// `what` names the blob with its digest and image ("layer 1 (sha256:…) of oci:/x").
function missing(err: unknown, what: string, path: string): never {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new SmrError('BLOB_NOT_FOUND', `${what} is missing (no file ${path})`);
  }
  throw new SmrError('IO_ERROR', `cannot read ${what} from ${path}: ${(err as Error).message}`, { cause: err });
}

/** Opens a file (or a region of it) as a stream that fails unless it matches `desc`. */
export async function openVerifiedFile(
  path: string,
  desc: Descriptor,
  label: string,
  region?: FileRegion,
): Promise<Readable> {
  const handle = await open(path, 'r').catch((err: unknown) => missing(err, label, path));
  const verifier = new DigestVerifier({ digest: desc.digest, size: desc.size, label });
  if (region?.length === 0) {
    await handle.close(); // createReadStream cannot express an empty range
    verifier.end();
    return verifier;
  }
  const stream = createReadStream('', {
    fd: handle,
    autoClose: true,
    highWaterMark: 1 << 20,
    ...(region ? { start: region.start, end: region.start + region.length - 1 } : {}),
  });
  pipeline(stream, verifier, () => {});
  return verifier;
}

/** Reads a small blob whole and checks size and digest. */
export async function readVerifiedFile(path: string, desc: Descriptor, what: string): Promise<Buffer> {
  if (desc.size > MAX_METADATA_BYTES) {
    throw new SmrError('BLOB_TOO_LARGE', `${what} is ${desc.size} bytes, more than the ${MAX_METADATA_BYTES} allowed`);
  }
  const data = await readFile(path).catch((err: unknown) => missing(err, what, path));
  verifyBytes(data, desc.digest, what, desc.size);
  return data;
}
