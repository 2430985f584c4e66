// An S3 client the AWS way: credentials, region and profile from the
// environment and ~/.aws (the SDK's default chain), AWS_PROFILE or
// --profile; an endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or
// --s3-endpoint) for S3-compatible servers such as Ceph RGW and MinIO,
// which get path-style addressing.
import { S3Client } from '@aws-sdk/client-s3';

export interface S3ClientOptions {
  endpoint?: string;
  profile?: string;
  region?: string;
}

export function makeS3Client(opts: S3ClientOptions): S3Client {
  const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  const region = opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  return new S3Client({
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // S3-compatible servers rarely care about the region, but signing needs one.
    ...(region ? { region } : endpoint ? { region: 'us-east-1' } : {}),
    ...(opts.profile ? { profile: opts.profile } : {}),
    // Retries are ours (util/retry.ts, with the digest check in the loop).
    maxAttempts: 1,
    // Plain bodies with Content-MD5: some servers (Ceph RGW Pacific) refuse
    // the aws-chunked bodies with trailing checksums that newer SDKs send.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
