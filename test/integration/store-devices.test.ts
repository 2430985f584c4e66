// A store on a device that fills up or turns read-only: a small tmpfs (root
// only), unmounted whatever happens.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DirStore } from '../../src/store/dir/dir-store.js';
import { isRoot, run } from '../helpers/run.js';
import { inspectTree, sha256, tempDir } from '../helpers/store-chunks.js';

const skip = isRoot() ? false : 'mounting a tmpfs needs root';

async function mustRun(cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
}

function randomChunk(size = 512 * 1024): { name: string; data: Buffer } {
  const data = randomBytes(size);
  return { name: sha256(data), data };
}

describe('store on a small device', { skip }, () => {
  let work: string;
  let mnt: string;
  before(async () => {
    work = await tempDir('devices');
    mnt = join(work, 'mnt');
    await mkdir(mnt);
    await mustRun('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', mnt]);
  });
  after(async () => {
    await run('umount', [mnt]);
    await rm(work, { recursive: true, force: true });
  });

  it('a full device is STORE_FULL, leaves no temporary file and no partial chunk', async () => {
    const root = join(mnt, 'store');
    const store = new DirStore(root);
    const stored: string[] = [];
    let failure: (Error & { code?: string }) | undefined;
    for (let i = 0; i < 10 && !failure; i++) {
      const c = randomChunk();
      try {
        await store.put(c.name, c.data);
        stored.push(c.name);
      } catch (e) {
        failure = e as Error & { code?: string };
      }
    }
    assert.ok(failure, 'a 2 MiB device cannot hold ten 512 KiB chunks');
    assert.equal(failure.code, 'STORE_FULL');
    assert.equal(failure.message, `no space left on the device holding the store ${root}`);
    assert.ok(stored.length >= 2, `stored ${stored.length} chunks before it was full`);
    const t = await inspectTree(root);
    assert.deepEqual(t.temps, []);
    assert.deepEqual(t.corrupt, []);
    assert.deepEqual([...t.chunks].sort(), [...stored].sort());
    // Re-using a chunk needs no space: it still works on the full device.
    const again = await store.get(stored[0]!);
    assert.equal(await store.put(stored[0]!, again), false);
    // A small chunk may still fit in what is left; the put either works or says why.
    const small = randomChunk(100);
    await store.put(small.name, small.data).catch((e: Error & { code?: string }) => assert.equal(e.code, 'STORE_FULL'));
    assert.deepEqual((await inspectTree(root)).temps, []);
  });

  it('a read-only device is STORE_NOT_WRITABLE for puts and still reads', async () => {
    const root = join(mnt, 'store');
    const present = (await inspectTree(root)).chunks.values().next().value as string;
    await mustRun('mount', ['-o', 'remount,ro', mnt]);
    try {
      const store = new DirStore(root);
      const c = randomChunk(1000);
      const notWritable = { code: 'STORE_NOT_WRITABLE', message: `the store ${root} is not writable: its file system is read-only` };
      await assert.rejects(store.put(c.name, c.data), notWritable);
      // Re-use could not refresh the mtime a gc elsewhere relies on: an error too.
      await assert.rejects(store.put(present, await store.get(present)), notWritable);
      assert.equal(await store.has(present), true);
      let listed = 0;
      for await (const _ of store.list()) listed++;
      assert.ok(listed >= 2);
      // A new store cannot be created there either.
      await assert.rejects(new DirStore(join(mnt, 'new', 'store')).put(c.name, c.data), { code: 'STORE_NOT_WRITABLE' });
    } finally {
      await mustRun('mount', ['-o', 'remount,rw', mnt]);
    }
  });
});
