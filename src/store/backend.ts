// What a backend offers openStore: how to open its URIs.
import type { RemoteReadOptions } from './remote/remote-reader.js';
import type { AnyStore } from './types.js';

export interface StoreOptions extends RemoteReadOptions {
  /** S3-compatible endpoint (else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS). */
  s3Endpoint?: string;
  /** AWS profile (else AWS_PROFILE, else the default chain). */
  profile?: string;
}

export interface StoreBackend {
  /** The URI forms, for messages ("s3://BUCKET[/PREFIX]"). */
  readonly forms: string;
  open(uri: string, opts: StoreOptions): Promise<AnyStore>;
}
