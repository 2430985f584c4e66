// Every store backend passes the one store contract, each against its real
// server: dir (a temp directory), s3 (Ceph RGW), http (nginx serving a dir
// store's tree); and gc on S3 against re-use and a crash.
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { CopyObjectCommand, CreateBucketCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { chunkKey } from '../../src/store/chunk-name.js';
import { DirStore } from '../../src/store/dir/dir-store.js';
import { openStore, type ChunkStore } from '../../src/store/index.js';
import { testS3Client } from '../helpers/services/s3.js';
import { useService } from '../helpers/services/service.js';
import { storeContract } from '../helpers/store-contract.js';
import { tempDir, testChunks } from '../helpers/store-chunks.js';

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

describe('gc on S3: re-use and crash recovery', () => {
  it('a chunk re-used after the cut-off is kept, an unused one of the same age goes; a crashed gc is undone', async () => {
    Object.assign(process.env, s3.env);
    const client = testS3Client(s3.env);
    const bucket = `gc-${randomUUID()}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = (await openStore(`s3://${bucket}/p`, quick)) as ChunkStore;
    const [used, unused, crashed] = testChunks(randomUUID(), 3);
    for (const c of [used!, unused!, crashed!]) assert.equal(await store.put(c.name, c.data), true);
    // S3 times have one-second steps: the cut-off is the next second, and the re-use comes after it.
    const cutoff = (Math.floor(Date.now() / 1000) + 1) * 1000;
    await sleep(cutoff + 1000 - Date.now());
    assert.equal(await store.put(used!.name, used!.data), false);
    assert.equal(await store.deleteIfUnusedSince(used!.name, cutoff), false);
    assert.equal(await store.deleteIfUnusedSince(unused!.name, cutoff), true);
    assert.deepEqual(await store.get(used!.name), used!.data);
    assert.equal(await store.has(unused!.name), false);
    // A gc that died between its copy to the trash and the end: recover puts the chunk back.
    const key = `p/${chunkKey(crashed!.name)}`;
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: `p/trash/${crashed!.name}`, CopySource: `${bucket}/${key}` }));
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(await store.has(crashed!.name), false);
    assert.deepEqual(await store.recover!(0), { restored: 1 });
    assert.deepEqual(await store.get(crashed!.name), crashed!.data);
    await store.close?.();
    client.destroy();
  });
});
