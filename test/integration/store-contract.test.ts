// Every store backend passes the one store contract, each against its real
// server: dir (a temp directory), s3 (Ceph RGW), http (nginx serving a dir
// store's tree).
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { chunkKey } from '../../src/store/chunk-name.js';
import { DirStore } from '../../src/store/dir/dir-store.js';
import { openStore } from '../../src/store/index.js';
import { testS3Client } from '../helpers/services/s3.js';
import { useService } from '../helpers/services/service.js';
import { storeContract } from '../helpers/store-contract.js';
import { tempDir } from '../helpers/store-chunks.js';

const s3 = useService('s3');
const web = useService('nginx');

// Fast retries: the contract's failures are deterministic.
const quick = { retry: { attempts: 2, backoffMs: 10 } };

storeContract('dir', async () => {
  const dir = await tempDir('contract-dir');
  return { store: new DirStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

storeContract('s3 (Ceph RGW)', async () => {
  // The store finds credentials the AWS way: here, the environment.
  Object.assign(process.env, s3.env);
  const client = testS3Client(s3.env);
  const bucket = `contract-${randomUUID()}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const store = await openStore(`s3://${bucket}/some/prefix`, { ...quick, s3Endpoint: s3.env.AWS_ENDPOINT_URL });
  return {
    store,
    damage: async (name, bytes) => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `some/prefix/${chunkKey(name)}`, Body: bytes }));
    },
    cleanup: async () => client.destroy(),
  };
});

storeContract('http (nginx)', async () => {
  const sub = `contract-${randomUUID()}`;
  const root = join(web.env.HTTP_STATIC_ROOT as string, sub);
  const dir = new DirStore(root);
  const store = await openStore(`${web.env.HTTP_STATIC_URL}/${sub}`, quick);
  return {
    store,
    fill: async (chunks) => {
      for (const c of chunks) await dir.put(c.name, c.data);
      await dir.flush();
    },
    damage: async (name, bytes) => {
      const file = join(root, chunkKey(name));
      await rm(file, { force: true });
      await mkdir(join(file, '..'), { recursive: true });
      await writeFile(file, bytes);
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
