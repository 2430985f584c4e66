// The registry as a store, against Debian's docker-registry (with and
// without basic auth): the store contract, then the CLI as users run it:
// an image pushed with skopeo is converted into its own repository (chunks
// as blobs, the recipe as an artifact whose subject is the image), served
// with nothing but `docker://REG/REPO:TAG` and compared with `smr build`'s
// raw image by qemu-img; verify --image; a copy to another repository by
// cross-repository mounts. Bad input: a manifest that claims to be a recipe
// and is not, a repository that does not exist, refused credentials.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../src/store/index.js';
import { RECIPE_MEDIA_TYPE, type Recipe } from '../../src/chunk/types.js';
import { pushRecipeToStore } from '../../src/store/recipe-io.js';
import { MAX_MANIFEST_BYTES, RECIPE_ARTIFACT_TYPE } from '../../src/store/registry/recipe-artifact.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { ensurePeers, nbdUri, peer } from '../helpers/nbd-peers.js';
import { ensureCommand, exec, pushLayout, removeRegistryData, skipWithoutRegistry, startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { smr } from '../helpers/run.js';
import { startServe } from '../helpers/smr-serve.js';
import { storeContract } from '../helpers/store-contract.js';
import { sha256 } from '../helpers/store-chunks.js';

const skip =
  skipWithoutRegistry() ||
  (ensureCommand('htpasswd', 'apache2-utils') ? false : 'htpasswd is not installed (apt-get install apache2-utils)');
const cliSkip = skip || skipWithoutFixtures() || ensurePeers(['qemu-img']);
const IMAGE = 'python3';
const USER = 'smr-user';
const PASSWORD = 'correct horse battery staple';

// Fast retries: the contract's failures are deterministic.
const quick = { retry: { attempts: 2, backoffMs: 10 } };

/** Where docker-registry's filesystem driver keeps a blob's bytes. */
const blobFile = (reg: RegistryHandle, hex: string) => join(reg.dataDir, 'data/docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');

function assertOneLineFailure(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, pattern);
}

async function writeDockerConfig(dir: string, host: string, password: string): Promise<string> {
  const file = join(dir, `config-${randomUUID()}.json`);
  await writeFile(file, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${USER}:${password}`).toString('base64') } } }));
  return file;
}

describe('registry store', { skip }, () => {
  let plain: RegistryHandle;
  let secured: RegistryHandle;
  let work: string;
  let goodAuth: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-registry-store-'));
    plain = await startRegistry();
    const htpasswd = join(work, 'htpasswd');
    const h = await exec('htpasswd', ['-Bbn', USER, PASSWORD]);
    assert.equal(h.code, 0, h.stderr);
    await writeFile(htpasswd, h.stdout);
    secured = await startRegistry({ auth: { htpasswd } });
    goodAuth = await writeDockerConfig(work, secured.host, PASSWORD);
  });
  after(async () => {
    for (const reg of [plain, secured]) {
      await reg?.stop();
      if (reg) await removeRegistryData(reg);
    }
    await rm(work, { recursive: true, force: true });
  });

  storeContract('registry (docker-registry)', async () => {
    const store = await openStore(`docker://${plain.host}/contract/${randomUUID()}`, quick);
    return {
      store,
      // Behind the registry's back: other bytes in the blob's file.
      damage: async (name, bytes) => {
        await mkdir(dirname(blobFile(plain, name)), { recursive: true });
        await writeFile(blobFile(plain, name), bytes);
      },
    };
  });

  storeContract('registry with basic auth (docker-registry)', async () => {
    const store = await openStore(`docker://${secured.host}/contract/${randomUUID()}`, { ...quick, registryAuthFile: goodAuth });
    return { store };
  });

  it('a recipe whose artifact manifest would pass the 4 MiB limit is refused with one line, before the manifest is sent', async () => {
    const count = Math.ceil(MAX_MANIFEST_BYTES / 150) + 1000;
    const recipe: Recipe = {
      mediaType: RECIPE_MEDIA_TYPE,
      version: 1,
      source: {},
      imageSize: count * 512 * 1024,
      chunkSize: 512 * 1024,
      encoding: { compression: 'zstd', encryption: 'none' },
      chunks: Array.from({ length: count }, (_, index) => ({ index, digest: sha256(Buffer.from(String(index))), storedLength: 1000 })),
    };
    const store = await openStore(`docker://${plain.host}/too/large`, quick);
    try {
      await assert.rejects(pushRecipeToStore(store, recipe, {}), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'RECIPE_TOO_LARGE');
        assert.match(e.message, /past registries' 4 MiB limit .*--chunk-size/);
        return true;
      });
    } finally {
      await store.close?.();
    }
    // Nothing was pushed: the repository does not exist.
    assert.equal((await fetch(`http://${plain.host}/v2/too/large/tags/list`)).status, 404);
  });

  describe('with the CLI', { skip: cliSkip }, () => {
    let raw: string;
    before(async () => {
      raw = join(work, `${IMAGE}.img`);
      const r = await smr(['build', `oci:${fixtureLayout(IMAGE)}`, '-o', raw, '-q']);
      assert.equal(r.code, 0, r.stderr);
      await pushLayout(plain, fixtureLayout(IMAGE), `fx/${IMAGE}:v1`);
    });
    const image = () => `docker://${plain.host}/fx/${IMAGE}:v1`;
    const repo = () => `docker://${plain.host}/fx/${IMAGE}`;

    it('convert into the image\'s repository pushes chunks and the recipe artifact; a second run uploads nothing', async () => {
      const first = await smr(['convert', image(), '--store', repo()]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, new RegExp(`^${repo()}@sha256:[0-9a-f]{64}: .* \\d+ new chunks`));
      const again = await smr(['convert', image(), '--store', repo()]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /; 0 new chunks/);
      // The registry has no referrers API: the spec's tag fallback lists the artifact.
      const tags = JSON.parse(await (await fetch(`http://${plain.host}/v2/fx/${IMAGE}/tags/list`)).text()) as { tags: string[] };
      const fallback = tags.tags.find((t) => /^sha256-[0-9a-f]{64}$/.test(t));
      assert.ok(fallback, JSON.stringify(tags));
      const index = (await (await fetch(`http://${plain.host}/v2/fx/${IMAGE}/manifests/${fallback}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } })).json()) as {
        manifests: Array<{ artifactType?: string; digest: string }>;
      };
      assert.equal(index.manifests.length, 1);
      assert.equal(index.manifests[0]!.artifactType, RECIPE_ARTIFACT_TYPE);
      const artifact = (await (await fetch(`http://${plain.host}/v2/fx/${IMAGE}/manifests/${index.manifests[0]!.digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as {
        subject: { digest: string };
        layers: Array<{ mediaType: string }>;
      };
      assert.equal(`sha256-${artifact.subject.digest.slice(7)}`, fallback);
      assert.ok(artifact.layers.length > 1 && artifact.layers.slice(1).every((l) => l.mediaType === 'application/vnd.stream-my-root.chunk.v1'));
    });

    it('serve docker://REG/REPO:TAG with no --store: qemu-img compare equals the raw image; verify --image too', async () => {
      const served = await startServe([image()]);
      try {
        const cmp = await peer('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', raw, nbdUri(served.port, IMAGE)]);
        assert.match(cmp, /Images are identical/);
      } finally {
        assert.equal(await served.stop(), 0, served.stderr());
      }
      const v = await smr(['verify', image(), '--image', raw, '-q']);
      assert.equal(v.code, 0, v.stderr + v.stdout);
      const i = await smr(['inspect', image()]);
      assert.equal(i.code, 0, i.stderr);
      // The recipe names the image's exact size: that of the image smr build wrote.
      assert.match(i.stdout, new RegExp(`^image size: +${(await stat(raw)).size} bytes`, 'm'));
    });

    it('copy to another repository of the registry mounts every chunk and pushes the recipe', async () => {
      await pushLayout(plain, fixtureLayout(IMAGE), `fx/copied:v1`);
      const c = await smr(['copy', image(), '--from', repo(), '--to', `docker://${plain.host}/fx/copied`]);
      assert.equal(c.code, 0, c.stderr);
      const m = /copied (\d+) chunks .*\((\d+) by cross-repository mount\)/.exec(c.stdout);
      assert.ok(m && m[1] === m[2], c.stdout);
      const v = await smr(['verify', `docker://${plain.host}/fx/copied:v1`, '--image', raw, '-q']);
      assert.equal(v.code, 0, v.stderr + v.stdout);
    });

    it('publish: a dir-store conversion copied with --level 19 into a repository pushes a smaller recipe that serves the exact image', async () => {
      await pushLayout(plain, fixtureLayout(IMAGE), `fx/published:v1`);
      const local = join(work, 'publish-local');
      const fast = join(work, 'publish-fast.json');
      const conv = await smr(['convert', `oci:${fixtureLayout(IMAGE)}`, '--store', local, '-o', fast, '-q']);
      assert.equal(conv.code, 0, conv.stderr);
      // No -o: the registry takes the new recipe, as the subject of the image it describes.
      const c = await smr(['copy', fast, '--from', local, '--to', `docker://${plain.host}/fx/published`, '--level', '19']);
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stdout, /^recipe pushed as /m);
      assert.match(c.stdout, /re-encoded \d+ chunks at zstd 19:/);
      const published = `docker://${plain.host}/fx/published:v1`;
      const v = await smr(['verify', published, '--image', raw, '-q']);
      assert.equal(v.code, 0, v.stderr + v.stdout);
      const before = await smr(['inspect', fast]);
      const after = await smr(['inspect', published]);
      const bytes = (out: string) => {
        const m = /^stored: +([\d.]+) (B|KiB|MiB|GiB)/m.exec(out);
        assert.ok(m, out);
        return Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB'].indexOf(m[2]!);
      };
      assert.ok(bytes(after.stdout) < bytes(before.stdout), `published ${bytes(after.stdout)} B, converted ${bytes(before.stdout)} B`);
    });

    it('503s and resets from the registry are retried: a convert and a cat through a faulty proxy give the exact image', async () => {
      const proxy = await startFaultProxy(`http://${plain.host}`);
      try {
        // The first try of every request that reads or writes a blob or a manifest fails (503 or a reset, in turn).
        const seen = new Set<string>();
        let turn = 0;
        proxy.setPlan((_n, req) => {
          const what = `${req.method} ${req.url}`;
          if (!/\/(blobs|manifests)\//.test(req.url ?? '') || seen.has(what)) return 'pass';
          seen.add(what);
          return turn++ % 2 ? 'reset' : 'slowdown';
        });
        const host = new URL(proxy.url).host;
        await pushLayout(plain, fixtureLayout(IMAGE), 'fx/faulty:v1');
        const conv = await smr(['convert', `docker://${host}/fx/faulty:v1`, '--store', `docker://${host}/fx/faulty`, '-q']);
        assert.equal(conv.code, 0, conv.stderr);
        const out = join(work, 'faulty.img');
        const c = await smr(['cat', `docker://${host}/fx/faulty:v1`, '-o', out, '-q']);
        assert.equal(c.code, 0, c.stderr);
        assert.ok((await readFile(out)).equals(await readFile(raw)));
        assert.ok(proxy.counts.faulted > 50, `only ${proxy.counts.faulted} faults injected`);
        await rm(out);
      } finally {
        await proxy.close();
      }
    });

    it('with basic auth: convert and verify with the credentials; refused credentials are one line', async () => {
      await pushLayout(plain, fixtureLayout('static'), 'fx/static:v1');
      // skopeo pushes to the open registry; the secured one gets it by a copy with credentials.
      const cp = await exec('skopeo', [
        'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`,
        `docker://${plain.host}/fx/static:v1`, `docker://${secured.host}/fx/static:v1`,
      ]);
      assert.equal(cp.code, 0, cp.stderr);
      const img = `docker://${secured.host}/fx/static:v1`;
      const conv = await smr(['convert', img, '--store', `docker://${secured.host}/fx/static`, '--auth-file', goodAuth, '-q']);
      assert.equal(conv.code, 0, conv.stderr);
      const out = join(work, 'static.img');
      const c = await smr(['cat', img, '--auth-file', goodAuth, '-o', out, '-q']);
      assert.equal(c.code, 0, c.stderr);
      const built = join(work, 'static-built.img');
      assert.equal((await smr(['build', `oci:${fixtureLayout('static')}`, '-o', built, '-q'])).code, 0);
      const v = await smr(['verify', img, '--auth-file', goodAuth, '--image', built, '-q']);
      assert.equal(v.code, 0, v.stderr + v.stdout);
      const bad = await writeDockerConfig(work, secured.host, 'wrong');
      assertOneLineFailure(await smr(['verify', img, '--auth-file', bad]), /credentials rejected|authentication failed/i);
      assertOneLineFailure(await smr(['convert', img, '--store', `docker://${secured.host}/fx/static`, '--auth-file', bad, '-q']), /credentials rejected|authentication failed/i);
      assertOneLineFailure(await smr(['verify', img]), /authentication required/i);
    });

    it('bad input: a fake recipe artifact, a missing repository, an image with no recipe, a store URI with a tag', async () => {
      // An artifact that claims to be a recipe, whose "recipe" is other JSON.
      const client = `http://${plain.host}/v2/fx/fake`;
      const upload = async (bytes: Buffer) => {
        const digest = `sha256:${sha256(bytes)}`;
        const post = await fetch(`${client}/blobs/uploads/`, { method: 'POST' });
        const loc = new URL(post.headers.get('location')!, client);
        loc.searchParams.set('digest', digest);
        const put = await fetch(loc, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
        assert.equal(put.status, 201);
        return { digest, size: bytes.length };
      };
      const notRecipe = await upload(Buffer.from('{"hello":"world"}'));
      const empty = await upload(Buffer.from('{}'));
      const manifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: RECIPE_ARTIFACT_TYPE,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
        layers: [{ mediaType: 'application/vnd.stream-my-root.recipe.v1+json', ...notRecipe }],
      };
      const put = await fetch(`${client}/manifests/fake`, { method: 'PUT', body: JSON.stringify(manifest), headers: { 'content-type': manifest.mediaType } });
      assert.equal(put.status, 201, await put.text());
      assertOneLineFailure(await smr(['verify', `docker://${plain.host}/fx/fake:fake`]), /not a valid recipe/);
      assertOneLineFailure(await smr(['serve', `docker://${plain.host}/fx/fake:fake`, '--listen', '127.0.0.1:0']), /recipe/i);
      assertOneLineFailure(await smr(['verify', `docker://${plain.host}/no/such-repository:v1`]), /not found/i);
      await pushLayout(plain, fixtureLayout('static'), 'fx/bare:v1');
      assertOneLineFailure(await smr(['inspect', `docker://${plain.host}/fx/bare:v1`]), /has no recipe in the registry; push one with: smr convert/);
      assertOneLineFailure(await smr(['cat', image(), '--store', `${repo()}:v1`, '-o', join(work, 'x.img')]), /a registry store is a repository/);
      assertOneLineFailure(await smr(['convert', image(), '--store', repo(), '-o', `${image()}`]), /-o takes a path or s3/);
    });
  });
});
