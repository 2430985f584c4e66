// What an S3 failure means for us: retry it (throttling, 5xx, a broken
// connection), or stop with one line that says what to do.
import { SmrError } from '../../util/errors.js';
import { isRetryableNetworkError, isRetryableStatus } from '../remote/http-status.js';

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const THROTTLED = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable']);
const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled']);

export function statusOf(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

export function isRetryableS3Error(err: unknown): boolean {
  if (err instanceof SmrError) return false;
  const e = err as SdkError;
  if (e?.name && THROTTLED.has(e.name)) return true;
  const status = statusOf(err);
  if (status !== undefined) return isRetryableStatus(status);
  return isRetryableNetworkError(err) || e?.name === 'TimeoutError';
}

/** A one-line SmrError for failures no retry can fix; null for the others. */
export function fatalS3Error(err: unknown, where: string): SmrError | null {
  if (err instanceof SmrError) return err;
  const e = err as SdkError;
  const name = e?.name ?? '';
  const status = statusOf(err);
  if (name === 'NoSuchBucket') return new SmrError('STORE_NOT_FOUND', `${where}: the bucket does not exist (create it first, e.g. aws s3 mb)`);
  if (DENIED.has(name) || status === 403 || status === 401) {
    return new SmrError('STORE_DENIED', `${where}: S3 refused the credentials or the request (${name || `HTTP ${status}`}); check AWS_PROFILE / --profile, AWS_ACCESS_KEY_ID and the bucket policy`);
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e?.message ?? '')) {
    return new SmrError('STORE_DENIED', `${where}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or configure ~/.aws/credentials)`);
  }
  if (/Region is missing/i.test(e?.message ?? '')) return new SmrError('USAGE', `${where}: no AWS region configured (set AWS_REGION or a region in ~/.aws/config)`);
  return null;
}

/** The failure that ends an operation, as one line. */
export function s3Failure(err: unknown, where: string, what: string): SmrError {
  const fatal = fatalS3Error(err, where);
  if (fatal) return fatal;
  const e = err as SdkError;
  const why = e?.name && e.name !== 'Error' ? `${e.name}${e.message && e.message !== e.name ? `: ${e.message}` : ''}` : (e?.message ?? String(err));
  return new SmrError('STORE_UNAVAILABLE', `${where}: ${what} failed: ${why}`, { cause: err });
}
