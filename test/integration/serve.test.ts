// smr serve with real NBD clients: QEMU (qemu-img, qemu-io), libnbd (nbdinfo,
// nbdcopy) and fio, over the fixture images converted into a store.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureLayout, IMAGES, skipWithoutFixtures } from '../helpers/fixtures.js';
import { ensurePeers, nbdUri, peer, peerFails } from '../helpers/nbd-peers.js';
import { run, smr } from '../helpers/run.js';
import { readStats, startServe, type Served } from '../helpers/smr-serve.js';
import { readRecipeFile } from '../../src/chunk/recipe.js';

const skip = skipWithoutFixtures() || ensurePeers(['nbdinfo', 'nbdcopy', 'qemu-img', 'qemu-io', 'fio']);

/** fio's JSON report (libnbd prints a line before it). */
const fioJson = (out: string) => JSON.parse(out.slice(out.indexOf('{')));

async function digestOf(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

describe('smr serve with real clients', { skip }, () => {
  let work: string;
  let store: string;
  let served: Served;
  const recipes: string[] = [];
  const img = (n: string) => join(work, `${n}.img`);
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-serve-'));
    store = join(work, 'store');
    for (const n of IMAGES) {
      for (const args of [['build', `oci:${fixtureLayout(n)}`, '-o', img(n), '-q'], ['convert', `oci:${fixtureLayout(n)}`, '--store', store, '-o', join(work, `${n}.recipe`), '-q']]) {
        const r = await smr(args);
        assert.equal(r.code, 0, r.stderr);
      }
      recipes.push(join(work, `${n}.recipe`));
    }
    served = await startServe([...recipes, '--store', store, '--cache-mem', '64M']);
  });
  after(async () => {
    await served?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('nbdinfo --list shows every export with its size', async () => {
    const out = await peer('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${served.port}`]);
    const exps = JSON.parse(out).exports as Array<{ 'export-name': string; 'export-size': number }>;
    for (const n of IMAGES) {
      const e = exps.find((x) => x['export-name'] === n);
      assert.ok(e, `export ${n} listed`);
      assert.equal(e['export-size'], (await readRecipeFile(join(work, `${n}.recipe`))).imageSize);
    }
  });

  for (const n of IMAGES) {
    it(`${n}: qemu-img compare says identical; nbdcopy gives the raw image`, async () => {
      const cmp = await peer('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', img(n), nbdUri(served.port, n)]);
      assert.match(cmp, /Images are identical/);
      const copy = join(work, `${n}.copy`);
      await peer('nbdcopy', [nbdUri(served.port, n), copy]);
      assert.equal(await digestOf(copy), await digestOf(img(n)));
      await unlink(copy);
    });
  }

  it('nbdinfo --map reports holes exactly at the zero chunks', async () => {
    const recipe = await readRecipeFile(join(work, 'python3.recipe'));
    const out = JSON.parse(await peer('nbdinfo', ['--map', '--json', nbdUri(served.port, 'python3')])) as Array<{ offset: number; length: number; type: number }>;
    const holeAt = new Set(recipe.chunks.map((c) => c.index));
    const count = Math.ceil(recipe.imageSize / recipe.chunkSize);
    for (const e of out) {
      for (let o = e.offset; o < e.offset + e.length; o += recipe.chunkSize) {
        const i = Math.floor(o / recipe.chunkSize);
        assert.equal((e.type & 1) === 1, !holeAt.has(i), `chunk ${i} of ${count}: map type ${e.type}`);
      }
    }
  });

  it('qemu-io random reads equal the raw image', async () => {
    const fh = await open(img('debian-python'), 'r');
    const size = (await fh.stat()).size;
    try {
      for (let k = 0; k < 40; k++) {
        const len = 512 * randomInt(1, 64);
        const off = 512 * randomInt(0, Math.floor((size - len) / 512));
        const want = Buffer.alloc(len);
        await fh.read(want, 0, len, off);
        const out = await peer('qemu-io', ['-r', '-f', 'raw', '-c', `read -v ${off} ${len}`, nbdUri(served.port, 'debian-python')]);
        // "OFFSET:  hh hh ..  ascii": the hex group sits between double spaces.
        const got = Buffer.from(
          out.split('\n').filter((l) => /^[0-9a-f]{8}:/.test(l)).map((l) => l.split('  ')[1]!.replace(/ /g, '')).join(''),
          'hex',
        );
        assert.ok(got.equals(want), `read ${len} at ${off}`);
      }
    } finally {
      await fh.close();
    }
  });

  it('a read-only export refuses writes', async () => {
    const r = await peerFails('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 4k', nbdUri(served.port, 'static')]);
    assert.match(r.stderr + r.stdout, /read.only|Operation not permitted|permission/i);
  });

  it('fio: 8 jobs of 4 KiB random reads for 30 s run clean', async () => {
    const out = await peer('fio', ['--name=load', '--ioengine=nbd', `--uri=${nbdUri(served.port, 'debian-python')}`, '--rw=randread', '--bs=4k', '--iodepth=32', '--numjobs=8', '--time_based', '--runtime=30', '--group_reporting', '--output-format=json']);
    const job = fioJson(out).jobs[0];
    assert.equal(job.error, 0);
    assert.ok(job.read.io_bytes > 0);
  });

  it('a missing chunk fails only the reads that need it, with EIO, and the log names it', async () => {
    const recipe = await readRecipeFile(join(work, 'static.recipe'));
    const s2 = await startServe([join(work, 'static.recipe'), '--store', store]);
    try {
      const victim = recipe.chunks[recipe.chunks.length - 1]!;
      const path = join(store, 'chunks', 'sha256', victim.digest.slice(0, 2), victim.digest);
      const saved = await readFile(path);
      await unlink(path);
      try {
        const bad = await run('qemu-io', ['-r', '-f', 'raw', '-c', `read ${victim.index * recipe.chunkSize} 4096`, nbdUri(s2.port, 'static')]);
        assert.match(bad.stdout + bad.stderr, /Input\/output error/);
        const good = await peer('qemu-io', ['-r', '-f', 'raw', '-c', 'read 0 4096', nbdUri(s2.port, 'static')]);
        assert.match(good, /read 4096\/4096/);
        assert.match(s2.stderr(), new RegExp(`chunk ${victim.index} \\(${victim.digest}\\).*not in store`));
      } finally {
        await import('node:fs/promises').then((fs) => fs.writeFile(path, saved));
      }
    } finally {
      await s2.stop();
    }
  });
});

describe('copy-on-write exports', { skip }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-cow-'));
    const r = await smr(['convert', `oci:${fixtureLayout('static')}`, '--store', join(work, 'store'), '-o', join(work, 'static.recipe'), '-q']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('writes, trims and zeroes read back; the overlay survives a restart; the store never changes', async () => {
    const storeBefore = (await run('sh', ['-c', `find ${join(work, 'store')} -type f | sort | xargs sha256sum | sha256sum`])).stdout;
    const args = [join(work, 'static.recipe'), '--store', join(work, 'store'), '--writable', '--overlay', join(work, 'overlay')];
    let s = await startServe(args);
    const uri = () => nbdUri(s.port, 'static');
    await peer('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 1000 70000', '-c', 'read -P 0xab 1000 70000', '-c', 'write -z 200k 300k', '-c', 'read -P 0 200k 300k', '-c', 'discard 1m 64k', '-c', 'read -P 0 1m 64k', '-c', 'flush', uri()]);
    assert.equal(await s.stop(), 0);
    s = await startServe(args);
    await peer('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0xab 1000 70000', '-c', 'read -P 0 200k 300k', uri()]);
    // Bytes around the write come from the base image unchanged.
    const base = await startServe([join(work, 'static.recipe'), '--store', join(work, 'store')]);
    try {
      const a = await peer('qemu-io', ['-r', '-f', 'raw', '-c', 'read -v 0 1000', uri()]);
      const b = await peer('qemu-io', ['-r', '-f', 'raw', '-c', 'read -v 0 1000', nbdUri(base.port, 'static')]);
      assert.equal(a.split('\n').filter((l) => /^0/.test(l)).join(), b.split('\n').filter((l) => /^0/.test(l)).join());
    } finally {
      await base.stop();
      await s.stop();
    }
    const storeAfter = (await run('sh', ['-c', `find ${join(work, 'store')} -type f | sort | xargs sha256sum | sha256sum`])).stdout;
    assert.equal(storeAfter, storeBefore);
  });

  it('fio writes a checksummed pattern, then 8 jobs verify it with random reads', async () => {
    const s = await startServe([join(work, 'static.recipe'), '--store', join(work, 'store'), '--writable']);
    try {
      const fio = (name: string, args: string[]) =>
        peer('fio', [`--name=${name}`, '--ioengine=nbd', `--uri=${nbdUri(s.port, 'static')}`, '--bs=4k', '--iodepth=32', '--size=32m', '--output-format=json', ...args]);
      const fill = fioJson(await fio('fill', ['--rw=write', '--verify=crc32c', '--do_verify=0', '--verify_state_save=0'])).jobs[0];
      assert.equal(fill.error, 0);
      const check = fioJson(await fio('check', ['--rw=randread', '--verify=crc32c', '--numjobs=8', '--group_reporting'])).jobs[0];
      assert.equal(check.error, 0);
      assert.ok(check.read.io_bytes >= 32 << 20);
    } finally {
      await s.stop();
    }
  });
});

describe('restart without breaking clients', { skip }, () => {
  it('qemu-io keeps reading across a kill and restart of smr serve', async () => {
    const work = await mkdtemp(join(tmpdir(), 'smr-restart-'));
    try {
      const r = await smr(['convert', `oci:${fixtureLayout('python3')}`, '--store', join(work, 'store'), '-o', join(work, 'python3.recipe'), '-q']);
      assert.equal(r.code, 0, r.stderr);
      const b = await smr(['build', `oci:${fixtureLayout('python3')}`, '-o', join(work, 'python3.img'), '-q']);
      assert.equal(b.code, 0, b.stderr);
      const args = [join(work, 'python3.recipe'), '--store', join(work, 'store')];
      let s = await startServe(args);
      const port = s.port;
      // A long qemu-io session (200 reads, 10 ms apart) through QEMU's NBD
      // client with reconnect-delay, while the server is killed and restarted.
      const size = (await readRecipeFile(join(work, 'python3.recipe'))).imageSize;
      const cmds: string[] = [];
      for (let i = 0; i < 200; i++) cmds.push('-c', `read ${(i * 262144) % (size - 4096)} 4k`, '-c', 'sleep 10');
      const client = run('qemu-io', ['-r', '--image-opts', `driver=raw,file.driver=nbd,file.host=127.0.0.1,file.port=${port},file.export=python3,file.reconnect-delay=20`, ...cmds]);
      await new Promise((res) => setTimeout(res, 700));
      await s.kill(); // no goodbye: the client sees the connection drop
      await new Promise((res) => setTimeout(res, 500));
      s = await startServe(args, { port });
      const out = await client;
      await s.stop();
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.doesNotMatch(out.stdout + out.stderr, /error|failed/i);
      assert.equal((out.stdout.match(/read 4096\/4096/g) ?? []).length, 200);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

void readStats;
