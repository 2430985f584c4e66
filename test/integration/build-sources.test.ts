// smr build from every kind of SOURCE gives the same filesystem, built the
// same way whatever the directory, time zone, day or user; and images that
// share base layers share most of their 512 KiB chunks.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedListing, fixtureLayout, fixturesJson, REPO_ROOT, skipWithoutFixtures } from '../helpers/fixtures.js';
import { e2fsck, listing, withLoopMount, withoutLostFound } from '../helpers/ext4.js';
import { haveCommand, isRoot, run, smr, SMR } from '../helpers/run.js';
import { pushLayout, skipWithoutRegistry, startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { openImage } from '../../src/oci/index.js';
import { buildImage } from '../../src/build/build-image.js';
import { FileSink } from '../../src/sink/file-sink.js';

const skip = skipWithoutFixtures() || (isRoot() ? false : 'needs root (mount, other users)');

async function fileDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

describe('smr build sources and determinism', { skip }, () => {
  let work: string;
  let reference: string; // python3 built from the OCI layout
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-src-'));
    await chmod(work, 0o777);
    reference = join(work, 'ref.img');
    const r = await smr(['build', `oci:${fixtureLayout('python3')}`, '-o', reference, '-q']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('is byte-identical from another directory, time zone and day', async () => {
    const other = join(work, 'other.img');
    const env = { ...process.env, TZ: 'Pacific/Kiritimati' };
    const faked = haveCommand('faketime');
    const cmd = faked ? 'faketime' : process.execPath;
    const args = faked ? ['2031-07-04 03:21:00', process.execPath, SMR] : [SMR];
    const r = await run(cmd, [...args, 'build', `oci:${fixtureLayout('python3')}`, '-o', other, '-q'], { cwd: '/', env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await fileDigest(other), await fileDigest(reference));
    if (!faked) assert.fail('faketime is not installed (apt-get install faketime): the other-day half was not run');
  });

  it('works as a non-root user and gives the same bytes', async () => {
    const out = join(work, 'nobody.img');
    const cache = join(work, 'nobody-cache');
    const r = await run('runuser', ['-u', 'nobody', '--', process.execPath, SMR, 'build', `oci:${fixtureLayout('python3')}`, '-o', out, '-q', '--cache-dir', cache], { cwd: REPO_ROOT });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await fileDigest(out), await fileDigest(reference));
  });

  describe('through a registry (docker://)', { skip: skipWithoutRegistry() }, () => {
    let reg: RegistryHandle;
    before(async () => {
      reg = await startRegistry();
      await pushLayout(reg, fixtureLayout('python3'), 'fixtures/python3:latest');
      await pushLayout(reg, fixtureLayout('static-multiarch'), 'fixtures/static-multiarch:latest');
    });
    after(async () => {
      await reg?.stop();
      if (reg) await rm(reg.dataDir, { recursive: true, force: true });
    });

    it('python3 pulled from the registry builds the same bytes as from the layout', async () => {
      const out = join(work, 'reg.img');
      const r = await smr(['build', `docker://${reg.host}/fixtures/python3:latest`, '-o', out, '-q', '--cache-dir', join(work, 'cache')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await fileDigest(out), await fileDigest(reference));
    });

    it('static-multiarch --platform linux/arm64 from the registry lists as expected', async () => {
      const out = join(work, 'arm.img');
      const r = await smr(['build', `${reg.host}/fixtures/static-multiarch:latest`, '--platform', 'linux/arm64', '-o', out, '-q', '--cache-dir', join(work, 'cache')]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok((await e2fsck(out)).ok);
      const got = await withLoopMount(out, (m) => listing(m, fixturesJson().source_date_epoch));
      assert.deepEqual(withoutLostFound(got), withoutLostFound(await readFile(expectedListing('static-arm64'), 'utf8')));
    });
  });

  it('a docker-archive made by skopeo builds the expected tree', { skip: haveCommand('skopeo') ? false : 'skopeo missing' }, async () => {
    const archive = join(work, 'python3.tar');
    const c = await run('skopeo', ['copy', '--quiet', `oci:${fixtureLayout('python3')}:latest`, `docker-archive:${archive}:fixtures/python3:latest`]);
    assert.equal(c.code, 0, c.stderr);
    const out = join(work, 'archive.img');
    const r = await smr(['build', `docker-archive:${archive}`, '-o', out, '-q', '--cache-dir', join(work, 'cache')]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await e2fsck(out)).ok);
    const got = await withLoopMount(out, (m) => listing(m, fixturesJson().source_date_epoch));
    assert.deepEqual(withoutLostFound(got), withoutLostFound(await readFile(expectedListing('python3'), 'utf8')));
  });
});

// ---------------------------------------------------------------------------

const CHUNK = 512 * 1024;

async function chunkDigests(path: string): Promise<Array<{ index: number; digest: string }>> {
  const out: Array<{ index: number; digest: string }> = [];
  const zero = Buffer.alloc(CHUNK);
  let index = 0;
  for await (const c of createReadStream(path, { highWaterMark: CHUNK })) {
    const b = c as Buffer;
    if (!b.equals(zero.subarray(0, b.length))) out.push({ index, digest: createHash('sha256').update(b).digest('hex') });
    index++;
  }
  return out;
}

async function build(name: string, dir: string) {
  const image = await openImage(`oci:${fixtureLayout(name)}`);
  const path = join(dir, `${name}.img`);
  const result = await buildImage(image, new FileSink(path));
  await image.close();
  return { path, result };
}

describe('dedup between images that share base layers', { skip: skipWithoutFixtures() }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-dedup-'));
    await mkdir(work, { recursive: true });
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('at least 90% of base\'s non-zero chunks appear in python3\'s image', async (t) => {
    const base = await build('base', work);
    const py = await build('python3', work);
    const a = await chunkDigests(base.path);
    const b = new Set((await chunkDigests(py.path)).map((c) => c.digest));
    const shared = a.filter((c) => b.has(c.digest)).length;
    t.diagnostic(`base -> python3: ${shared}/${a.length} chunks shared (${((100 * shared) / a.length).toFixed(1)}%)`);
    assert.ok(shared / a.length >= 0.9, `${shared}/${a.length}`);
  });

  it('at least 95% of debian-slim\'s chunks that debian-python does not delete appear in debian-python\'s image', async (t) => {
    const slim = await build('debian-slim', work);
    const py = await build('debian-python', work);
    const a = await chunkDigests(slim.path);
    const b = new Set((await chunkDigests(py.path)).map((c) => c.digest));
    // debian-python deletes files of debian-slim (apt lists, /usr/share/doc,
    // replaced files): their data and inode slots are holes in its image, so
    // the chunks holding them cannot reappear. They are counted apart. (Data
    // ranges are at the same offsets in both images; inode slots are at the
    // same place in each image's inode table.)
    const table = slim.result.inodeTableOffset;
    const gone = [
      ...py.result.hiddenRanges,
      ...py.result.hiddenInodeRanges.map((r) => ({ start: table + r.start, end: table + r.end })),
    ];
    const touched = (i: number) => gone.some((r) => r.start < (i + 1) * CHUNK && r.end > i * CHUNK);
    const eligible = a.filter((c) => !touched(c.index));
    const shared = eligible.filter((c) => b.has(c.digest)).length;
    const sharedAll = a.filter((c) => b.has(c.digest)).length;
    t.diagnostic(`debian-slim -> debian-python: ${sharedAll}/${a.length} chunks shared (${((100 * sharedAll) / a.length).toFixed(1)}%); ` +
      `${shared}/${eligible.length} (${((100 * shared) / eligible.length).toFixed(1)}%) of those holding nothing debian-python deletes`);
    assert.ok(shared / eligible.length >= 0.95, `${shared}/${eligible.length}`);
  });
});
