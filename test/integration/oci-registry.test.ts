// Pulling the fixture images from a real registry (docker-registry, pushed
// with skopeo): by tag, by digest, one platform out of an index; the
// resolved digests must be the ones fixtures.json records, and the layer
// bytes must hash to them. The blob cache is checked too.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage, type ResolvedImage } from '../../src/oci/index.js';
import { SmrError } from '../../src/util/errors.js';
import { fixtureLayout, fixturesJson, skipWithoutFixtures, type FixturesJson } from '../helpers/fixtures.js';
import {
  pushLayout,
  removeRegistryData,
  skipWithoutRegistry,
  startRegistry,
  streamDigest,
  type RegistryHandle,
  exec,
} from '../helpers/registry.js';

const skip = skipWithoutFixtures() || skipWithoutRegistry();

function fixture(name: string): FixturesJson['images'][number] {
  const f = fixturesJson().images.find((i) => i.name === name);
  assert.ok(f, `fixture ${name} in fixtures.json`);
  return f;
}

async function checkAgainstFixture(img: ResolvedImage, name: string): Promise<void> {
  const f = fixture(name);
  assert.equal(img.manifestDigest, f.manifest?.digest);
  assert.deepEqual(
    img.layers.map((l) => [l.descriptor.digest, l.descriptor.size, l.diffId]),
    (f.layers ?? []).map((l) => [l.digest, l.size, l.diff_id]),
  );
  for (let i = 0; i < img.layers.length; i++) {
    assert.equal(await streamDigest(await img.openLayer(i)), img.layers[i]?.descriptor.digest);
  }
}

describe('openImage from a real registry', { skip }, () => {
  let reg: RegistryHandle;
  let cacheDir: string;
  const digests: Record<string, string> = {};

  before(async () => {
    reg = await startRegistry();
    for (const name of ['static', 'python3', 'static-multiarch']) {
      digests[name] = await pushLayout(reg, fixtureLayout(name), `fixtures/${name}:latest`);
    }
    cacheDir = await mkdtemp(join(tmpdir(), 'smr-oci-cache-'));
  });
  after(async () => {
    await reg?.stop();
    if (reg) await removeRegistryData(reg);
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  it('pulls static by tag (docker:// form) into the blob cache', async () => {
    const updates: number[] = [];
    let done = 0;
    const img = await openImage(`docker://${reg.host}/fixtures/static:latest`, {
      cacheDir,
      progress: { update: (s) => updates.push(s.done), done: () => done++ },
    });
    try {
      await checkAgainstFixture(img, 'static');
      assert.equal(img.platform.architecture, 'amd64');
      assert.equal(done, 1, 'progress.done() called once');
      assert.equal(updates.at(-1), fixture('static').layers?.[0]?.size, 'final progress = bytes downloaded');
      const layer = img.layers[0]?.descriptor.digest.slice('sha256:'.length) as string;
      assert.equal((await stat(join(cacheDir, 'blobs', 'sha256', layer))).size, fixture('static').layers?.[0]?.size);
      const leftovers = (await readdir(join(cacheDir, 'blobs', 'sha256'))).filter((f) => f.startsWith('.tmp'));
      assert.deepEqual(leftovers, [], 'no temp files left');
    } finally {
      await img.close();
    }
    // Second open: everything cached, nothing downloaded, still verified.
    let updated = 0;
    const again = await openImage(`${reg.host}/fixtures/static`, { cacheDir, progress: { update: () => updated++, done() {} } });
    await checkAgainstFixture(again, 'static');
    await again.close();
    assert.equal(updated, 0);
  });

  it('pulls python3 by tag and by digest', async () => {
    const byTag = await openImage(`${reg.host}/fixtures/python3:latest`, { cacheDir });
    await checkAgainstFixture(byTag, 'python3');
    await byTag.close();
    const digest = fixture('python3').manifest?.digest as string;
    assert.equal(digests.python3, digest, 'skopeo preserved the digest');
    const byDigest = await openImage(`docker://${reg.host}/fixtures/python3@${digest}`, { cacheDir });
    await checkAgainstFixture(byDigest, 'python3');
    assert.equal(byDigest.layers.length, 3);
    // openLayer may be called several times per layer
    assert.equal(await streamDigest(await byDigest.openLayer(2)), byDigest.layers[2]?.descriptor.digest);
    await byDigest.close();
  });

  it('picks one platform of static-multiarch, by tag and by index digest', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'smr-oci-cache-'));
    try {
      const arm = await openImage(`${reg.host}/fixtures/static-multiarch:latest`, { cacheDir: fresh, platform: 'linux/arm64' });
      await checkAgainstFixture(arm, 'static-arm64');
      assert.deepEqual(arm.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
      await arm.close();
      const indexDigest = fixture('static-multiarch').index?.digest as string;
      const amd = await openImage(`${reg.host}/fixtures/static-multiarch@${indexDigest}`, { cacheDir: fresh, platform: 'linux/amd64' });
      await checkAgainstFixture(amd, 'static');
      await amd.close();
      await assert.rejects(
        openImage(`${reg.host}/fixtures/static-multiarch`, { cacheDir: fresh, platform: 'linux/s390x' }),
        (e: unknown) =>
          e instanceof SmrError &&
          e.code === 'PLATFORM_NOT_FOUND' &&
          e.message.includes('linux/amd64') &&
          e.message.includes('linux/arm64/v8'),
      );
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });

  it('HTTPS with a self-signed certificate: refused by default, accepted when insecure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smr-tls-'));
    const tls = { certificate: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
    const r = await exec('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', tls.key,
      '-out', tls.certificate, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const secure = await startRegistry({ dataDir: reg.dataDir, tls });
    try {
      await assert.rejects(
        openImage(`${secure.host}/fixtures/static`, { cacheDir }),
        (e: unknown) => e instanceof SmrError && e.code === 'CONNECTION_FAILED' && /certificate/.test(e.message),
      );
      const img = await openImage(`${secure.host}/fixtures/static`, { cacheDir, insecure: true });
      assert.equal(img.manifestDigest, fixture('static').manifest?.digest);
      await img.close();
    } finally {
      await secure.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says clearly when a tag, a repository or a blob is missing', async () => {
    await assert.rejects(openImage(`${reg.host}/fixtures/static:nope`, { cacheDir }), (e: unknown) => {
      return e instanceof SmrError && e.code === 'MANIFEST_NOT_FOUND' && e.message.includes('fixtures/static:nope');
    });
    await assert.rejects(openImage(`${reg.host}/fixtures/absent`, { cacheDir }), { code: 'MANIFEST_NOT_FOUND' });
    const wrong = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(openImage(`${reg.host}/fixtures/static@${wrong}`, { cacheDir }), { code: 'MANIFEST_NOT_FOUND' });
  });
});
