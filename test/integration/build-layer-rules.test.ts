// The OCI layer rules, checked through the kernel's view of built images:
// whiteouts, opaque directories (applied first within their layer),
// directory-over-directory merges, replacement, hard links across layers,
// duplicates, special files and attributes. And bad layers: one-line errors
// naming the layer and entry, a non-zero exit, and no IMAGE left behind.
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { archive, base256, entry, pax } from '../helpers/tar-build.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { e2fsck, listing, parseListing, withLoopMount } from '../helpers/ext4.js';
import { isRoot, smr } from '../helpers/run.js';

const dir = (name: string, mode = 0o755, uid = 0) => entry({ name: `${name}/`, typeflag: '5', mode, uid });
const file = (name: string, content: string, extra: Parameters<typeof entry>[0] = {}) => entry({ name, ...extra }, content);
const link = (name: string, target: string) => entry({ name, typeflag: '1', linkname: target });
const sym = (name: string, target: string) => entry({ name, typeflag: '2', linkname: target });
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('layer rules', { skip: isRoot() ? false : 'needs root for mount' }, () => {
  let work: string;
  let tree: ReturnType<typeof parseListing>;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-rules-'));
    const l1 = archive(
      dir('a'), file('a/keep', 'k'), file('a/gone', 'g'),
      dir('d'), file('d/x', 'x'),
      dir('o'), file('o/old', 'old'), dir('o/sub'), file('o/sub/deep', 'deep'),
      file('h', 'hardlink-target'),
      file('rep', 'file'),
      dir('repdir'), file('repdir/c', 'c'),
      file('dup', 'first'),
      dir('p'), sym('p/abs', '/etc/passwd'), pax([['linkpath', `/${'t'.repeat(100)}`]]), sym('p/long', 'placeholder'),
      entry({ name: 'sym644', typeflag: '2', linkname: 'h', mode: 0o644 }),
      dir('w'), file('w/lower', 'lower'),
    );
    const l2 = archive(
      file('a/.wh.gone', ''),
      file('.wh.d', ''),
      file('.wh.nothing-here', ''),
      file('o/new', 'new'),
      file('o/.wh..wh..opq', ''), // after an entry of its layer: still applied first
      dir('a', 0o700, 5), // directory over directory
      link('h2', 'h'), // across layers
      dir('rep'), file('rep/inside', 'in'), // file replaced by a directory
      file('repdir', 'now a file'), // directory replaced by a file
      file('dup', 'second'), file('dup', 'third'),
      pax([['path', `deep/${'n'.repeat(200)}/${'m'.repeat(200)}`]]), file('placeholder', 'long name'),
      entry({ name: 'null', typeflag: '3', devmajor: 1, devminor: 3, mode: 0o666 }),
      entry({ name: 'big-dev', typeflag: '4', devmajor: 259, devminor: 70000, mode: 0o660 }),
      entry({ name: 'fifo', typeflag: '6', mode: 0o600 }),
      file('suid', '#!/bin/true\n', { mode: 0o4755 }),
      entry({ name: 'nobody-file', uid: base256(4294967294, 8), gid: base256(4294967293, 8), magic: 'gnu' }, 'owned'),
      pax([['SCHILY.xattr.security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex')], ['mtime', '1700000000.123456789']]),
      file('ping', 'ELF'),
      pax([['SCHILY.xattr.user.big', Buffer.alloc(300, 0x61)]]), // too big for the inode: xattr block
      file('bigattr', 'x'),
      dir('w'), file('w/same-layer', 'same'), file('.wh.w', ''), // whiteout after its layer re-declared w
    );
    const layout = join(work, 'layout');
    await writeOciLayout(layout, [l1, l2]);
    const img = join(work, 'rules.img');
    const r = await smr(['build', `oci:${layout}`, '-o', img, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const fsck = await e2fsck(img);
    assert.ok(fsck.ok, fsck.output);
    tree = parseListing(await withLoopMount(img, (m) => listing(m, 2 ** 40)));
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('a whiteout hides a file and a directory of a lower layer; a whiteout of nothing is ignored', () => {
    assert.ok(tree.has('/a/keep'));
    assert.ok(!tree.has('/a/gone'));
    assert.ok(!tree.has('/d') && !tree.has('/d/x'));
    assert.ok(!tree.has('/nothing-here') && !tree.has('/.wh.nothing-here'));
    for (const p of tree.keys()) assert.ok(!p.includes('.wh.'), `whiteout marker leaked: ${p}`);
  });

  it('an opaque directory hides lower content but keeps what its own layer put there, whatever the order', () => {
    assert.equal(tree.get('/o/new')?.what, sha('new'));
    assert.ok(!tree.has('/o/old') && !tree.has('/o/sub'));
  });

  it('a directory over a directory keeps the content and takes the new attributes', () => {
    assert.equal(tree.get('/a')?.mode, '0700');
    assert.equal(tree.get('/a')?.uid, '5');
  });

  it('replacement: file by directory, directory by file; duplicates: the last wins', () => {
    assert.equal(tree.get('/rep')?.type, 'd');
    assert.equal(tree.get('/rep/inside')?.what, sha('in'));
    assert.equal(tree.get('/repdir')?.type, 'f');
    assert.equal(tree.get('/repdir')?.what, sha('now a file'));
    assert.ok(!tree.has('/repdir/c'));
    assert.equal(tree.get('/dup')?.what, sha('third'));
  });

  // Found by the umoci property test (build-vs-umoci.test.ts).
  it('fuzz case: a symlink is 0777 whatever mode the archive gives it', () => {
    assert.equal(tree.get('/sym644')?.mode, '0777');
  });

  it('fuzz case: a whiteout of a directory its own layer re-declared hides only the lower content', () => {
    assert.equal(tree.get('/w')?.type, 'd');
    assert.ok(!tree.has('/w/lower'));
    assert.equal(tree.get('/w/same-layer')?.what, sha('same'));
  });

  it('a hard link to a lower layer shares the inode', () => {
    assert.equal(tree.get('/h2')?.hardlinkOf, '/h');
    assert.equal(tree.get('/h2')?.what, sha('hardlink-target'));
  });

  it('special files, owners, modes, long names, times and xattrs survive', () => {
    assert.equal(tree.get('/null')?.type, 'c');
    assert.equal(tree.get('/null')?.what, '1,3');
    assert.equal(tree.get('/big-dev')?.what, '259,70000');
    assert.equal(tree.get('/fifo')?.type, 'p');
    assert.equal(tree.get('/suid')?.mode, '4755');
    assert.equal(tree.get('/nobody-file')?.uid, '4294967294');
    assert.equal(tree.get('/nobody-file')?.gid, '4294967293');
    assert.ok(tree.has(`/deep/${'n'.repeat(200)}/${'m'.repeat(200)}`));
    assert.equal(tree.get('/ping')?.xattrs, 'security.capability=0100000200200000000000000000000000000000');
    assert.equal(tree.get('/ping')?.mtime, '1700000000');
    assert.equal(tree.get('/bigattr')?.xattrs, `user.big=${'61'.repeat(300)}`);
    assert.equal(tree.get('/p/abs')?.what, '/etc/passwd');
    assert.equal(tree.get('/p/long')?.what, `/${'t'.repeat(100)}`);
  });
});

describe('bad layers are refused cleanly', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-bad-'));
  });
  after(async () => rm(work, { recursive: true, force: true }));

  const cases: Array<{ name: string; layers: () => Buffer[]; truncateBlob?: boolean; diffIds?: string[]; error: RegExp }> = [
    { name: 'a path with ..', layers: () => [archive(file('../escape', 'x'))], error: /layer 1\/1 .*entry '\.\.\/escape'.*'\.\.'/ },
    { name: 'an absolute path', layers: () => [archive(file('/etc/abs', 'x'))], error: /entry '\/etc\/abs'.*absolute/ },
    { name: 'a hard link to nothing', layers: () => [archive(link('l', 'missing'))], error: /entry 'l'.*hard link target 'missing' does not exist/ },
    { name: 'a name over 255 bytes', layers: () => [archive(pax([['path', 'x'.repeat(256)]]), file('p', ''))], error: /255/ },
    { name: 'a bad tar checksum', layers: () => [archive(entry({ name: 'f', checksum: 'bad' }, 'x'))], error: /checksum/ },
    { name: 'a diff_id that does not match', layers: () => [archive(file('f', 'x'))], diffIds: [`sha256:${'0'.repeat(64)}`], error: /digest/ },
    {
      name: 'a truncated gzip stream',
      layers: () => [archive(file('f', 'x'.repeat(100000)))],
      truncateBlob: true,
      error: /Cannot decompress|truncated|unexpected end/i,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: one line, non-zero exit, no image left`, async () => {
      const layout = join(work, c.name.replace(/\W+/g, '-'));
      const outDir = join(work, `${c.name.replace(/\W+/g, '-')}-out`);
      const layers = c.layers();
      if (c.truncateBlob) {
        // A layout whose layer blob is cut in the middle: its digest is right
        // (we hash what we store), so the damage is found by decompression.
        const gz = gzipSync(layers[0]!);
        await writeOciLayoutRawBlob(layout, gz.subarray(0, gz.length - 100), layers[0]!);
      } else {
        await writeOciLayout(layout, layers, { diffIds: c.diffIds });
      }
      await mkdir(outDir);
      const out = join(outDir, 'x.img');
      const r = await smr(['build', `oci:${layout}`, '-o', out, '--quiet']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, c.error);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.ok(!existsSync(out));
      assert.deepEqual(await readdir(outDir), []);
    });
  }
});

/** A layout whose single layer blob is `blob` (not necessarily valid gzip). */
async function writeOciLayoutRawBlob(layout: string, blob: Buffer, tar: Buffer): Promise<void> {
  await writeOciLayout(layout, [tar]);
  // Swap the blob and rewrite the manifest to point to it.
  const idx = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const mPath = join(layout, 'blobs', 'sha256', idx.manifests[0].digest.slice(7));
  const manifest = JSON.parse(await readFile(mPath, 'utf8'));
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), blob);
  manifest.layers[0].digest = digest;
  manifest.layers[0].size = blob.length;
  const mBuf = Buffer.from(JSON.stringify(manifest));
  const mDigest = `sha256:${createHash('sha256').update(mBuf).digest('hex')}`;
  await writeFile(join(layout, 'blobs', 'sha256', mDigest.slice(7)), mBuf);
  idx.manifests[0].digest = mDigest;
  idx.manifests[0].size = mBuf.length;
  await writeFile(join(layout, 'index.json'), JSON.stringify(idx));
}
