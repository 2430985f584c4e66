import type { StoreBackend } from '../backend.js';
import { makeS3Client } from './s3-client.js';
import { S3Store } from './s3-store.js';
import { parseS3Uri } from './s3-uri.js';

export const s3Backend: StoreBackend = {
  forms: 's3://BUCKET[/PREFIX]',
  async open(uri, opts) {
    const loc = parseS3Uri(uri);
    return new S3Store(makeS3Client({ endpoint: opts.s3Endpoint, profile: opts.profile }), loc, opts);
  },
};
