// Sizes that exercise the rarer parts of the ext4 writer: a 4.5 GiB file
// (over 2^32 bytes: large_file, extent-tree leaf blocks) and directories of
// 10,000 and 70,000 entries (one- and two-level htrees), checked by e2fsck
// and by the kernel.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archive, entry, header } from '../helpers/tar-build.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { e2fsck, withLoopMount } from '../helpers/ext4.js';
import { isRoot, run, smr } from '../helpers/run.js';

const skip = isRoot() ? false : 'needs root for mount';
let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'smr-large-'));
});
after(async () => rm(work, { recursive: true, force: true }));

it('directories of 10,000 and 70,000 entries are htrees the kernel looks names up in', { skip, timeout: 300_000 }, async () => {
  const parts: Buffer[] = [entry({ name: 'ten/', typeflag: '5', mode: 0o755 }), entry({ name: 'seventy/', typeflag: '5', mode: 0o755 })];
  for (let i = 0; i < 10_000; i++) parts.push(header({ name: `ten/file-${i}` }));
  const long = 'x'.repeat(80);
  for (let i = 0; i < 70_000; i++) parts.push(header({ name: `seventy/${long}-${i}` }));
  const layout = join(work, 'dirs');
  await writeOciLayout(layout, [archive(...parts)], { compress: 'none' });
  const img = join(work, 'dirs.img');
  const b = await smr(['build', `oci:${layout}`, '-o', img, '-q']);
  assert.equal(b.code, 0, b.stderr);
  const f = await e2fsck(img);
  assert.ok(f.ok, f.output);
  // debugfs sees a two-level index in the big one.
  const htree = await run('debugfs', ['-R', 'htree_dump /seventy', img]);
  assert.match(htree.stdout, /Indirect levels: 1/);
  await withLoopMount(img, async (m) => {
    const attrs = await run('lsattr', ['-d', join(m, 'ten'), join(m, 'seventy')]);
    for (const line of attrs.stdout.trim().split('\n')) assert.match(line.split(' ')[0]!, /I/, line);
    for (const n of [0, 4242, 9999]) await stat(join(m, 'ten', `file-${n}`));
    for (const n of [0, 12345, 69999]) await stat(join(m, 'seventy', `${long}-${n}`));
    await assert.rejects(stat(join(m, 'ten', 'file-10000')));
    const ls = await run('sh', ['-c', `ls -f ${join(m, 'seventy')} | wc -l`]);
    assert.equal(Number(ls.stdout.trim()), 70_002);
  });
});

it('a 4.5 GiB file: large_file, extent leaves, every byte where it belongs', { skip, timeout: 600_000 }, async () => {
  // The layer is an uncompressed tar written sparsely: header, a hole with a
  // marker every GiB, padding and the end marker.
  const size = 4.5 * 2 ** 30;
  const tar = join(work, 'big.tar');
  const fh = await open(tar, 'w');
  const hdr = header({ name: 'big', size });
  await fh.write(hdr, 0, 512, 0);
  for (let g = 0; g < 4.5; g++) await fh.write(Buffer.from(`GiB ${g}`), 0, 5, 512 + g * 2 ** 30);
  await fh.write(Buffer.alloc(1024), 0, 1024, 512 + size);
  await fh.close();
  const layout = join(work, 'biglayout');
  // writeOciLayout wants bytes; build the layout around the sparse file instead.
  await writeSparseLayout(layout, tar);
  const img = join(work, 'big.img');
  const b = await smr(['build', `oci:${layout}`, '-o', img, '-q']);
  assert.equal(b.code, 0, b.stderr);
  const f = await e2fsck(img);
  assert.ok(f.ok, f.output);
  const features = await run('dumpe2fs', ['-h', img]);
  assert.match(features.stdout, /large_file/);
  await withLoopMount(img, async (m) => {
    assert.equal((await stat(join(m, 'big'))).size, size);
    const r = await open(join(m, 'big'), 'r');
    try {
      for (let g = 0; g < 4.5; g++) {
        const buf = Buffer.alloc(5);
        await r.read(buf, 0, 5, g * 2 ** 30);
        assert.equal(buf.toString(), `GiB ${g}`);
      }
      const tail = Buffer.alloc(4096);
      await r.read(tail, 0, 4096, size - 4096);
      assert.ok(tail.equals(Buffer.alloc(4096)));
    } finally {
      await r.close();
    }
  });
});

/** An OCI layout whose one uncompressed layer is the (sparse) file at tarPath. */
async function writeSparseLayout(layout: string, tarPath: string): Promise<void> {
  const { createHash } = await import('node:crypto');
  const { createReadStream } = await import('node:fs');
  const { link, mkdir, writeFile } = await import('node:fs/promises');
  const h = createHash('sha256');
  for await (const c of createReadStream(tarPath, { highWaterMark: 8 << 20 })) h.update(c as Buffer);
  const digest = `sha256:${h.digest('hex')}`;
  const blobs = join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  await link(tarPath, join(blobs, digest.slice(7)));
  const put = async (obj: unknown) => {
    const b = Buffer.from(JSON.stringify(obj));
    const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
    await writeFile(join(blobs, d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const size = (await stat(tarPath)).size;
  const cfg = await put({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digest] } });
  const man = await put({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size }],
  });
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...man }] }));
}
