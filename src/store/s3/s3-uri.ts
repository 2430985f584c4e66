// `s3://BUCKET[/PREFIX]`: where chunks go in a bucket. Bucket names follow
// S3's rules (3-63 of a-z 0-9 . -), checked here so a typo gets a one-line
// answer before any request.
import { SmrError } from '../../util/errors.js';

export interface S3Location {
  bucket: string;
  /** Without leading or trailing '/'; '' for the bucket's root. */
  prefix: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(uri);
  if (!m) throw new SmrError('USAGE', `store '${uri}': an S3 store is s3://BUCKET or s3://BUCKET/PREFIX`);
  const bucket = m[1]!;
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new SmrError('USAGE', `store '${uri}': '${bucket}' is not an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')`);
  }
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((p) => p === '.' || p === '..')) throw new SmrError('USAGE', `store '${uri}': the prefix may not contain '.' or '..'`);
  return { bucket, prefix };
}

/** The object key of a store-relative path. */
export function s3Key(loc: S3Location, relative: string): string {
  return loc.prefix === '' ? relative : `${loc.prefix}/${relative}`;
}
