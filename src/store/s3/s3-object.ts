// Whole small objects by URI (recipes): s3://BUCKET/KEY.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { SmrError } from '../../util/errors.js';
import { DEFAULT_RETRY, withRetries } from '../../util/retry.js';
import { makeS3Client, type S3ClientOptions } from './s3-client.js';
import { isRetryableS3Error, s3Failure, statusOf } from './s3-errors.js';

function parseObjectUri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m || m[2]!.endsWith('/')) throw new SmrError('USAGE', `'${uri}' is not an S3 object (s3://BUCKET/KEY)`);
  return { bucket: m[1]!, key: m[2]! };
}

export async function getS3Object(uri: string, opts: S3ClientOptions, limit: number): Promise<Buffer> {
  const { bucket, key } = parseObjectUri(uri);
  const client = makeS3Client(opts);
  try {
    return await withRetries(
      DEFAULT_RETRY,
      async () => {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: AbortSignal.timeout(60_000) });
        if ((res.ContentLength ?? 0) > limit) throw new SmrError('RECIPE_INVALID', `${uri} (${res.ContentLength} bytes) is too large to be a recipe`);
        return Buffer.from(await res.Body!.transformToByteArray());
      },
      isRetryableS3Error,
    );
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NoSuchKey' || (statusOf(err) === 404 && name !== 'NoSuchBucket')) throw new SmrError('RECIPE_NOT_FOUND', `recipe ${uri} does not exist`);
    throw s3Failure(err, uri, 'reading the recipe');
  } finally {
    client.destroy();
  }
}

/** One PUT with Content-MD5: the object appears whole or not at all. */
export async function putS3Object(uri: string, bytes: Buffer, opts: S3ClientOptions): Promise<void> {
  const { bucket, key } = parseObjectUri(uri);
  const client = makeS3Client(opts);
  const md5 = createHash('md5').update(bytes).digest('base64');
  try {
    await withRetries(
      DEFAULT_RETRY,
      () => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentMD5: md5, ContentType: 'application/json' }), { abortSignal: AbortSignal.timeout(60_000) }),
      isRetryableS3Error,
    );
  } catch (err) {
    throw s3Failure(err, uri, 'writing the recipe');
  } finally {
    client.destroy();
  }
}
