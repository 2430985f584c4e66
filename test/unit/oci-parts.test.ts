// The small parts of the OCI input layer on their own: WWW-Authenticate
// parsing, credential lookup in docker/podman auth files, digests and the
// verifying stream, media types, and the archive tar walker against GNU
// tar's own gnu, pax and ustar output.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseWwwAuthenticate } from '../../src/oci/auth.js';
import { findCredentials, normalizeAuthKey } from '../../src/oci/docker-config.js';
import { FileByteSource, StreamByteSource, walkArchive, type ByteSource } from '../../src/oci/archive-tar.js';
import { layerCompression, manifestKind } from '../../src/oci/media-types.js';
import { parseDocument } from '../../src/oci/manifest.js';
import { digestOf, isHex64, parseDigest, verifyBytes } from '../../src/util/digest.js';
import { DigestVerifier } from '../../src/util/digest-verify.js';
import { SmrError } from '../../src/util/errors.js';
import { exec } from '../helpers/registry.js';
import { haveCommand } from '../helpers/run.js';

describe('WWW-Authenticate', () => {
  it('parses a Bearer challenge with quoted values', () => {
    const got = parseWwwAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    );
    assert.deepEqual(got, [
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
      },
    ]);
  });

  it('parses several challenges, tokens, escapes and commas inside quotes', () => {
    const got = parseWwwAuthenticate('Basic realm="Registry \\"x\\"", Bearer realm=http://t/token,scope="repository:a:pull,push" ,error=insufficient_scope');
    assert.deepEqual(got, [
      { scheme: 'basic', params: { realm: 'Registry "x"' } },
      { scheme: 'bearer', params: { realm: 'http://t/token', scope: 'repository:a:pull,push', error: 'insufficient_scope' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate(''), []);
  });
});

describe('registry credentials', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smr-creds-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('normalises auth keys', () => {
    assert.equal(normalizeAuthKey('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeAuthKey('registry-1.docker.io'), 'docker.io');
    assert.equal(normalizeAuthKey('http://127.0.0.1:5000/v2/'), '127.0.0.1:5000');
    assert.equal(normalizeAuthKey('quay.io/org/repo'), 'quay.io/org/repo');
  });

  it('finds the most specific entry, auth or username/password', async () => {
    const file = join(dir, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw:with:colons').toString('base64') },
          'quay.io': { username: 'q', password: 'general' },
          'quay.io/org/repo': { username: 'q', password: 'specific' },
        },
      }),
    );
    assert.deepEqual(findCredentials('docker.io', 'library/busybox', file).credentials, { username: 'hub', password: 'pw:with:colons', file });
    assert.equal(findCredentials('quay.io', 'org/repo', file).credentials?.password, 'specific');
    assert.equal(findCredentials('quay.io', 'org/other', file).credentials?.password, 'general');
    assert.equal(findCredentials('ghcr.io', 'x/y', file).credentials, undefined);
  });

  it('reports credential helpers it will not run, and broken files', async () => {
    const helper = join(dir, 'helper.json');
    await writeFile(helper, JSON.stringify({ auths: {}, credsStore: 'desktop' }));
    assert.equal(findCredentials('ghcr.io', 'x/y', helper).helper, 'desktop');
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"auths": ');
    assert.throws(() => findCredentials('ghcr.io', 'x', broken), { code: 'AUTH_FILE_ERROR' });
    assert.throws(() => findCredentials('ghcr.io', 'x', join(dir, 'absent.json')), { code: 'AUTH_FILE_ERROR' });
  });

  it('honours DOCKER_CONFIG when no file is given', async () => {
    const saved = process.env.DOCKER_CONFIG;
    const cfgDir = join(dir, 'docker');
    await mkdir(cfgDir);
    await writeFile(join(cfgDir, 'config.json'), JSON.stringify({ auths: { 'r.example': { username: 'u', password: 'p' } } }));
    process.env.DOCKER_CONFIG = cfgDir;
    try {
      assert.equal(findCredentials('r.example', 'a', undefined).credentials?.username, 'u');
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
  });
});

describe('digests and verification', () => {
  const data = Buffer.from('hello, layer');
  const digest = digestOf(data);

  it('parses and refuses digests', () => {
    assert.deepEqual(parseDigest(digest), { algorithm: 'sha256', hex: digest.slice(7) });
    assert.equal(parseDigest(digestOf(data, 'sha512')).algorithm, 'sha512');
    assert.throws(() => parseDigest('sha256:ABC'), { code: 'INVALID_DIGEST' });
    assert.throws(() => parseDigest('nodigest'), { code: 'INVALID_DIGEST' });
    assert.throws(() => parseDigest('blake3:00'), { code: 'UNSUPPORTED_DIGEST' });
    assert.throws(() => verifyBytes(Buffer.from('x'), digest, 'config'), { code: 'DIGEST_MISMATCH' });
  });

  it('isHex64: 64 lowercase hex digits and nothing else', () => {
    const hex = digest.slice(7);
    assert.equal(isHex64(hex), true);
    for (const bad of [hex.toUpperCase(), hex.slice(1), `${hex}0`, `${hex}\n`, digest, ` ${hex.slice(1)}`, undefined, 64]) assert.equal(isHex64(bad), false, String(bad));
  });

  async function through(input: Buffer[], size?: number): Promise<unknown> {
    const v = new DigestVerifier({ digest, label: 'layer 3 (test)', ...(size === undefined ? {} : { size }) });
    try {
      await pipeline(Readable.from(input), v, async (src: AsyncIterable<Buffer>) => {
        for await (const _ of src);
      });
      return undefined;
    } catch (err) {
      return err;
    }
  }

  it('passes matching bytes, fails wrong, short and long streams', async () => {
    assert.equal(await through([data.subarray(0, 5), data.subarray(5)], data.length), undefined);
    assert.equal(await through([data]), undefined);
    const wrong = Buffer.from(data);
    wrong[0] = 0;
    for (const [input, size, words] of [
      [[wrong], data.length, 'content has digest'],
      [[data.subarray(0, 4)], data.length, 'short read'],
      [[data, data], data.length, 'more than'],
    ] as Array<[Buffer[], number, string]>) {
      const err = await through(input, size);
      assert.ok(err instanceof SmrError && err.code === 'DIGEST_MISMATCH', String(err));
      assert.ok(err.message.includes('layer 3') && err.message.includes(words), err.message);
    }
  });
});

describe('media types and documents', () => {
  it('classifies layer media types', () => {
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar'), 'none');
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+gzip'), 'gzip');
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
    assert.equal(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
    assert.equal(layerCompression('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'), 'gzip');
    assert.equal(layerCompression('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'), 'gzip');
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+gzip+encrypted'), undefined);
    assert.equal(layerCompression('application/vnd.cncf.helm.chart.content.v1.tar+gzip'), undefined);
    assert.equal(manifestKind('application/vnd.docker.distribution.manifest.list.v2+json'), 'index');
  });

  it('reads documents by declared type or by shape, and refuses schema 1 and artifacts', () => {
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest: digestOf('c'), size: 1 }, layers: [] }));
    assert.equal(parseDocument(m, 'm').kind, 'manifest');
    assert.equal(parseDocument(Buffer.from('{"schemaVersion":2,"manifests":[]}'), 'i').kind, 'index');
    assert.throws(() => parseDocument(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'), 'old'), { code: 'UNSUPPORTED_MEDIA_TYPE' });
    assert.throws(
      () => parseDocument(Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}'), 'a'),
      { code: 'UNSUPPORTED_MEDIA_TYPE' },
    );
    assert.throws(() => parseDocument(Buffer.from('not json'), 'x'), { code: 'INVALID_JSON' });
    assert.throws(
      () => parseDocument(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'x', digest: 'sha256:1', size: 1 }] })), 'i'),
      { code: 'INVALID_DIGEST' },
    );
  });
});

describe('archive tar walker', { skip: haveCommand('tar') ? false : 'tar not installed' }, () => {
  let dir: string;
  // 156 bytes: a GNU L record, a PAX path, or a ustar prefix + name
  const longName = `${'d'.repeat(60)}/${'n'.repeat(90)}.json`;
  const content = Buffer.from('{"x":1}'.repeat(300));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smr-tar-'));
    await mkdir(join(dir, 'src', 'd'.repeat(60)), { recursive: true });
    await writeFile(join(dir, 'src', longName), content);
    await writeFile(join(dir, 'src', 'small'), 'abc');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function members(src: ByteSource, wantData: string) {
    const out: Array<{ name: string; type: string; size: number; sha?: string }> = [];
    for await (const m of walkArchive(src, 'test.tar')) {
      const entry: (typeof out)[number] = { name: m.name, type: m.type, size: m.size };
      if (m.name === wantData) {
        const h = createHash('sha256');
        for await (const c of src.chunks(m.size)) h.update(c);
        entry.sha = h.digest('hex');
      }
      out.push(entry);
    }
    return out;
  }

  for (const format of ['gnu', 'pax', 'ustar']) {
    it(`lists GNU tar's ${format} output, long names included, from a file and a stream`, async () => {
      const tarPath = join(dir, `${format}.tar`);
      const r = await exec('tar', [`--format=${format}`, '-cf', tarPath, '-C', join(dir, 'src'), '.']);
      assert.equal(r.code, 0, r.stderr);
      const handle = await open(tarPath, 'r');
      try {
        const fromFile = await members(new FileByteSource(handle), longName);
        const fromStream = await members(new StreamByteSource(createReadStream(tarPath, { highWaterMark: 1000 })), longName);
        assert.deepEqual(fromStream, fromFile);
        const byName = new Map(fromFile.map((m) => [m.name, m]));
        assert.equal(byName.get(longName)?.sha, createHash('sha256').update(content).digest('hex'));
        assert.equal(byName.get(longName)?.size, content.length);
        assert.equal(byName.get('small')?.size, 3);
        assert.equal(byName.get('d'.repeat(60))?.type, 'dir');
      } finally {
        await handle.close();
      }
    });
  }

  it('a truncated archive is an INVALID_ARCHIVE error', async () => {
    const tarPath = join(dir, 'gnu.tar');
    const whole = await readFile(tarPath);
    const cut = Readable.from([whole.subarray(0, 1000)]); // inside the second header
    await assert.rejects(members(new StreamByteSource(cut), longName), { code: 'INVALID_ARCHIVE' });
  });
});
