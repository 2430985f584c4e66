// TarReader against archives written by GNU tar, bsdtar and Python's tarfile:
// what it returns must be what the writer was given.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, type Collected } from '../helpers/tar-collect.js';
import { pieces } from '../helpers/tar-build.js';
import { dumpTree, have, makeTrees, pythonArchive, run, type FsEntry } from '../helpers/tar-peers.js';

const T = { timeout: 60_000 };

function missing(...cmds: string[]): string | false {
  if (process.getuid?.() !== 0) return 'needs root (mknod, chown, setcap)';
  const gone = cmds.filter((c) => !have(c));
  return gone.length ? `not installed: ${gone.join(', ')} (apt-get install tar libarchive-tools attr libcap2-bin python3)` : false;
}

const TREE_TOOLS = ['python3', 'setfattr', 'setcap', 'mknod', 'mkfifo'];

interface Expect {
  /** mtime has nanoseconds (pax); otherwise whole seconds. */
  ns: boolean;
  /** xattrs were stored. */
  xattrs: boolean;
  /** The writer stores times before 1970 as 0 (bsdtar's gnutar writer does). */
  clampsNegative?: boolean;
}

/** Every archive entry matches the file it came from, and every file is in the archive. */
function compareWithTree(got: Collected[], tree: FsEntry[], x: Expect, label: string): void {
  const byPath = new Map(tree.map((f) => [f.path, f]));
  const seen = new Set<string>();
  for (const e of got) {
    const path = e.path.replace(/\/$/, '');
    const at = `${label}: ${JSON.stringify(e.path)}`;
    const f = byPath.get(path);
    assert.ok(f, `${at} is not in the tree`);
    seen.add(path);
    if (e.type === 'hardlink') {
      const target = byPath.get(e.linkname);
      assert.ok(target, `${at} links to ${e.linkname}, not in the tree`);
      assert.equal(target.ino, f.ino, `${at} links to another inode`);
      assert.ok(seen.has(e.linkname), `${at} links to an entry not yet seen`);
    } else {
      assert.equal(e.type, f.type, `${at} type`);
      assert.equal(e.size, f.type === 'file' ? f.size : 0, `${at} size`);
      if (f.type === 'file') assert.equal(e.sha256, f.sha256, `${at} content`);
      assert.equal(e.linkname, f.linkname, `${at} link target`);
    }
    assert.equal(e.mode, f.mode, `${at} mode`);
    assert.equal(e.uid, f.uid, `${at} uid`);
    assert.equal(e.gid, f.gid, `${at} gid`);
    assert.deepEqual([e.devmajor, e.devminor], [f.devmajor, f.devminor], `${at} device`);
    const ns = BigInt(f.mtimeNs);
    let sec = ns >= 0n ? ns / 1_000_000_000n : -((-ns + 999_999_999n) / 1_000_000_000n);
    let nsec = x.ns ? Number(ns - sec * 1_000_000_000n) : 0;
    if (x.clampsNegative && sec < 0n) [sec, nsec] = [0n, 0];
    assert.deepEqual(e.mtime, { sec: Number(sec), nsec }, `${at} mtime`);
    if (e.type !== 'hardlink') assert.deepEqual(e.xattrs, x.xattrs ? f.xattrs : {}, `${at} xattrs`);
  }
  const absent = tree.map((f) => f.path).filter((p) => !seen.has(p));
  assert.deepEqual(absent, [], `${label}: files missing from the archive`);
}

describe('GNU tar and bsdtar archives of a real tree', { skip: missing('tar', 'bsdtar', ...TREE_TOOLS) }, () => {
  let root = '';
  const trees: Record<string, FsEntry[]> = {};
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'smr-tar-peers-'));
    makeTrees(join(root, 'src'));
    for (const t of ['basic', 'special', 'ext']) trees[t] = dumpTree(join(root, 'src'), [t]);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const cases: Array<{ tool: 'tar' | 'bsdtar'; args: string[]; dirs: string[]; x: Expect }> = [
    { tool: 'tar', args: ['--format=v7'], dirs: ['basic'], x: { ns: false, xattrs: false } },
    { tool: 'tar', args: ['--format=ustar'], dirs: ['basic', 'special'], x: { ns: false, xattrs: false } },
    { tool: 'tar', args: ['--format=gnu'], dirs: ['basic', 'special', 'ext'], x: { ns: false, xattrs: false } },
    {
      tool: 'tar',
      args: ['--format=pax', '--xattrs', '--xattrs-include=*'],
      dirs: ['basic', 'special', 'ext'],
      x: { ns: true, xattrs: true },
    },
    { tool: 'bsdtar', args: ['--format', 'v7tar'], dirs: ['basic'], x: { ns: false, xattrs: false } },
    { tool: 'bsdtar', args: ['--format', 'ustar'], dirs: ['basic', 'special'], x: { ns: false, xattrs: false } },
    {
      tool: 'bsdtar',
      args: ['--format', 'gnutar'],
      dirs: ['basic', 'special', 'ext'],
      x: { ns: false, xattrs: false, clampsNegative: true },
    },
    { tool: 'bsdtar', args: ['--format', 'pax'], dirs: ['basic', 'special', 'ext'], x: { ns: true, xattrs: true } },
  ];
  for (const c of cases) {
    const label = `${c.tool} ${c.args.join(' ')} (${c.dirs.join(', ')})`;
    test(label, T, async () => {
      const out = join(root, `${c.tool}-${c.args[c.args.length === 1 ? 0 : 1]!.replace(/\W/g, '')}.tar`);
      run(c.tool, [...c.args, '-cf', out, '-C', join(root, 'src'), ...c.dirs]);
      const bytes = readFileSync(out);
      const got = await collect(pieces(bytes, [4096, 1000, 65536]), { keepBodies: 0 });
      compareWithTree(
        got,
        c.dirs.flatMap((d) => trees[d]!),
        c.x,
        label,
      );
      // The extended tree really exercised long names, big owners, xattrs and non-UTF-8 names.
      if (c.dirs.includes('ext')) {
        assert.ok(got.some((e) => e.path.length > 255));
        assert.ok(got.some((e) => e.linkname.length === 150));
        assert.ok(got.some((e) => e.uid === 4000000000 && e.gid === 4000000001));
        if (!c.x.clampsNegative) assert.ok(got.some((e) => e.mtime.sec < 0));
        assert.ok(got.some((e) => e.path === 'ext/caf\xff\xfe'));
        if (c.x.xattrs) assert.ok(got.some((e) => 'security.capability' in e.xattrs && e.xattrs['user.binary'] === '000a3dff0a'));
      }
    });
  }
});

describe("Python tarfile archives", { skip: have('python3') ? false : 'python3 not installed' }, () => {
  let root = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'smr-tar-py-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const format of ['ustar', 'gnu', 'pax'] as const) {
    test(`tarfile ${format}`, T, async () => {
      const out = join(root, `${format}.tar`);
      const want = pythonArchive(format, out);
      const got = await collect(pieces(readFileSync(out), [10240]), { keepBodies: 0 });
      assert.deepEqual(
        got.map((e) => ({
          path: e.path,
          type: e.type,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          size: e.size,
          sha256: e.sha256,
          mtime: e.mtime,
          linkname: e.linkname,
          devmajor: e.devmajor,
          devminor: e.devminor,
          xattrs: e.xattrs,
        })),
        want,
      );
      if (format !== 'ustar') assert.ok(got.some((e) => e.uid === 4294967294 && e.gid === 2 ** 33));
      if (format === 'pax') assert.ok(got.some((e) => e.path === 'caf\xe9-\xff\xfe'));
    });
  }
});
