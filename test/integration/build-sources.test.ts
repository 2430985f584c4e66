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
import { buildImage, type HiddenData } from '../../src/image/build-image.js';
import { FileSink } from '../../src/sink/file-sink.js';
import { sharing } from '../helpers/chunk-overhead.js';

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
/**
 * Base chunks a derived image may change: the header (with the bitmaps), the
 * directory inodes, and the base's inode-table chunks that hold files the
 * new layers delete or replace (docs/ext4-layout.md).
 */
const MAX_OVERHEAD = 6;

async function build(name: string, dir: string, hidden: HiddenData = 'keep') {
  const image = await openImage(`oci:${fixtureLayout(name)}`);
  const path = join(dir, `${name}-${hidden}.img`);
  const result = await buildImage(image, new FileSink(path), { hidden });
  await image.close();
  return { path, result, regions: result.regions };
}

describe('dedup between images that share base layers', { skip: skipWithoutFixtures() }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-dedup-'));
    await mkdir(work, { recursive: true });
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('at least 90% of base\'s non-zero chunks appear in python3\'s image, all but at most 6', async (t) => {
    const s = await sharing(await build('base', work), (await build('python3', work)).path, CHUNK);
    t.diagnostic(`base -> python3: ${s.text}`);
    assert.ok(s.shared / s.total >= 0.9, s.text);
    assert.ok(s.overhead <= MAX_OVERHEAD, s.text);
  });

  it('at least 95% of debian-slim\'s chunks appear in debian-python\'s image, all but at most 6 (hidden data kept)', async (t) => {
    const slim = await build('debian-slim', work);
    const s = await sharing(slim, (await build('debian-python', work)).path, CHUNK);
    t.diagnostic(`debian-slim -> debian-python: ${s.text}`);
    assert.ok(s.shared / s.total >= 0.95, s.text);
    assert.ok(s.overhead <= MAX_OVERHEAD, s.text);
    // With --hidden zero the files debian-python deletes become holes, and
    // the chunks holding them cannot reappear: the old rule, for comparison.
    const z = await sharing(slim, (await build('debian-python', work, 'zero')).path, CHUNK);
    t.diagnostic(`debian-slim -> debian-python with --hidden zero: ${z.text}`);
    assert.ok(z.shared < s.shared, `zero ${z.text} vs keep ${s.text}`);
  });

  it('--hidden zero is the kept image with every hidden range zeroed, and both pass e2fsck', async () => {
    const keep = await build('debian-python', work);
    const zero = await build('debian-python', work, 'zero');
    assert.deepEqual(zero.result.hiddenRanges, keep.result.hiddenRanges);
    assert.ok(keep.result.hiddenRanges.length > 0, 'debian-python hides files of debian-slim');
    const a = await readFile(keep.path);
    const b = await readFile(zero.path);
    assert.equal(a.length, b.length);
    let hiddenBytes = 0, keptNonZero = 0;
    for (const r of keep.result.hiddenRanges) {
      hiddenBytes += r.end - r.start;
      for (let i = r.start; i < r.end; i++) if (a[i] !== 0) keptNonZero++;
      a.fill(0, r.start, r.end);
      assert.ok(b.subarray(r.start, r.end).every((x) => x === 0), `hidden range ${r.start}-${r.end} is zero in zero mode`);
    }
    assert.ok(keptNonZero > 0, `kept mode holds the hidden bytes (${hiddenBytes} hidden bytes)`);
    assert.ok(a.equals(b), 'outside the hidden ranges both images are identical');
    const k = await e2fsck(keep.path);
    assert.ok(k.ok, k.output);
    const z = await e2fsck(zero.path);
    assert.ok(z.ok, z.output);
  });
});
