// Chunks in an S3 bucket (AWS, or S3-compatible servers), under the dir
// store's tree: PREFIX/chunks/sha256/<2 hex>/<hex>.
//
// Writing: a chunk is checked against its name before it leaves, uploaded
// only when a HEAD says it is missing, in one PutObject with Content-MD5 (the
// server refuses a body that arrives different; a plain ETag is compared
// too). A single PUT is atomic on S3: an interrupted upload leaves nothing,
// so no object under a chunk's name ever holds other bytes than its digest
// says. A 200 means durable, so flush has nothing to wait for.
// Reading goes through RemoteReader (timeouts, retries, hedging, digests).
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SmrError } from '../../util/errors.js';
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from '../../util/retry.js';
import { checkChunkName, chunkKey } from '../chunk-name.js';
import { RemoteReader, type RemoteReadOptions } from '../remote/remote-reader.js';
import type { ChunkCollector, ChunkInfo, ChunkReader, ChunkWriter } from '../types.js';
import { S3Collector, usesKey } from './s3-collector.js';
import { fatalS3Error, isRetryableS3Error, s3Failure, statusOf } from './s3-errors.js';
import { s3Key, type S3Location } from './s3-uri.js';

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return name === 'NotFound' || name === 'NoSuchKey' || (statusOf(err) === 404 && name !== 'NoSuchBucket');
}

export class S3Store implements ChunkReader, ChunkWriter, ChunkCollector {
  readonly description: string;
  readonly remote = true;
  readonly reader: RemoteReader;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private bucketChecked: Promise<void> | null = null;
  private readonly collector: S3Collector;

  constructor(
    private readonly client: S3Client,
    private readonly loc: S3Location,
    opts: RemoteReadOptions = {},
  ) {
    this.description = `s3://${loc.bucket}${loc.prefix ? `/${loc.prefix}` : ''}`;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.reader = new RemoteReader(this.description, (name, signal) => this.fetchChunk(name, signal), (e) => this.retryable(e), opts);
    this.collector = new S3Collector(client, loc, (what, call) => this.withRetries(what, call));
  }

  private key(name: string): string {
    return s3Key(this.loc, chunkKey(checkChunkName(name)));
  }

  private retryable(err: unknown): boolean {
    if (fatalS3Error(err, this.description)) return false;
    return isRetryableS3Error(err);
  }

  /**
   * A HEAD of a key in a missing bucket is a bare 404, like a missing key:
   * the bucket is checked once first, so "no such bucket" is said as such.
   */
  private checkBucket(): Promise<void> {
    this.bucketChecked ??= this.withRetries('checking the bucket', (signal) => this.client.send(new HeadBucketCommand({ Bucket: this.loc.bucket }), { abortSignal: signal })).then(
      () => undefined,
      (err: unknown) => {
        if (statusOf((err as SmrError).cause ?? err) === 404) {
          throw new SmrError('STORE_NOT_FOUND', `${this.description}: the bucket does not exist (create it first, e.g. aws s3 mb s3://${this.loc.bucket})`);
        }
        throw err;
      },
    );
    this.bucketChecked.catch(() => (this.bucketChecked = null));
    return this.bucketChecked;
  }

  /** One S3 call with a timeout per attempt and retries; failures as one-line SmrErrors. */
  private async withRetries<T>(what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await withRetries(this.retry, () => call(AbortSignal.timeout(this.timeoutMs)), (e) => this.retryable(e));
    } catch (err) {
      throw s3Failure(err, this.description, what);
    }
  }

  private async fetchChunk(name: string, signal: AbortSignal): Promise<Buffer | null> {
    const key = this.key(name);
    await this.checkBucket();
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: key }), { abortSignal: signal });
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return null;
      throw fatalS3Error(err, this.description) ?? err;
    }
  }

  async get(name: string): Promise<Buffer> {
    return this.reader.get(checkChunkName(name));
  }

  async has(name: string): Promise<boolean> {
    const key = this.key(name);
    await this.checkBucket();
    return this.withRetries(`HEAD ${key}`, async (signal) => {
      try {
        await this.client.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key: key }), { abortSignal: signal });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    });
  }

  async put(name: string, data: Buffer): Promise<boolean> {
    const key = this.key(name);
    if (createHash('sha256').update(data).digest('hex') !== name) {
      throw new SmrError('CHUNK_CORRUPT', `refusing to store ${key}: the bytes do not match the chunk name`);
    }
    if (await this.has(name)) {
      // Re-used: record the use, then make sure a gc did not take it meanwhile (s3-collector.ts).
      await this.recordUse(name);
      if (await this.has(name)) return false;
    }
    const md5 = createHash('md5').update(data).digest();
    await this.withRetries(`PUT ${key}`, async (signal) => {
      const res = await this.client.send(
        new PutObjectCommand({ Bucket: this.loc.bucket, Key: key, Body: data, ContentMD5: md5.toString('base64'), ContentType: 'application/octet-stream' }),
        { abortSignal: signal },
      );
      // A plain ETag is the body's MD5 (not so with multipart uploads or KMS).
      const etag = res.ETag?.replace(/"/g, '');
      if (etag && /^[0-9a-f]{32}$/.test(etag) && etag !== md5.toString('hex')) {
        throw new SmrError('CHUNK_CORRUPT', `${this.description}: the server stored ${key} with ETag ${etag}, not the MD5 of what was sent`);
      }
    });
    return true;
  }

  private recordUse(name: string): Promise<unknown> {
    const key = usesKey(this.loc, name);
    return this.withRetries(`PUT ${key}`, (signal) => this.client.send(new PutObjectCommand({ Bucket: this.loc.bucket, Key: key, Body: Buffer.alloc(0) }), { abortSignal: signal }));
  }

  async *list(): AsyncIterable<ChunkInfo> {
    await this.checkBucket();
    yield* this.collector.list();
  }

  async deleteIfUnusedSince(name: string, unusedSinceMs: number): Promise<boolean> {
    checkChunkName(name);
    await this.checkBucket();
    return this.collector.deleteIfUnusedSince(name, unusedSinceMs);
  }

  async recover(): Promise<unknown> {
    await this.checkBucket();
    return this.collector.recover();
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
