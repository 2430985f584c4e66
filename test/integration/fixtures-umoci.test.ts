// The fixture images themselves, checked by a peer that is not smr: umoci
// unpacks each layout (applying whiteouts and the opaque directory, with
// owners, xattrs, devices and hard links), and the tree must list exactly as
// expected/<image>.tsv, which scripts/fixtures wrote from the tree it built.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedListing, fixtureLayout, fixturesJson, skipWithoutFixtures } from '../helpers/fixtures.js';
import { listing } from '../helpers/ext4.js';
import { haveCommand, isRoot, run } from '../helpers/run.js';

const skip = skipWithoutFixtures() || (!isRoot() ? 'needs root (umoci unpack keeps owners and devices)' : !haveCommand('umoci') ? 'umoci missing (apt-get install umoci)' : false);

describe('fixture images unpacked by umoci', { skip }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-fx-umoci-'));
  });
  after(async () => rm(work, { recursive: true, force: true }));

  for (const name of ['static', 'base', 'python3', 'debian-slim', 'debian-python', 'static-arm64']) {
    it(`${name}: umoci's tree lists as expected/${name}.tsv`, { timeout: 600_000 }, async () => {
      const rootfs = join(work, name);
      const r = await run('umoci', ['raw', 'unpack', '--image', `${fixtureLayout(name)}:latest`, rootfs]);
      assert.equal(r.code, 0, r.stderr);
      const got = await listing(rootfs, fixturesJson().source_date_epoch);
      assert.equal(got, await readFile(expectedListing(name), 'utf8'));
      await rm(rootfs, { recursive: true, force: true });
    });
  }
});
