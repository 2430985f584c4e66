// Registry authentication against the real docker-registry: htpasswd
// (bcrypt) Basic auth, and distribution's token auth with a small token
// server written here (ES256 JWTs signed with a key whose self-signed cert
// the registry trusts as its rootcertbundle), so the whole
// WWW-Authenticate → token → request flow runs against the real thing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage } from '../../src/oci/index.js';
import { openStore } from '../../src/store/index.js';
import type { RegistryStore } from '../../src/store/registry/registry-store.js';
import { SmrError } from '../../src/util/errors.js';
import { fixtureLayout, fixturesJson, skipWithoutFixtures } from '../helpers/fixtures.js';
import {
  ensureCommand,
  freePort,
  pushLayout,
  removeRegistryData,
  skipWithoutRegistry,
  startRegistry,
  streamDigest,
  type RegistryHandle,
  exec,
} from '../helpers/registry.js';

const skip =
  skipWithoutFixtures() ||
  skipWithoutRegistry() ||
  (ensureCommand('htpasswd', 'apache2-utils') ? false : 'htpasswd is not installed (apt-get install apache2-utils)') ||
  (ensureCommand('openssl', 'openssl') ? false : 'openssl is not installed');

const USER = 'smr-user';
const PASSWORD = 'correct horse battery staple';
const STATIC_DIGEST = () => fixturesJson().images.find((i) => i.name === 'static')?.manifest?.digest as string;

function isCode(code: string, ...parts: string[]) {
  return (e: unknown) => e instanceof SmrError && e.code === code && parts.every((p) => e.message.includes(p));
}

async function writeDockerConfig(dir: string, entries: Record<string, unknown>): Promise<string> {
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ auths: entries }));
  return file;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

interface TokenServer {
  server: Server;
  port: number;
  requests: Array<{ scope: string[]; user?: string; service: string | null }>;
}

/** A token server as distribution's token.md describes: Basic creds in, signed JWT out. */
async function startTokenServer(keyPem: string, certPem: string, issuer: string): Promise<TokenServer> {
  const x5c = [new X509Certificate(certPem).raw.toString('base64')];
  const requests: TokenServer['requests'] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scope = url.searchParams.getAll('scope');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    let user: string | undefined;
    if (basic) {
      const [u, ...p] = Buffer.from(basic[1] as string, 'base64').toString().split(':');
      if (u !== USER || p.join(':') !== PASSWORD) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      user = u;
    }
    requests.push({ scope, service: url.searchParams.get('service'), ...(user ? { user } : {}) });
    // Anonymous callers get a valid token that grants nothing, like Docker Hub for private repos.
    const access = user
      ? scope.map((s) => {
          const [type, name, actions] = s.split(':');
          return { type, name, actions: (actions ?? '').split(',') };
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c }));
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: user ?? '',
        aud: url.searchParams.get('service'),
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        access,
      }),
    );
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key: keyPem, dsaEncoding: 'ieee-p1363' });
    const token = `${header}.${claims}.${b64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, port, requests };
}

describe('registry authentication (real docker-registry)', { skip }, () => {
  let work: string;
  let seeded: RegistryHandle; // stopped after pushing; its storage is served with auth on
  let cacheDir: string;
  const savedEnv = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR, REGISTRY_AUTH_FILE: process.env.REGISTRY_AUTH_FILE };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-auth-'));
    // Keep the machine's own credentials out of these tests.
    process.env.DOCKER_CONFIG = join(work, 'no-docker-config');
    process.env.XDG_RUNTIME_DIR = join(work, 'no-runtime-dir');
    delete process.env.REGISTRY_AUTH_FILE;
    seeded = await startRegistry();
    await pushLayout(seeded, fixtureLayout('static'), 'fixtures/static:latest');
    await seeded.stop();
  });
  after(async () => {
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (seeded) await removeRegistryData(seeded);
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('htpasswd (Basic)', () => {
    let reg: RegistryHandle;
    before(async () => {
      const htpasswd = join(work, 'htpasswd');
      const r = await exec('htpasswd', ['-Bbn', USER, PASSWORD]);
      assert.equal(r.code, 0, r.stderr);
      await writeFile(htpasswd, r.stdout);
      reg = await startRegistry({ dataDir: seeded.dataDir, auth: { htpasswd } });
      cacheDir = await mkdtemp(join(work, 'cache-'));
    });
    after(async () => {
      await reg?.stop();
    });

    it('without credentials: a one-line "authentication required" error', async () => {
      await assert.rejects(
        openImage(`${reg.host}/fixtures/static`, { cacheDir }),
        isCode('AUTH_REQUIRED', `authentication required for ${reg.host}/fixtures/static`),
      );
    });

    it('with a wrong password: "authentication failed" naming the user', async () => {
      const dir = await mkdtemp(join(work, 'wrong-'));
      const authFile = await writeDockerConfig(dir, { [reg.host]: { username: USER, password: 'nope' } });
      await assert.rejects(
        openImage(`${reg.host}/fixtures/static`, { cacheDir, authFile }),
        isCode('AUTH_FAILED', `authentication failed for ${reg.host}/fixtures/static`, USER),
      );
    });

    it('with credentials from $DOCKER_CONFIG/config.json (auth: base64 user:pass)', async () => {
      const dir = await mkdtemp(join(work, 'dockercfg-'));
      await writeDockerConfig(dir, {
        'other.example:5000': { auth: Buffer.from('x:y').toString('base64') },
        [`http://${reg.host}`]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') },
      });
      process.env.DOCKER_CONFIG = dir;
      try {
        const img = await openImage(`${reg.host}/fixtures/static:latest`, { cacheDir });
        assert.equal(img.manifestDigest, STATIC_DIGEST());
        assert.equal(await streamDigest(await img.openLayer(0)), img.layers[0]?.descriptor.digest);
        await img.close();
      } finally {
        process.env.DOCKER_CONFIG = join(work, 'no-docker-config');
      }
    });

    it('with credentials from an explicit auth file (username/password fields)', async () => {
      const dir = await mkdtemp(join(work, 'authfile-'));
      const authFile = await writeDockerConfig(dir, { [reg.host]: { username: USER, password: PASSWORD } });
      const fresh = await mkdtemp(join(work, 'cache-'));
      const img = await openImage(`docker://${reg.host}/fixtures/static@${STATIC_DIGEST()}`, { cacheDir: fresh, authFile });
      assert.equal(img.manifestDigest, STATIC_DIGEST());
      await img.close();
    });
  });

  describe('token auth (Bearer)', () => {
    let reg: RegistryHandle;
    let tokens: TokenServer;
    const service = 'smr-test-registry';
    const issuer = 'smr-test-issuer';

    before(async () => {
      const key = join(work, 'token-key.pem');
      const cert = join(work, 'token-cert.pem');
      const r = await exec('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=smr-test-token',
      ]);
      assert.equal(r.code, 0, r.stderr);
      tokens = await startTokenServer(await readFile(key, 'utf8'), await readFile(cert, 'utf8'), issuer);
      reg = await startRegistry({
        dataDir: seeded.dataDir,
        auth: { token: { realm: `http://127.0.0.1:${tokens.port}/token`, service, issuer, rootcertbundle: cert } },
      });
    });
    after(async () => {
      await reg?.stop();
      tokens?.server.close();
    });

    it('the registry really demands a token', async () => {
      const res = await fetch(`http://${reg.host}/v2/fixtures/static/manifests/latest`);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    });

    it('anonymous: the token grants nothing, so "authentication required"', async () => {
      const fresh = await mkdtemp(join(work, 'cache-'));
      await assert.rejects(
        openImage(`${reg.host}/fixtures/static`, { cacheDir: fresh }),
        isCode('AUTH_REQUIRED', `${reg.host}/fixtures/static`),
      );
    });

    it('wrong password: the token server refuses, "authentication failed"', async () => {
      const dir = await mkdtemp(join(work, 'tok-wrong-'));
      const authFile = await writeDockerConfig(dir, { [reg.host]: { username: USER, password: 'wrong' } });
      await assert.rejects(openImage(`${reg.host}/fixtures/static`, { cacheDir, authFile }), isCode('AUTH_FAILED', USER));
    });

    it('with credentials: token fetched once for the pull scope, image pulled', async () => {
      const dir = await mkdtemp(join(work, 'tok-ok-'));
      const authFile = await writeDockerConfig(dir, { [reg.host]: { username: USER, password: PASSWORD } });
      const fresh = await mkdtemp(join(work, 'cache-'));
      const before = tokens.requests.length;
      const img = await openImage(`${reg.host}/fixtures/static:latest`, { cacheDir: fresh, authFile });
      assert.equal(img.manifestDigest, STATIC_DIGEST());
      assert.equal(await streamDigest(await img.openLayer(0)), img.layers[0]?.descriptor.digest);
      await img.close();
      const mine = tokens.requests.slice(before);
      assert.deepEqual(mine, [{ scope: ['repository:fixtures/static:pull'], service, user: USER }]);
    });

    it('a registry store asks for pull,push to write, and for the source\'s pull too to mount a blob from it', async () => {
      const dir = await mkdtemp(join(work, 'tok-store-'));
      const authFile = await writeDockerConfig(dir, { [reg.host]: { username: USER, password: PASSWORD } });
      const store = (await openStore(`docker://${reg.host}/fixtures/chunks`, { registryAuthFile: authFile })) as RegistryStore;
      try {
        const before = tokens.requests.length;
        // A chunk new to the registry: uploaded.
        const fresh = randomBytes(4096);
        const freshName = createHash('sha256').update(fresh).digest('hex');
        assert.equal(await store.put(freshName, fresh), true);
        assert.deepEqual(await store.get(freshName), fresh);
        // The static image's config is a blob of fixtures/static: mounted, not uploaded.
        store.addMountSource('fixtures/static');
        const blob = (digest: string) => join(fixtureLayout('static'), 'blobs', 'sha256', digest.replace('sha256:', ''));
        const manifest = JSON.parse(await readFile(blob(STATIC_DIGEST()), 'utf8')) as { config: { digest: string } };
        const hex = manifest.config.digest.replace('sha256:', '');
        const config = await readFile(blob(hex));
        assert.equal(await store.put(hex, config), true);
        assert.equal(store.mounted, 1);
        const scopes = tokens.requests.slice(before).map((r) => r.scope.join(' '));
        assert.ok(scopes.includes('repository:fixtures/chunks:pull,push'), scopes.join('; '));
        assert.ok(scopes.includes('repository:fixtures/chunks:pull,push repository:fixtures/static:pull'), scopes.join('; '));
      } finally {
        await store.close();
      }
    });
  });
});
