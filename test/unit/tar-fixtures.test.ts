// Every layer of the fixture images through decompressStream + TarReader:
// entry counts by kind as fixtures.json records them, and the uncompressed
// stream's sha256 equal to the layer's diff_id.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { decompressStream, TarReader, type CompressionFormat } from '../../src/tar/index.js';
import { fixtureLayout, fixturesJson, skipWithoutFixtures } from '../helpers/fixtures.js';

interface LayerStats {
  entries: number;
  dirs: number;
  files: number;
  symlinks: number;
  hardlinks: number;
  chardevs: number;
  blockdevs: number;
  fifos: number;
  whiteouts: number;
  opaque_dirs: number;
  xattr_entries: number;
  setuid_setgid: number;
  non_root_owned: number;
  long_names: number;
  file_bytes: number;
}

interface FixtureLayer {
  digest: string;
  diff_id: string;
  uncompressed_size: number;
  stats: LayerStats;
  samples: { hardlinks: string[]; xattrs: string[]; devices: string[]; fifos: string[]; whiteouts: string[]; opaque_dirs: string[] };
}

const KIND: Record<string, keyof LayerStats> = {
  dir: 'dirs',
  file: 'files',
  symlink: 'symlinks',
  hardlink: 'hardlinks',
  char: 'chardevs',
  block: 'blockdevs',
  fifo: 'fifos',
};

async function readLayer(image: string, layer: FixtureLayer) {
  const blob = join(fixtureLayout(image), 'blobs', ...layer.digest.split(':'));
  const hash = createHash('sha256');
  let format: CompressionFormat | undefined;
  const plain = decompressStream(createReadStream(blob), { what: `${image} ${layer.digest}`, onFormat: (f) => (format = f) });
  const reader = new TarReader(plain, { onInput: (c) => void hash.update(c) });
  const stats: Record<string, number> = Object.fromEntries(Object.keys(layer.stats).map((k) => [k, 0]));
  const samples = { hardlinks: [] as string[], xattrs: [] as string[], devices: [] as string[], fifos: [] as string[], whiteouts: [] as string[], opaque: [] as string[] };
  for (let e = await reader.next(); e !== null; e = await reader.next()) {
    const path = e.path.replace(/\/$/, '');
    const base = path.slice(path.lastIndexOf('/') + 1);
    stats.entries!++;
    if (base === '.wh..wh..opq') {
      stats.opaque_dirs!++;
      samples.opaque.push(path);
    } else if (base.startsWith('.wh.')) {
      stats.whiteouts!++;
      samples.whiteouts.push(path);
    } else stats[KIND[e.type]!]!++;
    if (e.xattrs.size > 0) stats.xattr_entries!++;
    if (e.mode & 0o6000 && e.type === 'file') stats.setuid_setgid!++;
    if (e.uid !== 0 || e.gid !== 0) stats.non_root_owned!++;
    if (e.path.length > 100 || e.linkname.length > 100) stats.long_names!++; // latin1: one char a byte
    stats.file_bytes! += e.size;
    if (e.type === 'hardlink') samples.hardlinks.push(`${path} => ${e.linkname}`);
    if (e.xattrs.size > 0) samples.xattrs.push(`${path} ${[...e.xattrs].map(([k, v]) => `${k}=0x${v.toString('hex')}`).join(',')}`);
    if (e.type === 'char' || e.type === 'block') samples.devices.push(`${path} ${e.type[0]} ${e.devmajor},${e.devminor}`);
    if (e.type === 'fifo') samples.fifos.push(path);
    let n = 0;
    await reader.readBody((c) => void (n += c.length));
    assert.equal(n, e.size);
  }
  return { stats, samples, digest: `sha256:${hash.digest('hex')}`, bytes: reader.bytesRead, format };
}

const skip = skipWithoutFixtures();
const images = skip ? [] : fixturesJson().images;
const seen = new Set<string>();

for (const image of images) {
  for (const [i, layer] of ((image.layers ?? []) as unknown as FixtureLayer[]).entries()) {
    if (seen.has(layer.digest)) continue; // derived images reuse their parent's blobs
    seen.add(layer.digest);
    test(`${image.name} layer ${i + 1} (${layer.digest.slice(7, 19)})`, { timeout: 60_000 }, async () => {
      const got = await readLayer(image.name, layer);
      assert.equal(got.format, 'gzip');
      assert.equal(got.digest, layer.diff_id, 'the uncompressed stream is the diff_id');
      assert.equal(got.bytes, layer.uncompressed_size);
      assert.deepEqual(got.stats, { ...layer.stats });
      const sorted = (a: string[]) => [...a].sort();
      assert.deepEqual(sorted(got.samples.hardlinks), sorted(layer.samples.hardlinks));
      assert.deepEqual(sorted(got.samples.xattrs), sorted(layer.samples.xattrs));
      assert.deepEqual(sorted(got.samples.devices), sorted(layer.samples.devices));
      assert.deepEqual(sorted(got.samples.fifos), sorted(layer.samples.fifos));
      assert.deepEqual(sorted(got.samples.whiteouts), sorted(layer.samples.whiteouts));
      assert.deepEqual(sorted(got.samples.opaque), sorted(layer.samples.opaque_dirs));
    });
  }
}

test('fixture layers', { skip }, () => {});
