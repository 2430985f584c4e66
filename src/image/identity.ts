// Everything in an image that would otherwise be random or read from the
// clock is derived from the image itself, so a build is reproducible.
import { createHash } from 'node:crypto';
import type { ResolvedImage } from '../oci/types.js';

export interface ImageIdentity {
  uuid: Buffer;
  hashSeed: Buffer;
  /** Filesystem creation time: the image's `created`, else 0. */
  time: number;
}

function derive(label: string, digest: string): Buffer {
  return createHash('sha256').update(`stream-my-root/${label}\0${digest}`).digest().subarray(0, 16);
}

export function deriveIdentity(image: Pick<ResolvedImage, 'manifestDigest' | 'config'>): ImageIdentity {
  const uuid = derive('ext4-uuid', image.manifestDigest);
  uuid[6] = (uuid[6]! & 0x0f) | 0x40; // RFC 4122 version 4 layout
  uuid[8] = (uuid[8]! & 0x3f) | 0x80;
  // Directory blocks are shared with images built on the same base only if
  // their names hash the same: the seed comes from the bottom layer.
  const bottom = image.config.rootfs?.diff_ids?.[0];
  const hashSeed = derive('ext4-hash-seed', typeof bottom === 'string' ? bottom : image.manifestDigest);
  let time = 0;
  const created = typeof image.config.created === 'string' ? Date.parse(image.config.created) : NaN;
  if (Number.isFinite(created)) time = Math.min(Math.max(Math.floor(created / 1000), 0), 2 ** 32 - 1);
  return { uuid, hashSeed, time };
}
