// bench/origin: debian-python with an S3 origin (our test Ceph RGW) behind
// a proxy that adds DELAY ms (default 20) to every request, as a far-away
// region would. Not a test: it prints figures.
//  1. `smr convert --store s3://` of debian-slim: time and upload MB/s; then
//     the derived debian-python: how few chunks it uploads.
//  2. cold sequential read of the whole export (nbdcopy --no-extents from
//     smr serve) against one GetObject of the raw image through the same proxy.
//  3. cold random 4 KiB reads (fio, QD1 and QD32; an 8 MiB memory cache so
//     reads stay cold) with and without hedging, through a second proxy
//     where every 50th request takes 500 ms (a slow tail).
// Usage: node dist/bench/origin.js [DELAY_MS] [FIO_SECONDS]
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startS3, testS3Client } from '../test/helpers/services/s3.js';
import { FIXTURES_DIR } from '../test/helpers/fixtures.js';
import { run, SMR } from '../test/helpers/run.js';
import { startServe } from '../test/helpers/smr-serve.js';
import { startDelayProxy } from './delay-proxy.js';

const DELAY = Number(process.argv[2] ?? 20);
const FIO_S = Number(process.argv[3] ?? 10);
const MB = 1e6;

 // Children run asynchronously: the delay proxy lives in this process's event loop.
async function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number; stdout: string }> {
  const t = performance.now();
  const r = await run(cmd, args, { env });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return { ms: performance.now() - t, stdout: r.stdout };
}

const smr = (args: string[], env: NodeJS.ProcessEnv) => exec(process.execPath, [SMR, ...args], env);

async function fio(uri: string, depth: number): Promise<{ iops: number; p99us: number }> {
  const r = await exec('fio', ['--name=r', '--ioengine=nbd', `--uri=${uri}`, '--rw=randread', '--bs=4k', `--iodepth=${depth}`, `--runtime=${FIO_S}`, '--time_based', '--output-format=json']);
  const j = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
  const read = j.jobs[0].read;
  return { iops: Math.round(read.iops), p99us: Math.round((read.clat_ns.percentile['99.000000'] ?? 0) / 1000) };
}

const s3 = await startS3();
const proxy = await startDelayProxy(s3.env.AWS_ENDPOINT_URL as string, DELAY);
const work = await mkdtemp(join(tmpdir(), 'smr-bench-origin-'));
try {
  const env = { ...process.env, ...s3.env, AWS_ENDPOINT_URL: proxy.url };
  Object.assign(process.env, env); // smr serve children inherit it
  const client = testS3Client(s3.env);
  const Bucket = 'bench-origin';
  await client.send(new CreateBucketCommand({ Bucket }));
  const store = `s3://${Bucket}/store`;
  console.log(`origin: Ceph RGW (memstore) behind a proxy adding ${DELAY} ms per request`);

  // 1. Uploads.
  const slim = await smr(['convert', `oci:${FIXTURES_DIR}/debian-slim`, '--store', store, '-o', join(work, 'slim.recipe')], env);
  const stored = Number(/\(([\d.]+) MiB\) written/.exec(slim.stdout)?.[1] ?? 0) * 1048576;
  console.log(`convert debian-slim: ${(slim.ms / 1000).toFixed(1)} s, ${(stored / MB / (slim.ms / 1000)).toFixed(1)} MB/s uploaded; ${slim.stdout.trim().replace(/^.*?: /, '')}`);
  const dp = await smr(['convert', `oci:${FIXTURES_DIR}/debian-python`, '--store', store, '-o', `s3://${Bucket}/dp.recipe`], env);
  console.log(`convert debian-python (derived): ${(dp.ms / 1000).toFixed(1)} s; ${dp.stdout.trim().replace(/^.*?: /, '')}`);

  // 2. Cold sequential read against one whole-object download.
  const raw = join(work, 'dp.img');
  await smr(['build', `oci:${FIXTURES_DIR}/debian-python`, '-o', raw, '-q'], env);
  const size = (await stat(raw)).size;
  await client.send(new PutObjectCommand({ Bucket, Key: 'dp.img', Body: await readFile(raw) }));
  const far = testS3Client({ ...s3.env, AWS_ENDPOINT_URL: proxy.url });
  let t = performance.now();
  const obj = await far.send(new GetObjectCommand({ Bucket, Key: 'dp.img' }));
  let got = 0;
  for await (const c of obj.Body as AsyncIterable<Buffer>) got += c.length;
  const objMs = performance.now() - t;
  far.destroy();
  if (got !== size) throw new Error('short object download');
  const seq: Record<string, number> = {};
  for (const ra of ['0', '8', '32']) {
    const served = await startServe([`s3://${Bucket}/dp.recipe`, '--store', store, '--cache-mem', '2G', '--read-ahead', ra, '-q'], {});
    seq[ra] = (await exec('nbdcopy', ['--no-extents', `nbd://127.0.0.1:${served.port}/dp`, 'null:'])).ms;
    await served.stop();
  }
  console.log(`image ${(size / MB).toFixed(0)} MB; one GetObject: ${(objMs / 1000).toFixed(2)} s (${(size / MB / (objMs / 1000)).toFixed(0)} MB/s)`);
  for (const [ra, ms] of Object.entries(seq)) {
    console.log(`smr serve cold nbdcopy --no-extents, --read-ahead ${ra}: ${(ms / 1000).toFixed(2)} s (${(size / MB / (ms / 1000)).toFixed(0)} MB/s), ratio to GetObject ${(objMs / ms).toFixed(2)}x`);
  }

  // 3. Cold random reads, hedging on and off, with a slow tail.
  const tailed = await startDelayProxy(s3.env.AWS_ENDPOINT_URL as string, DELAY, { every: 50, ms: 500 });
  process.env.AWS_ENDPOINT_URL = tailed.url;
  for (const hedge of ['auto', 'off']) {
    for (const depth of [1, 32]) {
      const statsOut = join(work, `stats-${hedge}-${depth}.json`);
      // A small memory cache (16 of ~350 chunks) keeps the reads cold for the whole run.
      const served = await startServe([`s3://${Bucket}/dp.recipe`, '--store', store, '--cache-mem', '8M', '--read-ahead', '0', '--hedge', hedge, '--stats-out', statsOut, '-q'], {});
      const f = await fio(`nbd://127.0.0.1:${served.port}/dp`, depth);
      await served.stop();
      const st = JSON.parse(await readFile(statsOut, 'utf8')).remote;
      console.log(`tail proxy: fio randread 4k QD${depth} hedge ${hedge}: ${f.iops} IOPS, p99 ${(f.p99us / 1000).toFixed(1)} ms; origin requests ${st.requests}, hedges ${st.hedges} (${((100 * st.hedges) / Math.max(1, st.requests - st.hedges)).toFixed(1)}% extra), hedge wins ${st.hedgeWins}`);
    }
  }
  await tailed.close();
  client.destroy();
} finally {
  await proxy.close();
  await s3.stop();
  await rm(work, { recursive: true, force: true });
}

