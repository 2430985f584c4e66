// smr build against the fixture images, checked by the real ext4 tools:
// e2fsck must be clean and the kernel's view of the mounted image must list
// exactly like the expected root filesystem of each image.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedListing, fixtureLayout, fixturesJson, IMAGES, skipWithoutFixtures } from '../helpers/fixtures.js';
import { e2fsck, listing, withLoopMount, withoutLostFound } from '../helpers/ext4.js';
import { isRoot, smr } from '../helpers/run.js';

const skip = skipWithoutFixtures();

describe('smr build of the fixture images', { skip }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-build-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const name of [...IMAGES, 'static-multiarch']) {
    it(`${name}: e2fsck is clean and the mounted tree equals the expected listing`, { skip: isRoot() ? false : 'needs root for mount' }, async () => {
      const out = join(work, `${name}.img`);
      const args = ['build', `oci:${fixtureLayout(name)}`, '-o', out, '--quiet'];
      let expectName = name;
      if (name === 'static-multiarch') {
        args.push('--platform', 'linux/arm64');
        expectName = 'static-arm64';
      }
      const r = await smr(args);
      assert.equal(r.code, 0, r.stderr);
      const fsck = await e2fsck(out);
      assert.ok(fsck.ok, fsck.output);
      const epoch = fixturesJson().source_date_epoch;
      const got = await withLoopMount(out, (dir) => listing(dir, epoch));
      const want = await readFile(expectedListing(expectName), 'utf8');
      assert.deepEqual(withoutLostFound(got), withoutLostFound(want));
    });
  }
});
