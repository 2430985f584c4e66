// The project's own test servers answer their real protocols: one smoke
// test per kind (Ceph RGW as S3, Redis, memcached, nginx read-only).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { testS3Client } from '../helpers/services/s3.js';
import { useService } from '../helpers/services/service.js';

const s3 = useService('s3');
const redis = useService('redis');
const memcached = useService('memcached');
const web = useService('nginx');

/** Writes `request` on a fresh TCP connection and collects the reply until it ends with `until`. */
function exchange(hostPort: string, request: string, until: string): Promise<string> {
  const [host, port] = hostPort.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    let reply = '';
    const sock = connect({ host, port: Number(port) }, () => sock.write(request));
    sock.on('data', (d) => {
      reply += d.toString('latin1');
      if (reply.endsWith(until)) {
        sock.end();
        resolve(reply);
      }
    });
    sock.on('error', reject);
  });
}

test('s3 (Ceph RGW): a 512 KiB object round-trips, conditional create is enforced', async () => {
  const client = testS3Client(s3.env);
  try {
    const Bucket = `smoke-${randomUUID()}`;
    await client.send(new CreateBucketCommand({ Bucket }));
    const body = Buffer.alloc(512 * 1024, 7);
    await client.send(new PutObjectCommand({ Bucket, Key: 'chunks/x', Body: body }));
    const got = await client.send(new GetObjectCommand({ Bucket, Key: 'chunks/x' }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
    await assert.rejects(client.send(new HeadObjectCommand({ Bucket, Key: 'missing' })), (e: Error) => e.name === 'NotFound');
    await assert.rejects(
      client.send(new PutObjectCommand({ Bucket, Key: 'chunks/x', Body: body, IfNoneMatch: '*' })),
      (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 412,
    );
  } finally {
    client.destroy();
  }
});

test('redis: SET then GET a 512 KiB value', async () => {
  const hostPort = new URL(redis.env.REDIS_URL as string).host;
  const value = 'v'.repeat(512 * 1024);
  const key = `k-${randomUUID()}`;
  const set = await exchange(hostPort, `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`, '\r\n');
  assert.equal(set, '+OK\r\n');
  const got = await exchange(hostPort, `*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`, `${value}\r\n`);
  assert.equal(got, `$${value.length}\r\n${value}\r\n`);
});

test('memcached: a 1.5 MiB item is stored (the item limit is 2 MiB)', async () => {
  const hostPort = memcached.env.MEMCACHED_SERVERS as string;
  const value = 'm'.repeat(1536 * 1024);
  assert.equal(await exchange(hostPort, `set big 0 0 ${value.length}\r\n${value}\r\n`, '\r\n'), 'STORED\r\n');
  const got = await exchange(hostPort, 'get big\r\n', 'END\r\n');
  assert.equal(got, `VALUE big 0 ${value.length}\r\n${value}\r\nEND\r\n`);
});

test('nginx: serves files under its root, with ranges; read-only, no listings', async () => {
  const sub = `smoke-${randomUUID()}`;
  await mkdir(join(web.env.HTTP_STATIC_ROOT as string, sub, 'd'), { recursive: true });
  const body = Buffer.alloc(524288, 3);
  await writeFile(join(web.env.HTTP_STATIC_ROOT as string, sub, 'd', 'f'), body);
  const base = `${web.env.HTTP_STATIC_URL}/${sub}`;
  const whole = await fetch(`${base}/d/f`);
  assert.equal(whole.status, 200);
  assert.deepEqual(Buffer.from(await whole.arrayBuffer()), body);
  const part = await fetch(`${base}/d/f`, { headers: { range: 'bytes=1000-1999' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), 'bytes 1000-1999/524288');
  assert.equal((await part.arrayBuffer()).byteLength, 1000);
  assert.equal((await fetch(`${base}/d/missing`)).status, 404);
  assert.equal((await fetch(`${base}/d/`)).status, 403);
  assert.equal((await fetch(`${base}/d/f`, { method: 'PUT', body: 'x' })).status, 403);
});
