// The fixture builder's layer writer and listing, checked by a real peer:
// GNU tar extracts each layer the builder writes (xattrs, hard links,
// devices, long UTF-8 names), and the extracted tree lists exactly like the
// tree the layer was made from. Whiteouts and opaque markers are checked in
// the tar itself, since tar does not apply them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffTrees } from '../fixtures-builder/layer-diff.js';
import { writeLayer } from '../fixtures-builder/layer-tar.js';
import { openStore } from '../fixtures-builder/oci-blobs.js';
import { rootfsListing } from '../fixtures-builder/rootfs-listing.js';
import { haveCommand, isRoot } from '../helpers/run.js';

const EPOCH = 1704067200;
const skip = !isRoot() ? 'needs root (device nodes, owners)' : !haveCommand('setfattr') ? 'attr is not installed' : false;

describe('fixture builder layers', { skip }, () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'smr-fxb-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  function makeTree(root: string): void {
    const long = join(root, 'd'.repeat(60), 'e'.repeat(60));
    mkdirSync(long, { recursive: true });
    writeFileSync(join(long, 'ünïcødé ☃.txt'), 'unicode\n');
    writeFileSync(join(root, 'a'), 'shared\n');
    linkSync(join(root, 'a'), join(root, 'b'));
    execFileSync('setfattr', ['-n', 'user.fixture', '-v', 'hello', join(root, 'a')]);
    symlinkSync(`/${'t'.repeat(120)}`, join(root, 'long-link'));
    execFileSync('mkfifo', ['-m', '0600', join(root, 'fifo')]);
    execFileSync('mknod', ['-m', '0660', join(root, 'loop7'), 'b', '7', '7']);
    mkdirSync(join(root, 'owned'));
    writeFileSync(join(root, 'owned', 'f'), 'x\n');
    chownSync(join(root, 'owned', 'f'), 1000, 1000);
    utimesSync(join(root, 'owned', 'f'), 1_000_000_000, 1_000_000_000); // older than the epoch: kept
  }

  it('a base layer extracts (GNU tar) to a tree that lists like its source', async () => {
    const src = join(work, 'src');
    mkdirSync(src);
    makeTree(src);
    const store = openStore(join(work, 'oci'));
    const rec = await writeLayer(diffTrees(undefined, src, [], EPOCH), 'dot', EPOCH, store);
    assert.equal(rec.stats.hardlinks, 1);
    assert.deepEqual(rec.samples.hardlinks, ['./b => ./a']);
    assert.deepEqual(rec.samples.devices, ['./loop7 b 7,7']);
    assert.deepEqual(rec.samples.xattrs, ['./a user.fixture=0x68656c6c6f']);
    assert.equal(rec.stats.long_names, 3);
    const out = join(work, 'out');
    mkdirSync(out);
    execFileSync('tar', ['-xzf', join(store.dir, rec.digest.slice(7)), '--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', out]);
    assert.equal(rootfsListing(out, EPOCH), rootfsListing(src, EPOCH));
  });

  it('a diff layer: whiteouts after their directory, an opaque directory shipped whole, unchanged entries left out', async () => {
    const lower = join(work, 'lower');
    mkdirSync(join(lower, 'keep'), { recursive: true });
    mkdirSync(join(lower, 'doc', 'old'), { recursive: true });
    writeFileSync(join(lower, 'keep', 'same'), 'same');
    writeFileSync(join(lower, 'keep', 'gone'), 'gone');
    for (const p of ['keep/same', 'keep/gone', 'keep', 'doc/old', 'doc']) utimesSync(join(lower, p), EPOCH - 10, EPOCH - 10);
    const upper = join(work, 'upper');
    execFileSync('cp', ['-a', lower, upper]);
    rmSync(join(upper, 'keep', 'gone'));
    rmSync(join(upper, 'doc'), { recursive: true });
    mkdirSync(join(upper, 'doc', 'new'), { recursive: true });
    const store = openStore(join(work, 'oci2'));
    const rec = await writeLayer(diffTrees(lower, upper, ['doc'], EPOCH), 'plain', EPOCH, store);
    const names = execFileSync('tar', ['-tzf', join(store.dir, rec.digest.slice(7))], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(names, ['doc/', 'doc/.wh..wh..opq', 'doc/new/', 'keep/', 'keep/.wh.gone']);
    assert.deepEqual(rec.samples.whiteouts, ['keep/.wh.gone']);
    assert.deepEqual(rec.samples.opaque_dirs, ['doc/.wh..wh..opq']);
  });
});
