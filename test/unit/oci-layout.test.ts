// OCI image layouts: the fixture images read in place, by tag, by digest,
// one platform of an index; and the user mistakes and damaged layouts,
// on copies in a temp dir (the fixtures themselves are never modified).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage } from '../../src/oci/index.js';
import { SmrError } from '../../src/util/errors.js';
import { fixtureLayout, fixturesJson, skipWithoutFixtures, type FixturesJson } from '../helpers/fixtures.js';
import { streamDigest } from '../helpers/registry.js';

const skip = skipWithoutFixtures();
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function fixture(name: string): FixturesJson['images'][number] {
  const f = fixturesJson().images.find((i) => i.name === name);
  assert.ok(f, `fixture ${name}`);
  return f;
}

function isCode(code: string, ...parts: string[]) {
  return (e: unknown) => {
    assert.ok(e instanceof SmrError, `expected SmrError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of parts) assert.ok(e.message.includes(p), `"${e.message}" should mention "${p}"`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  };
}

/** Reads a layer to the end, returning the error the stream failed with, if any. */
async function drain(stream: NodeJS.ReadableStream): Promise<unknown> {
  try {
    for await (const _ of stream);
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('openImage on OCI layouts', { skip }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-layout-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const name of ['static', 'python3', 'debian-python']) {
    it(`${name}: manifest, layers and diff_ids as fixtures.json says; layer bytes hash to their digests`, async () => {
      const f = fixture(name);
      const img = await openImage(`oci:${fixtureLayout(name)}:latest`);
      try {
        assert.equal(img.manifestDigest, f.manifest?.digest);
        assert.equal(img.reference, `oci:${fixtureLayout(name)}:latest`);
        assert.deepEqual(
          img.layers.map((l) => [l.descriptor.digest, l.descriptor.size, l.diffId]),
          (f.layers ?? []).map((l) => [l.digest, l.size, l.diff_id]),
        );
        assert.deepEqual(img.config.rootfs?.diff_ids, img.layers.map((l) => l.diffId));
        assert.equal(img.platform.architecture, f.arch);
        for (let i = 0; i < img.layers.length; i++) {
          assert.equal(await streamDigest(await img.openLayer(i)), img.layers[i]?.descriptor.digest);
        }
        // twice: the ext4 builder reads each layer two times
        assert.equal(await streamDigest(await img.openLayer(0)), img.layers[0]?.descriptor.digest);
        await assert.rejects(img.openLayer(img.layers.length), RangeError);
      } finally {
        await img.close();
      }
    });
  }

  it('without a tag takes the only image; by digest finds it too', async () => {
    const f = fixture('static');
    const plain = await openImage(`oci:${fixtureLayout('static')}`);
    assert.equal(plain.manifestDigest, f.manifest?.digest);
    const byDigest = await openImage(`oci:${fixtureLayout('static')}@${f.manifest?.digest}`);
    assert.equal(byDigest.manifestDigest, f.manifest?.digest);
    assert.equal(byDigest.configDigest, byDigest.manifest.config.digest);
  });

  it('static-multiarch: host platform by default, arm64 with --platform, nested index followed', async () => {
    const amd = await openImage(`oci:${fixtureLayout('static-multiarch')}`, { platform: 'linux/amd64' });
    assert.equal(amd.manifestDigest, fixture('static').manifest?.digest);
    const arm = await openImage(`oci:${fixtureLayout('static-multiarch')}:latest`, { platform: 'linux/arm64' });
    assert.equal(arm.manifestDigest, fixture('static-arm64').manifest?.digest);
    assert.deepEqual(arm.layers.map((l) => l.diffId), fixture('static-arm64').layers?.map((l) => l.diff_id));
    assert.equal(await streamDigest(await arm.openLayer(0)), arm.layers[0]?.descriptor.digest);
    const armV8 = await openImage(`oci:${fixtureLayout('static-multiarch')}`, { platform: 'linux/arm64/v8' });
    assert.equal(armV8.manifestDigest, arm.manifestDigest);
    // A platform manifest named by digest (not listed in index.json)
    const direct = await openImage(`oci:${fixtureLayout('static-multiarch')}@${fixture('static-arm64').manifest?.digest}`);
    assert.equal(direct.platform.architecture, 'arm64');
  });

  it('lists the platforms when none matches', async () => {
    await assert.rejects(
      openImage(`oci:${fixtureLayout('static-multiarch')}`, { platform: 'linux/riscv64' }),
      isCode('PLATFORM_NOT_FOUND', 'linux/riscv64', 'linux/amd64', 'linux/arm64/v8'),
    );
  });

  it('a plain manifest: any platform when none asked, an error when another was asked', async () => {
    const img = await openImage(`oci:${fixtureLayout('static-arm64')}`);
    assert.equal(img.platform.architecture, 'arm64');
    await assert.rejects(openImage(`oci:${fixtureLayout('static-arm64')}`, { platform: 'linux/amd64' }), isCode('PLATFORM_MISMATCH', 'linux/arm64'));
    await assert.rejects(openImage(`oci:${fixtureLayout('static')}`, { platform: 'linux' }), isCode('INVALID_PLATFORM'));
  });

  it('user mistakes: unknown tag lists tags, missing dir, not a layout, unknown digest', async () => {
    await assert.rejects(openImage(`oci:${fixtureLayout('static')}:nope`), isCode('TAG_NOT_FOUND', '"nope"', 'available: latest'));
    await assert.rejects(openImage(`oci:${join(work, 'absent')}`), isCode('SOURCE_NOT_FOUND', 'absent'));
    await assert.rejects(openImage(`oci:${work}`), isCode('NOT_OCI_LAYOUT', 'oci-layout'));
    await assert.rejects(openImage(`oci:${fixtureLayout('static')}@sha256:${'1'.repeat(64)}`), isCode('MANIFEST_NOT_FOUND'));
    await assert.rejects(openImage(`oci:${fixtureLayout('static')}@md5:abc`), isCode('UNSUPPORTED_DIGEST', 'md5'));
  });

  describe('damaged copies', () => {
    let copy: string;
    let layerPath: string;
    let configPath: string;
    before(async () => {
      copy = join(work, 'static');
      await cp(fixtureLayout('static'), copy, { recursive: true });
      const f = fixture('static');
      layerPath = join(copy, 'blobs', 'sha256', (f.layers?.[0]?.digest ?? '').slice(7));
      const manifest = JSON.parse(await readFile(join(copy, 'blobs', 'sha256', (f.manifest?.digest ?? '').slice(7)), 'utf8'));
      configPath = join(copy, 'blobs', 'sha256', manifest.config.digest.slice(7));
    });

    it('a tampered layer fails its stream with DIGEST_MISMATCH naming layer and digest', async () => {
      const original = await readFile(layerPath);
      const bad = Buffer.from(original);
      bad[bad.length >> 1] = (bad[bad.length >> 1] as number) ^ 1;
      await writeFile(layerPath, bad);
      try {
        const img = await openImage(`oci:${copy}`);
        const err = await drain(await img.openLayer(0));
        isCode('DIGEST_MISMATCH', 'layer 0', img.layers[0]?.descriptor.digest as string)(err);
        // a cut blob is a short read, also a mismatch
        await writeFile(layerPath, original.subarray(0, 1000));
        isCode('DIGEST_MISMATCH', 'layer 0', 'short read')(await drain(await img.openLayer(0)));
        await unlink(layerPath);
        await assert.rejects(img.openLayer(0), isCode('BLOB_NOT_FOUND', img.layers[0]?.descriptor.digest as string));
      } finally {
        await writeFile(layerPath, original);
      }
    });

    it('a missing or tampered config, bad JSON in index.json', async () => {
      const original = await readFile(configPath);
      try {
        await unlink(configPath);
        await assert.rejects(openImage(`oci:${copy}`), isCode('BLOB_NOT_FOUND', 'config'));
        await writeFile(configPath, Buffer.concat([original.subarray(0, -1), Buffer.from(' ')]));
        await assert.rejects(openImage(`oci:${copy}`), isCode('DIGEST_MISMATCH', 'config'));
      } finally {
        await writeFile(configPath, original);
      }
      const index = await readFile(join(copy, 'index.json'));
      try {
        await writeFile(join(copy, 'index.json'), '{"schemaVersion": 2, "manifests": [');
        await assert.rejects(openImage(`oci:${copy}`), isCode('INVALID_JSON', 'index.json'));
        await writeFile(join(copy, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
        await assert.rejects(openImage(`oci:${copy}:latest`), isCode('TAG_NOT_FOUND', 'no images'));
      } finally {
        await writeFile(join(copy, 'index.json'), index);
      }
    });

    it('diff_ids not matching the layers, an unsupported layer media type', async () => {
      const f = fixture('static');
      const layerDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: f.layers?.[0]?.digest, size: f.layers?.[0]?.size };
      const diffId = f.layers?.[0]?.diff_id as string;
      const variant = async (tag: string, diffIds: string[], layer: object): Promise<void> => {
        const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
        const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length };
        const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [layer] }));
        await writeFile(join(copy, 'blobs', 'sha256', configDesc.digest.slice(7)), config);
        await writeFile(join(copy, 'blobs', 'sha256', sha256(manifest).slice(7)), manifest);
        const index = JSON.parse(await readFile(join(copy, 'index.json'), 'utf8'));
        index.manifests.push({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha256(manifest),
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        });
        await writeFile(join(copy, 'index.json'), JSON.stringify(index));
      };
      await variant('two-diff-ids', [diffId, diffId], layerDesc);
      await variant('encrypted', [diffId], { ...layerDesc, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted' });
      await variant('zstd', [diffId], { ...layerDesc, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' });
      await assert.rejects(openImage(`oci:${copy}:two-diff-ids`), isCode('INVALID_CONFIG', '2 diff_ids', '1 layers'));
      await assert.rejects(openImage(`oci:${copy}:encrypted`), isCode('UNSUPPORTED_MEDIA_TYPE', '+encrypted'));
      const zstd = await openImage(`oci:${copy}:zstd`);
      assert.equal(zstd.layers[0]?.descriptor.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
      await assert.rejects(openImage(`oci:${copy}:absent`), isCode('TAG_NOT_FOUND', 'latest', 'two-diff-ids', 'encrypted'));
    });
  });
});
