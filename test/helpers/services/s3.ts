// A real S3 server for tests: a throwaway single-node Ceph Pacific cluster
// (Debian's ceph-mon, ceph-osd, radosgw) with the RADOS Gateway serving S3
// on 127.0.0.1. One monitor, one OSD on memstore (objects in the OSD's RAM,
// nothing on disk to clean), one replica, 8 PGs per pool, cephx off, no
// ceph-mgr (S3 does not need one). Every daemon runs in the foreground as
// our child, with its config, pids, sockets and logs in a temp dir.
//
// Facts this relies on (Pacific 16.2): radosgw defaults its monitor client
// mode to "secure", which auth none cannot give, so "crc secure" is set;
// RGW's pools are created before the OSD boots so their PGs are made in one
// go (left to RGW, the first CreateBucket waits seconds per pool); clients
// must use path-style addressing.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../registry.js';
import { ensurePackages } from './apt.js';
import { startDaemon, tail, waitUntil, type Daemon } from './daemon.js';
import { httpAnswers } from './probe.js';
import type { ServiceHandle } from './service.js';

export const S3_PACKAGES = { 'ceph-mon': 'ceph-mon', 'ceph-osd': 'ceph-osd', radosgw: 'radosgw', 'radosgw-admin': 'radosgw' };

// Fixed test credentials of the one RGW user.
export const S3_TEST_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'SMRTESTACCESSKEY0000',
  AWS_SECRET_ACCESS_KEY: 'smrtestsecret000000000000000000000000000',
  AWS_REGION: 'us-east-1',
};

const RGW_POOLS = ['.rgw.root', 'default.rgw.control', 'default.rgw.meta', 'default.rgw.log', 'default.rgw.buckets.index', 'default.rgw.buckets.data', 'default.rgw.buckets.non-ec'];

function conf(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
pid file = ${dir}/run/$name.pid
mon cluster log file = ${dir}/log/cluster.log
log to stderr = false
err to stderr = false
keyring = ${dir}/keyring
mon data = ${dir}/mon.$id
osd data = ${dir}/osd.$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
paxos propose interval = 0.05
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = 4294967296
osd max object name len = 460
osd max object namespace len = 64

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw.a
rgw thread pool size = 64
`;
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

/** An S3 client for the test server (path-style; no aws-chunked bodies, which Pacific's RGW answers with 411). */
export function testS3Client(env: Record<string, string>): S3Client {
  return new S3Client({
    endpoint: env.AWS_ENDPOINT_URL,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID as string, secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A signed bucket create, PUT, GET and DELETE: what "ready" means for S3 clients. */
async function roundTrip(env: Record<string, string>): Promise<boolean> {
  const s3 = testS3Client(env);
  const Bucket = `ready-${randomUUID()}`;
  try {
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: Buffer.from('ready') }));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'k' }));
    const ok = (await got.Body?.transformToString()) === 'ready';
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }));
    await s3.send(new DeleteBucketCommand({ Bucket }));
    return ok;
  } finally {
    s3.destroy();
  }
}

export async function startS3(): Promise<ServiceHandle> {
  const missing = ensurePackages(S3_PACKAGES);
  if (missing) throw new Error(`s3 (ceph): ${missing}`);
  const dir = await mkdtemp(join(tmpdir(), 'smr-s3-'));
  for (const d of ['run', 'log', 'mon.a', 'osd.0', 'rgw.a']) await mkdir(join(dir, d));
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const cephConf = join(dir, 'ceph.conf');
  await writeFile(cephConf, conf(dir, fsid, monPort, rgwPort));
  const ceph = (args: string[], input?: string) => run('ceph', ['-c', cephConf, '--connect-timeout', '20', ...args], input);
  const daemons: Daemon[] = [];
  const stopAll = async () => {
    // memstore keeps nothing worth a clean shutdown: SIGKILL, newest first.
    for (const d of daemons.reverse()) await d.stop(0);
    await rm(dir, { recursive: true, force: true });
  };
  const env = { AWS_ENDPOINT_URL: `http://127.0.0.1:${rgwPort}`, ...S3_TEST_CREDENTIALS };
  try {
    // ceph-mon --mkfs wants a keyring even with auth none.
    const keyring = join(dir, 'keyring');
    await run('ceph-authtool', ['--create-keyring', keyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    const monmap = join(dir, 'monmap');
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, monmap]);
    await run('ceph-mon', ['-c', cephConf, '--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', keyring]);
    const mon = startDaemon('ceph-mon', ['-f', '-c', cephConf, '-i', 'a'], join(dir, 'log', 'mon.stderr'));
    daemons.push(mon);
    await waitUntil('ceph-mon', () => ceph(['mon', 'stat']).then(() => true), { daemon: mon, timeoutMs: 120_000 });
    const osdUuid = randomUUID();
    const id = (await ceph(['osd', 'new', osdUuid])).trim();
    if (id !== '0') throw new Error(`ceph osd new gave id '${id}', expected 0`);
    await run('ceph-osd', ['-c', cephConf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
    // One ceph process reads every command from stdin (each start costs ~0.3 s).
    await ceph([], RGW_POOLS.map((p) => `osd pool create ${p} 8 8\nosd pool application enable ${p} rgw\n`).join(''));
    const osd = startDaemon('ceph-osd', ['-f', '-c', cephConf, '-i', '0'], join(dir, 'log', 'osd.stderr'));
    daemons.push(osd);
    await waitUntil('ceph-osd', async () => /^osd\.0 up/m.test(await ceph(['osd', 'dump'])), { daemon: osd, timeoutMs: 120_000 });
    const rgw = startDaemon('radosgw', ['-f', '-c', cephConf, '-n', 'client.rgw.a'], join(dir, 'log', 'rgw.stderr'));
    daemons.push(rgw);
    await waitUntil('radosgw', () => httpAnswers(`${env.AWS_ENDPOINT_URL}/`), { daemon: rgw, timeoutMs: 120_000 });
    await run('radosgw-admin', ['-c', cephConf, 'user', 'create', '--uid=test', '--display-name=test',
      `--access-key=${env.AWS_ACCESS_KEY_ID}`, `--secret-key=${env.AWS_SECRET_ACCESS_KEY}`]);
    await waitUntil('S3 round trip', () => roundTrip(env), { daemon: rgw, timeoutMs: 120_000 });
  } catch (err) {
    const logs = ['mon.a', 'osd.0', 'client.rgw.a'].map((n) => tail(join(dir, 'log', `${n}.log`), 5)).join('\n');
    await stopAll();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
  return { kind: 's3', env, stop: stopAll };
}
