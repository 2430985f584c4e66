// A guest boots python3 from an image whose recipe and chunks are in S3
// (Ceph RGW from the services helpers): `smr serve s3://…recipe --store
// s3://…` with a cold cache, the guest kernel under QEMU (src/vm) reading
// its root over NBD, each chunk fetched from the object store on first use.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, before, it } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { haveCommand, isRoot, smr } from '../helpers/run.js';
import { testS3Client } from '../helpers/services/s3.js';
import { useService } from '../helpers/services/service.js';
import { startServe } from '../helpers/smr-serve.js';
import { VM_CACHE } from '../helpers/vm.js';
import { boot } from '../../src/vm/index.js';

const skip = skipWithoutFixtures() || (!isRoot() ? 'needs root' : !haveCommand('qemu-system-x86_64') ? 'qemu-system-x86 missing' : false);
const s3 = useService('s3');
const IMAGE = 'python3';

describe('python3 boots from a recipe served from S3', { skip }, () => {
  let bucket: string;
  before(async () => {
    // The CLI finds S3 the AWS way: the environment it inherits.
    Object.assign(process.env, s3.env);
    bucket = `vm-${randomUUID()}`;
    const client = testS3Client(s3.env);
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    const r = await smr(['convert', `oci:${fixtureLayout(IMAGE)}`, '--store', `s3://${bucket}/store`, '-o', `s3://${bucket}/recipes/${IMAGE}.recipe`, '-q']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('cold cache: the guest runs python3 and prints 42', async (t) => {
    const served = await startServe([`s3://${bucket}/recipes/${IMAGE}.recipe`, '--store', `s3://${bucket}/store`]);
    let out = '';
    try {
      const b = await boot({
        disk: `nbd://127.0.0.1:${served.port}/${IMAGE}`,
        request: { argv: ['/usr/bin/python3', '-c', 'print(42)'], timeoutSeconds: 300 },
        cacheDir: VM_CACHE,
        bootTimeoutSeconds: 240,
        onOutput: (d) => (out += d.toString('utf8')),
      });
      assert.equal(b.outcome, 'exited', `${b.error ?? ''}\n${b.logTail?.join('\n') ?? ''}`);
      assert.equal(b.status, 0, out);
      assert.equal(out, '42\n');
      t.diagnostic(`boot from S3 (${b.accel}): wall ${b.timings.wallMs} ms`);
    } finally {
      assert.equal(await served.stop(), 0, served.stderr());
    }
  });
});
