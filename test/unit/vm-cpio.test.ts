// Our newc cpio writer against real readers: GNU cpio (list and extract)
// and bsdtar (libarchive). Names, modes, sizes, symlinks and contents must
// come back as written.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCpio, type CpioEntry } from '../../src/vm/cpio.js';
import { haveCommand, isRoot } from '../helpers/run.js';

// Sizes around the 4-byte padding, an empty file, and one over 64 KiB.
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
const ENTRIES: CpioEntry[] = [
  { type: 'dir', name: 'bin' },
  { type: 'dir', name: 'etc', mode: 0o700 },
  { type: 'dir', name: 'etc/deep-er', mode: 0o1777 },
  { type: 'file', name: 'bin/busybox', data: bytes(70_001, 1), mode: 0o755 },
  { type: 'symlink', name: 'bin/sh', target: 'busybox' },
  { type: 'symlink', name: 'etc/abs', target: '/bin/busybox' },
  { type: 'file', name: 'etc/empty', data: Buffer.alloc(0), mode: 0o600 },
  ...[1, 2, 3, 4, 5].map((n): CpioEntry => ({ type: 'file', name: `etc/deep-er/f${'x'.repeat(n)}`, data: bytes(n, n), mode: 0o640 })),
  { type: 'file', name: 'init', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o4755, uid: 1000, gid: 100 },
  { type: 'file', name: 'utf8-ünïcode', data: Buffer.from('ü'), mode: 0o644 },
  { type: 'char', name: 'etc/console', major: 5, minor: 1, mode: 0o600 },
];

const files = ENTRIES.filter((e): e is Extract<CpioEntry, { type: 'file' }> => e.type === 'file');

describe('cpio newc writer', () => {
  let dir: string;
  let archive: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'smr-cpio-'));
    archive = join(dir, 'test.cpio');
    writeFileSync(archive, writeCpio(ENTRIES));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('is deterministic and 4-byte aligned, ending in the trailer', () => {
    const a = writeCpio(ENTRIES);
    assert.deepEqual(a, writeCpio(ENTRIES));
    assert.equal(a.length % 4, 0);
    assert.match(a.subarray(a.length - 128).toString('latin1'), /070701[0-9a-f]{104}TRAILER!!!\0+$/);
  });

  test('bsdtar lists names, types, modes, owners, sizes and link targets', { skip: !haveCommand('bsdtar') && 'bsdtar missing (apt-get install libarchive-tools)' }, () => {
    const r = spawnSync('bsdtar', ['-tvf', archive], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, ENTRIES.length);
    ENTRIES.forEach((e, i) => {
      const [perm, , uid, gid, size] = lines[i]!.split(/\s+/);
      const type = { dir: 'd', file: '-', symlink: 'l', char: 'c', block: 'b' }[e.type];
      assert.equal(perm![0], type, lines[i]);
      if (e.type === 'file') {
        assert.equal(Number(size), e.data.length, lines[i]);
        assert.equal(uid, String(e.uid ?? 0));
        assert.equal(gid, String(e.gid ?? 0));
      }
      if (e.type === 'symlink') assert.ok(lines[i]!.endsWith(` ${e.name} -> ${e.target}`), lines[i]);
      else if (e.type !== 'char') assert.ok(lines[i]!.endsWith(` ${e.name}`), lines[i]);
    });
    assert.match(lines.find((l) => l.endsWith(' init'))!, /^-rwsr-xr-x/);
    assert.match(lines.find((l) => l.endsWith(' etc/deep-er'))!, /^drwxrwxrwt/);
    assert.match(lines.find((l) => l.includes('etc/console'))!, /^crw------- .* 5,1 /);
  });

  test('GNU cpio lists every name in order', { skip: !haveCommand('cpio') && 'cpio missing (apt-get install cpio)' }, () => {
    const r = spawnSync('cpio', ['-t', '--quiet', '-F', archive], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ENTRIES.map((e) => e.name));
  });

  test('GNU cpio extracts the same contents, modes and symlinks', { skip: (!haveCommand('cpio') && 'cpio missing (apt-get install cpio)') || (!isRoot() && 'needs root (device node, owners)') }, () => {
    const out = join(dir, 'x');
    const r = spawnSync('sh', ['-c', `mkdir -p '${out}' && cd '${out}' && cpio -idm --quiet --no-absolute-filenames -F '${archive}'`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const f of files) {
      assert.deepEqual(readFileSync(join(out, f.name)), f.data, f.name);
      const st = lstatSync(join(out, f.name));
      assert.equal(st.mode & 0o7777, f.mode, `${f.name} mode`);
      assert.equal(st.uid, f.uid ?? 0);
    }
    assert.equal(readlinkSync(join(out, 'bin/sh')), 'busybox');
    assert.equal(readlinkSync(join(out, 'etc/abs')), '/bin/busybox');
    assert.equal(lstatSync(join(out, 'etc')).mode & 0o7777, 0o700);
    const dev = lstatSync(join(out, 'etc/console'));
    assert.ok(dev.isCharacterDevice());
    assert.equal(dev.rdev, (5 << 8) | 1);
  });

  test('rejects names that would escape the archive root', () => {
    assert.throws(() => writeCpio([{ type: 'dir', name: '../x' }]), /bad member name/);
    assert.throws(() => writeCpio([{ type: 'dir', name: '/' }]), /bad member name/);
  });
});
