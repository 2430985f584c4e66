// docker-archive sources made by skopeo from the fixture layouts: plain,
// gzip- and zstd-compressed, and a two-image archive assembled the way
// `docker save a b` lays one out. skopeo stores the layers uncompressed,
// so the comparison is on diff_ids (fixed), not on compressed digests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage, type ResolvedImage } from '../../src/oci/index.js';
import { SmrError } from '../../src/util/errors.js';
import { fixtureLayout, fixturesJson, skipWithoutFixtures } from '../helpers/fixtures.js';
import { ensureCommand, exec, streamDigest } from '../helpers/registry.js';
import { haveCommand } from '../helpers/run.js';

const skip = skipWithoutFixtures() || (ensureCommand('skopeo', 'skopeo') ? false : 'skopeo is not installed');

const diffIds = (name: string) => fixturesJson().images.find((i) => i.name === name)?.layers?.map((l) => l.diff_id);

async function sh(cmd: string, args: string[]): Promise<void> {
  const r = await exec(cmd, args);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** Every layer's bytes hash to its digest, and (being plain tar) to its diff_id. */
async function checkLayers(img: ResolvedImage, name: string): Promise<void> {
  assert.deepEqual(img.layers.map((l) => l.diffId), diffIds(name));
  for (let i = 0; i < img.layers.length; i++) {
    const l = img.layers[i]!;
    assert.equal(l.descriptor.mediaType, 'application/vnd.oci.image.layer.v1.tar');
    assert.equal(await streamDigest(await img.openLayer(i)), l.descriptor.digest);
    assert.equal(l.descriptor.digest, l.diffId);
  }
}

function isCode(code: string, ...parts: string[]) {
  return (e: unknown) => e instanceof SmrError && e.code === code && parts.every((p) => e.message.includes(p));
}

describe('openImage on docker-archive tarballs', { skip }, () => {
  let work: string;
  let cacheDir: string;
  let plain: string;
  let gz: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-archive-'));
    cacheDir = join(work, 'cache');
    plain = join(work, 'python3.tar');
    gz = `${plain}.gz`;
    await sh('skopeo', ['copy', '--quiet', `oci:${fixtureLayout('python3')}:latest`, `docker-archive:${plain}:fixtures/python3:latest`]);
    await sh('sh', ['-c', `gzip -1 -c '${plain}' > '${gz}'`]);
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('plain archive: layers read in place, diff_ids as in fixtures.json', async () => {
    const img = await openImage(`docker-archive:${plain}`, { cacheDir });
    await checkLayers(img, 'python3');
    assert.equal(img.platform.architecture, 'amd64');
    assert.match(img.manifestDigest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(img.manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    await img.close();
    // nothing was extracted: only the memo of layer digests
    assert.deepEqual(await readdir(join(cacheDir, 'blobs')).catch(() => []), []);
    const again = await openImage(`docker-archive:${plain}:fixtures/python3:latest`, { cacheDir });
    assert.equal(again.manifestDigest, img.manifestDigest, 'synthesized manifest is deterministic');
    await again.close();
  });

  it('gzip archive: unpacked once into the cache, same image as the plain one', async () => {
    const phases = new Set<string>();
    const img = await openImage(`docker-archive:${gz}:docker.io/fixtures/python3:latest`, {
      cacheDir,
      progress: { update: (s) => phases.add(s.phase), done() {} },
    });
    await checkLayers(img, 'python3');
    const fromPlain = await openImage(`docker-archive:${plain}`, { cacheDir });
    assert.equal(img.manifestDigest, fromPlain.manifestDigest);
    assert.ok(phases.has('extract'));
    for (const l of img.layers) await readFile(join(cacheDir, 'blobs', 'sha256', l.descriptor.digest.slice(7))).then((b) => assert.ok(b.length > 0));
    // second open: from the memo, no unpacking
    phases.clear();
    const again = await openImage(`docker-archive:${gz}`, { cacheDir, progress: { update: (s) => phases.add(s.phase), done() {} } });
    assert.equal(again.manifestDigest, img.manifestDigest);
    assert.equal(phases.size, 0);
    await checkLayers(again, 'python3');
  });

  it('zstd archive', { skip: haveCommand('zstd') ? false : 'zstd not installed' }, async () => {
    const zst = `${plain}.zst`;
    await sh('zstd', ['-q', '-1', '-f', plain, '-o', zst]);
    const fresh = join(work, 'cache-zstd');
    const img = await openImage(`docker-archive:${zst}`, { cacheDir: fresh });
    await checkLayers(img, 'python3');
  });

  it('a two-image archive with <id>/layer.tar links: picked by name or @N, else a list', async () => {
    const dir = join(work, 'multi');
    await mkdir(dir);
    const staticTar = join(work, 'static.tar');
    await sh('skopeo', ['copy', '--quiet', `oci:${fixtureLayout('static')}:latest`, `docker-archive:${staticTar}:fixtures/static:v1`]);
    await sh('tar', ['-xf', staticTar, '-C', dir]);
    const staticManifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    await sh('tar', ['-xf', plain, '-C', dir]);
    const pyManifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    // docker save style: the manifest names layers through the <id>/layer.tar symlinks
    const viaLink = new Map<string, string>();
    for (const entry of await readdir(dir)) {
      const target = await readlink(join(dir, entry, 'layer.tar')).catch(() => undefined);
      if (target) viaLink.set(target.replace('../', ''), `${entry}/layer.tar`);
    }
    pyManifest[0].Layers = pyManifest[0].Layers.map((l: string) => viaLink.get(l) ?? assert.fail(`no link to ${l}`));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([...staticManifest, ...pyManifest]));
    const multi = join(work, 'multi.tar');
    await sh('tar', ['-cf', multi, '-C', dir, '.']);

    await assert.rejects(openImage(`docker-archive:${multi}`, { cacheDir }), isCode('AMBIGUOUS_IMAGE', 'fixtures/static:v1', 'fixtures/python3:latest', '@1'));
    const py = await openImage(`docker-archive:${multi}:fixtures/python3:latest`, { cacheDir });
    await checkLayers(py, 'python3');
    const st = await openImage(`docker-archive:${multi}:@0`, { cacheDir });
    await checkLayers(st, 'static');
    await assert.rejects(openImage(`docker-archive:${multi}:fixtures/static:v2`, { cacheDir }), isCode('IMAGE_NOT_FOUND', 'fixtures/static:v2', 'fixtures/static:v1'));
    await assert.rejects(openImage(`docker-archive:${multi}:@2`, { cacheDir }), isCode('IMAGE_NOT_FOUND', '@2'));
  });

  it('user mistakes: missing file, not a tar, a tar without manifest.json, --platform mismatch', async () => {
    await assert.rejects(openImage(`docker-archive:${join(work, 'absent.tar')}`, { cacheDir }), isCode('SOURCE_NOT_FOUND', 'absent.tar'));
    const junk = join(work, 'junk.tar');
    await writeFile(junk, Buffer.alloc(4096, 7));
    await assert.rejects(openImage(`docker-archive:${junk}`, { cacheDir }), isCode('INVALID_ARCHIVE', 'not a tar archive'));
    const other = join(work, 'other.tar');
    await sh('tar', ['-cf', other, '-C', fixtureLayout('static'), 'index.json']);
    await assert.rejects(openImage(`docker-archive:${other}`, { cacheDir }), isCode('INVALID_ARCHIVE', 'no manifest.json'));
    await assert.rejects(openImage(`docker-archive:${plain}`, { cacheDir, platform: 'linux/arm64' }), isCode('PLATFORM_MISMATCH', 'linux/amd64'));
  });
});
