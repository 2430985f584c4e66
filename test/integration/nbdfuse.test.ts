// For VMMs without an NBD client (Firecracker and Cloud Hypervisor take
// files or block devices): libnbd's nbdfuse exposes an export of `smr serve`
// as a file, which a VMM can take as its root drive. The file read through
// FUSE is the built image, byte for byte, and only what is read is fetched.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { haveCommand, isRoot, run, smr } from '../helpers/run.js';
import { startServe } from '../helpers/smr-serve.js';

const skip = skipWithoutFixtures() || (!isRoot() ? 'needs root (FUSE mount)' : !haveCommand('nbdfuse') ? 'nbdfuse missing (apt-get install libnbd-bin)' : !existsSync('/dev/fuse') ? 'no /dev/fuse' : false);

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

describe('nbdfuse: an smr serve export as a file', { skip }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-nbdfuse-'));
    const c = await smr(['convert', `oci:${fixtureLayout('python3')}`, '--store', join(work, 'store'), '-o', join(work, 'python3.recipe'), '-q']);
    assert.equal(c.code, 0, c.stderr);
    const cat = await smr(['cat', join(work, 'python3.recipe'), '--store', join(work, 'store'), '-o', join(work, 'python3.img')]);
    assert.equal(cat.code, 0, cat.stderr);
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('the FUSE file equals the built image', async () => {
    const s = await startServe([join(work, 'python3.recipe'), '--store', join(work, 'store')]);
    const mnt = join(work, 'mnt');
    await mkdir(mnt);
    const fuse = spawn('nbdfuse', [join(mnt, 'disk'), `nbd://127.0.0.1:${s.port}/python3`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let fuseErr = '';
    fuse.stderr.setEncoding('utf8').on('data', (d: string) => (fuseErr += d));
    const fuseExited = new Promise<void>((r) => fuse.once('close', () => r()));
    try {
      // nbdfuse mounts in the background: wait for the file (or its exit).
      while (!existsSync(join(mnt, 'disk'))) {
        assert.equal(fuse.exitCode, null, `nbdfuse exited: ${fuseErr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await sha256(join(mnt, 'disk')), await sha256(join(work, 'python3.img')));
    } finally {
      await run('umount', [mnt]);
      await fuseExited;
      assert.equal(await s.stop(), 0);
    }
  });
});
