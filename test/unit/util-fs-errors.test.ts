// The one mapping of file-system errors: what a writer of an output file
// and a store say for each errno, and the store's stable codes. Errors the
// test can cause for real are caused; the device ones (full, quota,
// read-only) are tested for real in store-devices and recipe-file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeReadError, describeWriteError, storeError, writeFailure } from '../../src/util/fs-errors.js';
import { SmrError } from '../../src/util/errors.js';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something, open '/x'`), { code });
}

async function failure(f: () => Promise<unknown>): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure');
}

test('write failures: full, not writable, or the words for the path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smr-fs-errors-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'file'), '');
  const missing = await failure(() => open(join(dir, 'nope', 'f'), 'wx'));
  const notDir = await failure(() => open(join(dir, 'file', 'f'), 'wx'));
  const isDir = await failure(() => open(dir, 'w'));
  assert.deepEqual(writeFailure(missing, '/o'), { kind: 'other', why: 'directory /o does not exist' });
  assert.deepEqual(writeFailure(notDir, '/o'), { kind: 'other', why: '/o is not a directory' });
  assert.deepEqual(writeFailure(isDir, '/o'), { kind: 'other', why: 'a directory is in the way' });
  assert.deepEqual(writeFailure(errno('ENOSPC'), '/o'), { kind: 'full', why: 'no space left on the device holding /o' });
  assert.deepEqual(writeFailure(errno('EDQUOT'), '/o'), { kind: 'full', why: 'disk quota exceeded on the device holding /o' });
  assert.deepEqual(writeFailure(errno('EROFS'), '/o'), { kind: 'not-writable', why: '/o is not writable: its file system is read-only' });
  assert.deepEqual(writeFailure(errno('EACCES'), '/o'), { kind: 'not-writable', why: '/o is not writable: permission denied (EACCES)' });
  assert.deepEqual(writeFailure(errno('EIO'), '/o'), { kind: 'other', why: "EIO: something, open '/x'" });
  assert.equal(describeWriteError(errno('ENOSPC'), '/o'), 'no space left on the device holding /o');
});

test('store errors: STORE_FULL and STORE_NOT_WRITABLE for writes, STORE_IO otherwise', () => {
  const cases: Array<[string, 'read' | 'write', string, string]> = [
    ['ENOSPC', 'write', 'STORE_FULL', 'no space left on the device holding the store /s'],
    ['EDQUOT', 'write', 'STORE_FULL', 'disk quota exceeded on the device holding the store /s'],
    ['EROFS', 'write', 'STORE_NOT_WRITABLE', 'the store /s is not writable: its file system is read-only'],
    ['EPERM', 'write', 'STORE_NOT_WRITABLE', 'the store /s is not writable: permission denied (EPERM)'],
    ['ENOENT', 'write', 'STORE_IO', "cannot write the store /s: ENOENT: something, open '/x'"],
    ['EACCES', 'read', 'STORE_IO', "cannot read the store /s: EACCES: something, open '/x'"],
  ];
  for (const [code, doing, smrCode, message] of cases) {
    const e = storeError(errno(code), '/s', doing);
    assert.deepEqual({ code: e.code, message: e.message }, { code: smrCode, message }, `${code} on ${doing}`);
  }
  const already = new SmrError('CHUNK_NAME', 'kept as it is');
  assert.equal(storeError(already, '/s', 'write'), already);
});

test('read failures: no such file, permission denied, or the system words', () => {
  assert.equal(describeReadError(errno('ENOENT')), 'no such file');
  assert.equal(describeReadError(errno('EACCES')), 'permission denied');
  assert.equal(describeReadError(errno('EISDIR')), "EISDIR: something, open '/x'");
});
