// Images in remote stores, end to end with the CLI as users run it: convert
// a fixture into S3 (Ceph RGW) and into a tree served by nginx, then read
// it back through serve (qemu-img compare against the raw image from
// `smr build`), cat and verify --image. Faults: throttling and resets from a
// proxy of our own, a chunk overwritten with wrong bytes, refused
// credentials, a missing bucket, and bad URIs - each a clean failure or a
// clean recovery, never a wrong byte.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { readRecipeFile } from '../../src/chunk/recipe.js';
import { chunkKey } from '../../src/store/chunk-name.js';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { ensurePeers, nbdUri, peer } from '../helpers/nbd-peers.js';
import { run, smr } from '../helpers/run.js';
import { testS3Client } from '../helpers/services/s3.js';
import { useService } from '../helpers/services/service.js';
import { startServe } from '../helpers/smr-serve.js';

const skip = skipWithoutFixtures() || ensurePeers(['qemu-img', 'qemu-io']);
const s3 = useService('s3');
const web = useService('nginx');
const IMAGE = 'python3';

/** A user's mistake or a refused request: non-zero exit and one line on stderr. */
function assertOneLineFailure(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, pattern);
}

describe('remote stores with the CLI', { skip }, () => {
  let work: string;
  let raw: string;
  let bucket: string;
  const layout = () => `oci:${fixtureLayout(IMAGE)}`;
  before(async () => {
    // The CLI finds S3 the AWS way: the environment it inherits.
    Object.assign(process.env, s3.env);
    work = await mkdtemp(join(tmpdir(), 'smr-remote-'));
    raw = join(work, `${IMAGE}.img`);
    const r = await smr(['build', layout(), '-o', raw, '-q']);
    assert.equal(r.code, 0, r.stderr);
    bucket = `remote-${randomUUID()}`;
    const client = testS3Client(s3.env);
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const store = () => `s3://${bucket}/store`;
  const recipeUri = () => `s3://${bucket}/recipes/${IMAGE}.recipe`;

  it('convert into S3 writes chunks and the recipe; a second convert uploads nothing', async () => {
    const first = await smr(['convert', layout(), '--store', store(), '-o', recipeUri()]);
    assert.equal(first.code, 0, first.stderr);
    const m = /(\d+) chunks .*; (\d+) new chunks/.exec(first.stdout);
    assert.ok(m, first.stdout);
    const again = await smr(['convert', layout(), '--store', store(), '-o', join(work, 'again.recipe')]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /; 0 new chunks/);
    // Keys keep the dir store's tree.
    const client = testS3Client(s3.env);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'store/chunks/sha256/', MaxKeys: 5 }));
    client.destroy();
    for (const o of listed.Contents ?? []) assert.match(o.Key!, /^store\/chunks\/sha256\/([0-9a-f]{2})\/\1[0-9a-f]{62}$/);
    assert.ok((listed.Contents ?? []).length > 0);
  });

  it('serve from S3 (recipe and chunks): qemu-img compare equals the raw image', async () => {
    const served = await startServe([recipeUri(), '--store', store()]);
    try {
      const cmp = await peer('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', raw, nbdUri(served.port, IMAGE)]);
      assert.match(cmp, /Images are identical/);
    } finally {
      assert.equal(await served.stop(), 0, served.stderr());
    }
  });

  it('cat and verify --image from S3', async () => {
    const out = join(work, 'cat.img');
    const c = await smr(['cat', recipeUri(), '--store', store(), '-o', out, '-q']);
    assert.equal(c.code, 0, c.stderr);
    assert.ok((await readFile(out)).equals(await readFile(raw)));
    await rm(out);
    const v = await smr(['verify', recipeUri(), '--store', store(), '--image', raw, '-q']);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    const i = await smr(['inspect', recipeUri()]);
    assert.equal(i.code, 0, i.stderr);
  });

  it('HTTP: nginx serving a dir store and its recipe; serve compares equal, writes are refused', async () => {
    const sub = `remote-${randomUUID()}`;
    const root = join(web.env.HTTP_STATIC_ROOT as string, sub);
    const r = await smr(['convert', layout(), '--store', join(root, 'store'), '-o', join(root, `${IMAGE}.recipe`), '-q']);
    assert.equal(r.code, 0, r.stderr);
    const base = `${web.env.HTTP_STATIC_URL}/${sub}`;
    const served = await startServe([`${base}/${IMAGE}.recipe`, '--store', `${base}/store`]);
    try {
      const cmp = await peer('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', raw, nbdUri(served.port, IMAGE)]);
      assert.match(cmp, /Images are identical/);
    } finally {
      assert.equal(await served.stop(), 0, served.stderr());
    }
    const v = await smr(['verify', `${base}/${IMAGE}.recipe`, '--store', `${base}/store`, '--image', raw, '-q']);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    assertOneLineFailure(await smr(['convert', layout(), '--store', `${base}/store`, '-o', join(work, 'x.recipe')]), /read-only/);
    await rm(root, { recursive: true, force: true });
  });

  it('throttling (503 SlowDown) and connection resets from the store are retried: the image reads back whole', async () => {
    const proxy = await startFaultProxy(s3.env.AWS_ENDPOINT_URL as string);
    try {
      // The first try of every GET and PUT fails (SlowDown or a reset, in
      // turn); its retry passes. Deterministic whatever the concurrency.
      const seen = new Set<string>();
      let turn = 0;
      proxy.setPlan((_n, req) => {
        const what = `${req.method} ${req.url}`;
        if ((req.method !== 'GET' && req.method !== 'PUT') || seen.has(what)) return 'pass';
        seen.add(what);
        return turn++ % 2 ? 'reset' : 'slowdown';
      });
      const prefix = `s3://${bucket}/faulty`;
      const env = { ...process.env, AWS_ENDPOINT_URL: proxy.url };
      const conv = await smr(['convert', layout(), '--store', prefix, '-o', `${prefix}/${IMAGE}.recipe`, '-q'], { env });
      assert.equal(conv.code, 0, conv.stderr);
      const out = join(work, 'faulty.img');
      const c = await smr(['cat', `${prefix}/${IMAGE}.recipe`, '--store', prefix, '-o', out, '-q'], { env });
      assert.equal(c.code, 0, c.stderr);
      assert.ok((await readFile(out)).equals(await readFile(raw)));
      assert.ok(proxy.counts.faulted > 10, `only ${proxy.counts.faulted} faults injected`);
      await rm(out);
    } finally {
      await proxy.close();
    }
  });

  it('the store going away during a convert: one-line failure; the re-run uploads only what is missing', async () => {
    const proxy = await startFaultProxy(s3.env.AWS_ENDPOINT_URL as string);
    try {
      const prefix = `s3://${bucket}/interrupted`;
      const env = { ...process.env, AWS_ENDPOINT_URL: proxy.url };
      // The first 60 requests pass (the bucket check, HEADs and PUTs), then every connection is reset.
      proxy.setPlan((n) => (n <= 60 ? 'pass' : 'reset'));
      const cut = await smr(['convert', layout(), '--store', prefix, '-o', join(work, 'cut.recipe')], { env });
      assertOneLineFailure(cut, /connection reset|socket hang up|ECONNRESET|failed/i);
      proxy.setPlan(() => 'pass');
      const rerun = await smr(['convert', layout(), '--store', prefix, '-o', join(work, 'cut.recipe')], { env });
      assert.equal(rerun.code, 0, rerun.stderr);
      const m = /(\d+) chunks of [^(]*\((\d+) zero\).*; (\d+) new chunks/.exec(rerun.stdout);
      assert.ok(m, rerun.stdout);
      const [total, zero, fresh] = [Number(m[1]), Number(m[2]), Number(m[3])];
      assert.ok(fresh < total - zero, `the re-run uploaded ${fresh} of ${total - zero} chunks`);
      const v = await smr(['verify', join(work, 'cut.recipe'), '--store', prefix, '--image', raw, '-q'], { env });
      assert.equal(v.code, 0, v.stderr + v.stdout);
    } finally {
      await proxy.close();
    }
  });

  it('copy from a dir store into S3: interrupted, resumed, then nothing left to copy; the copy verifies', async () => {
    const local = join(work, 'local-store');
    const conv = await smr(['convert', layout(), '--store', local, '-o', join(work, 'local.recipe'), '-q']);
    assert.equal(conv.code, 0, conv.stderr);
    const dest = `s3://${bucket}/copied`;
    const proxy = await startFaultProxy(s3.env.AWS_ENDPOINT_URL as string);
    try {
      const env = { ...process.env, AWS_ENDPOINT_URL: proxy.url };
      proxy.setPlan((n) => (n <= 40 ? 'pass' : 'reset'));
      assertOneLineFailure(await smr(['copy', join(work, 'local.recipe'), '--from', local, '--to', dest, '-q'], { env }), /reset|hang up|failed/i);
      proxy.setPlan(() => 'pass');
      const resumed = await smr(['copy', join(work, 'local.recipe'), '--from', local, '--to', dest, '-o', `${dest}/${IMAGE}.recipe`], { env });
      assert.equal(resumed.code, 0, resumed.stderr);
      const m = /copied (\d+) chunks .*; skipped (\d+) already there/.exec(resumed.stdout);
      assert.ok(m && Number(m[2]) > 0 && Number(m[1]) > 0, resumed.stdout);
      const again = await smr(['copy', join(work, 'local.recipe'), '--from', local, '--to', dest], { env });
      assert.match(again.stdout, /copied 0 chunks .*; skipped \d+ already there/);
    } finally {
      await proxy.close();
    }
    const v = await smr(['verify', `${dest}/${IMAGE}.recipe`, '--store', dest, '--image', raw, '-q']);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    // gc on S3 keeps every chunk of a kept recipe, even with no grace period.
    const g = await smr(['gc', '--store', dest, '--keep', `${dest}/${IMAGE}.recipe`, '--grace', '0', '-q']);
    assert.equal(g.code, 0, g.stderr);
    const v2 = await smr(['verify', `${dest}/${IMAGE}.recipe`, '--store', dest, '-q']);
    assert.equal(v2.code, 0, v2.stderr + v2.stdout);
  });

  it('publish into S3 with copy --level 19: a new recipe in the bucket, its chunks smaller, the image exact', async () => {
    const local = join(work, 'publish-store');
    const fast = join(work, 'publish.recipe');
    const conv = await smr(['convert', layout(), '--store', local, '-o', fast, '-q']);
    assert.equal(conv.code, 0, conv.stderr);
    const dest = `s3://${bucket}/published`;
    const c = await smr(['copy', fast, '--from', local, '--to', dest, '--level', '19', '-o', `${dest}/${IMAGE}.recipe`]);
    assert.equal(c.code, 0, c.stderr);
    const m = /re-encoded \d+ chunks at zstd 19: .*; (\d+) new chunks/.exec(c.stdout);
    assert.ok(m && Number(m[1]) > 0, c.stdout);
    const v = await smr(['verify', `${dest}/${IMAGE}.recipe`, '--store', dest, '--image', raw, '-q']);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    const sum = async (prefix: string) => {
      const client = testS3Client(s3.env);
      let bytes = 0;
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) bytes += o.Size ?? 0;
        token = page.NextContinuationToken;
      } while (token);
      client.destroy();
      return bytes;
    };
    const published = await sum('published/chunks/');
    let local1 = 0; // the same chunks at level 1, in the local store
    for (const f of await readdir(join(local, 'chunks'), { recursive: true, withFileTypes: true })) {
      if (f.isFile()) local1 += (await stat(join(f.parentPath, f.name))).size;
    }
    assert.ok(published > 0 && published < local1, `published ${published} B, level 1 ${local1} B`);
  });

  it('several recipes into S3 in one run: -o s3://BUCKET/PREFIX/ gets each under its own name, shared chunks encoded once', async () => {
    const local = join(work, 'several-store');
    const first = join(work, 'first.recipe');
    const conv = await smr(['convert', layout(), '--store', local, '-o', first, '-q']);
    assert.equal(conv.code, 0, conv.stderr);
    const second = join(work, 'second.recipe'); // the same image again: every chunk shared
    await writeFile(second, await readFile(first));
    const dest = `s3://${bucket}/several`;
    const c = await smr(['copy', first, second, '--from', local, '--to', dest, '--level', '3', '-o', `s3://${bucket}/several-recipes/`]);
    assert.equal(c.code, 0, c.stderr);
    const chunks = (await readRecipeFile(first)).chunks.length;
    assert.match(c.stdout, new RegExp(`second\\.recipe: re-encoded 0 chunks at zstd 3: .*; 0 new chunks \\(0 B\\) .*; ${chunks} shared with the recipes before it`));
    for (const name of ['first', 'second']) {
      const v = await smr(['verify', `s3://${bucket}/several-recipes/${name}.recipe`, '--store', dest, '--image', raw, '-q']);
      assert.equal(v.code, 0, v.stderr + v.stdout);
    }
  });

  it('the store going away during a serve: reads fail with EIO meanwhile and recover when it is back', async () => {
    const proxy = await startFaultProxy(s3.env.AWS_ENDPOINT_URL as string);
    const recipe = await readRecipeFile(join(work, 'again.recipe'));
    const prev = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = proxy.url;
    const served = await startServe([join(work, 'again.recipe'), '--store', store(), '--cache-mem', '8M', '--read-ahead', '0']);
    process.env.AWS_ENDPOINT_URL = prev;
    try {
      const uri = nbdUri(served.port, 'again');
      const [a, b] = [recipe.chunks[1]!, recipe.chunks[recipe.chunks.length - 2]!];
      const read = (c: typeof a) => run('qemu-io', ['-r', '-f', 'raw', '-c', `read -v ${c.index * recipe.chunkSize} 512`, uri]);
      proxy.setPlan(() => 'reset');
      const down = await read(a);
      assert.match(down.stdout + down.stderr, /read failed: Input\/output error/);
      proxy.setPlan(() => 'pass');
      for (const c of [a, b]) {
        const up = await read(c);
        assert.match(up.stdout, /read 512\/512 bytes/, up.stderr);
      }
      // The bytes are the image's.
      const fh = await readFile(raw);
      const shown = (await read(a)).stdout.split('\n').filter((l) => /^[0-9a-f]{8}:/.test(l)).map((l) => /^[0-9a-f]{8}:((?:\s+[0-9a-f]{2})+)/.exec(l)![1]!.replace(/\s/g, '')).join('');
      assert.equal(shown, fh.subarray(a.index * recipe.chunkSize, a.index * recipe.chunkSize + 512).toString('hex'));
    } finally {
      await served.stop();
      await proxy.close();
    }
  });

  it('a chunk overwritten with wrong bytes on the server: cat fails with one line, serve fails only that request', async () => {
    const prefix = `store-damaged`;
    const conv = await smr(['convert', layout(), '--store', `s3://${bucket}/${prefix}`, '-o', join(work, 'd.recipe'), '-q']);
    assert.equal(conv.code, 0, conv.stderr);
    const recipe = await readRecipeFile(join(work, 'd.recipe'));
    const victim = recipe.chunks[Math.floor(recipe.chunks.length / 2)]!;
    const client = testS3Client(s3.env);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${chunkKey(victim.digest)}`, Body: Buffer.from('wrong bytes') }));
    client.destroy();
    const c = await smr(['cat', join(work, 'd.recipe'), '--store', `s3://${bucket}/${prefix}`, '-o', join(work, 'd.img'), '-q']);
    assertOneLineFailure(c, new RegExp(`${victim.digest}.*do not match`));
    const served = await startServe([join(work, 'd.recipe'), '--store', `s3://${bucket}/${prefix}`]);
    try {
      const uri = nbdUri(served.port, 'd');
      const off = victim.index * recipe.chunkSize;
      // The damaged chunk's range fails; a good chunk's range reads fine afterwards.
      const bad = await run('qemu-io', ['-r', '-f', 'raw', '-c', `read ${off} 4096`, uri]);
      assert.match(bad.stdout + bad.stderr, /read failed: Input\/output error/);
      const good = recipe.chunks.find((ch) => ch.digest !== victim.digest)!;
      const ok = await peer('qemu-io', ['-r', '-f', 'raw', '-c', `read ${good.index * recipe.chunkSize} 4096`, uri]);
      assert.match(ok, /read 4096\/4096 bytes/);
    } finally {
      await served.stop();
    }
  });

  it('credentials from a profile in the AWS files (--profile), none in the environment', async () => {
    const creds = join(work, 'aws-credentials');
    await writeFile(creds, `[smr-test]\naws_access_key_id = ${s3.env.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${s3.env.AWS_SECRET_ACCESS_KEY}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: creds, AWS_CONFIG_FILE: join(work, 'no-aws-config') };
    delete env.AWS_ACCESS_KEY_ID;
    delete env.AWS_SECRET_ACCESS_KEY;
    const withProfile = await smr(['inspect', recipeUri(), '--profile', 'smr-test'], { env });
    assert.equal(withProfile.code, 0, withProfile.stderr);
    assertOneLineFailure(await smr(['inspect', recipeUri(), '--profile', 'no-such-profile'], { env }), /credentials/);
  });

  it('refused credentials, a missing bucket and bad URIs: one line and a non-zero exit', async () => {
    const badKey = { env: { ...process.env, AWS_SECRET_ACCESS_KEY: 'wrong-secret-000000000000000000000000000' } };
    assertOneLineFailure(await smr(['cat', recipeUri(), '--store', store(), '-o', join(work, 'n.img')], badKey), /refused the credentials|denied/i);
    assertOneLineFailure(await smr(['convert', layout(), '--store', store(), '-o', join(work, 'n.recipe')], badKey), /refused the credentials/);
    assertOneLineFailure(await smr(['convert', layout(), '--store', `s3://no-such-bucket-${randomUUID().slice(0, 8)}/x`, '-o', join(work, 'n.recipe')]), /bucket does not exist/);
    assertOneLineFailure(await smr(['cat', `s3://${bucket}/recipes/missing.recipe`, '--store', store()]), /does not exist/);
    assertOneLineFailure(await smr(['cat', recipeUri(), '--store', 's3://Not_A_Bucket/x']), /not an S3 bucket name/);
    assertOneLineFailure(await smr(['cat', recipeUri(), '--store', 'ftp://host/x']), /unknown scheme 'ftp:'/);
    // A URL that is not a recipe.
    assertOneLineFailure(await smr(['inspect', `${web.env.HTTP_STATIC_URL}/`]), /recipe/i);
  });
});
