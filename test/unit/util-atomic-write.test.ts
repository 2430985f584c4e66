// writeFileAtomic and TempFile: the final name holds the old file or the
// whole new one, and a failure (a full device, a rename that cannot happen)
// leaves no temporary file behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TempFile, writeFileAtomic } from '../../src/util/atomic-write.js';
import { withSmallTmpfs } from '../helpers/small-tmpfs.js';

const isRoot = process.getuid?.() === 0;

async function scratch(t: { after: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'smr-atomic-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('writes the whole file under its name, with the mode asked for, and nothing else', async (t) => {
  const dir = await scratch(t);
  const path = join(dir, 'f');
  await writeFileAtomic(path, 'old');
  await writeFileAtomic(path, Buffer.from('new bytes'), { sync: 'all', mode: 0o444 });
  assert.equal(await readFile(path, 'utf8'), 'new bytes');
  assert.equal((await stat(path)).mode & 0o777, 0o444);
  assert.deepEqual(await readdir(dir), ['f']);
});

test('a missing directory: makeDir is asked once, then the write goes through', async (t) => {
  const dir = await scratch(t);
  const path = join(dir, 'a', 'b', 'f');
  const asked: string[] = [];
  await writeFileAtomic(path, 'x', { sync: 'data', makeDir: (d) => (asked.push(d), mkdir(d, { recursive: true })) });
  assert.deepEqual(asked, [join(dir, 'a', 'b')]);
  assert.equal(await readFile(path, 'utf8'), 'x');
  // Without makeDir the error is the system's.
  await assert.rejects(writeFileAtomic(join(dir, 'c', 'f'), 'x'), { code: 'ENOENT' });
});

test('a rename that cannot happen: the old content stays, the temporary file goes', async (t) => {
  const dir = await scratch(t);
  const target = join(dir, 'busy');
  await mkdir(target);
  await writeFile(join(target, 'inside'), 'kept');
  await assert.rejects(writeFileAtomic(target, 'new'), (e: NodeJS.ErrnoException) => e.code === 'EISDIR' || e.code === 'ENOTEMPTY');
  assert.deepEqual(await readdir(dir), ['busy']);
  assert.equal(await readFile(join(target, 'inside'), 'utf8'), 'kept');
});

test('TempFile: hidden until commit, gone after discard (twice is fine)', async (t) => {
  const dir = await scratch(t);
  const kept = await TempFile.create(dir, '.tmp-');
  await kept.handle.writeFile('blob');
  assert.match((await readdir(dir))[0]!, /^\.tmp-\d+-[0-9a-f]{12}$/);
  await kept.commit(join(dir, 'named'), 'data');
  const dropped = await TempFile.create(dir, '.tmp-');
  await dropped.discard();
  await dropped.discard();
  assert.deepEqual(await readdir(dir), ['named']);
  assert.equal(await readFile(join(dir, 'named'), 'utf8'), 'blob');
});

test('a full device: no partial file under the final name, no temporary file', { skip: isRoot ? false : 'needs root to mount a small tmpfs' }, async (t) => {
  await withSmallTmpfs(t, await scratch(t), '64k', async (mnt) => {
    const path = join(mnt, 'f');
    await writeFileAtomic(path, 'old');
    await assert.rejects(writeFileAtomic(path, Buffer.alloc(1 << 20, 1), { sync: 'all' }), { code: 'ENOSPC' });
    assert.deepEqual(await readdir(mnt), ['f']);
    assert.equal(await readFile(path, 'utf8'), 'old');
  });
});
