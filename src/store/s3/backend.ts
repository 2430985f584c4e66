// The S3 client (the AWS SDK: a quarter second of start-up) is loaded only
// when an s3:// store is opened, not by every command that can take one.
import type { StoreBackend } from '../backend.js';
import { parseS3Uri } from './s3-uri.js';

export const s3Backend: StoreBackend = {
  forms: 's3://BUCKET[/PREFIX]',
  async open(uri, opts) {
    const loc = parseS3Uri(uri);
    const [{ makeS3Client }, { S3Store }] = await Promise.all([import('./s3-client.js'), import('./s3-store.js')]);
    return new S3Store(makeS3Client({ endpoint: opts.s3Endpoint, profile: opts.profile }), loc, opts);
  },
};
