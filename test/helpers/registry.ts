// A real registry (Debian's docker-registry, CNCF distribution v2) for one
// test file: started on a free port with a config we write (so auth can be
// switched on), stopped by its pid afterwards. Images are pushed with
// skopeo, which needs an unauthenticated registry: to test auth, push
// first, then restart on the same storage with auth on.
import { createHash } from 'node:crypto';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePackages } from './services/apt.js';

export type RegistryAuthConfig =
  | { htpasswd: string }
  | { token: { realm: string; service: string; issuer: string; rootcertbundle: string } };

export interface RegistryHandle {
  port: number;
  /** "127.0.0.1:PORT" */
  host: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Runs a program to completion with no standard input (helpers/run.ts's
 * run() writes to stdin, which can fail with EPIPE when the program exits
 * without reading it).
 */
export function exec(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === 1 ? err.message : '') });
    });
    child.stdin?.end();
  });
}

/** Installs a Debian package when its command is missing (CI machines are fresh). */
export function ensureCommand(cmd: string, pkg: string): boolean {
  return ensurePackages({ [cmd]: pkg }) === null;
}

/** Skip reason for tests needing the registry and skopeo, or false. */
export function skipWithoutRegistry(): string | false {
  if (!ensureCommand('docker-registry', 'docker-registry')) return 'docker-registry is not installed (apt-get install docker-registry)';
  if (!ensureCommand('skopeo', 'skopeo')) return 'skopeo is not installed (apt-get install skopeo)';
  return false;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface TlsFiles {
  certificate: string;
  key: string;
}

function configYaml(dataDir: string, port: number, auth?: RegistryAuthConfig, tls?: TlsFiles): string {
  let authYaml = '';
  if (auth && 'htpasswd' in auth) {
    authYaml = `auth:\n  htpasswd:\n    realm: smr-test\n    path: ${auth.htpasswd}\n`;
  } else if (auth) {
    const t = auth.token;
    authYaml = `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.rootcertbundle}\n`;
  }
  return `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${dataDir}/data
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
${tls ? `  tls:\n    certificate: ${tls.certificate}\n    key: ${tls.key}\n` : ''}${authYaml}`;
}

/** GET /v2/ answers 200 or 401 (over TLS without checking the certificate when `tls`). */
function answers(port: number, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const req = (tls ? httpsGet : httpGet)(
      { host: '127.0.0.1', port, path: '/v2/', rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200 || res.statusCode === 401);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

async function waitUp(port: number, child: ChildProcess, log: string, tls: boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${await readFile(log, 'utf8').catch(() => '')}`);
    const up = await answers(port, tls);
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer on 127.0.0.1:${port} within 20 s`);
}

/** Starts docker-registry; pass `dataDir` of a stopped one to serve the same content. */
export async function startRegistry(opts: { dataDir?: string; auth?: RegistryAuthConfig; tls?: TlsFiles } = {}): Promise<RegistryHandle> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'smr-registry-')));
  const port = await freePort();
  const config = join(dataDir, `config-${port}.yml`);
  await writeFile(config, configYaml(dataDir, port, opts.auth, opts.tls));
  const log = join(dataDir, `registry-${port}.log`);
  const fd = openSync(log, 'a');
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitUp(port, child, log, opts.tls !== undefined);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    port,
    host: `127.0.0.1:${port}`,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/**
 * skopeo copy --all of an OCI layout (tag latest) into the (unauthenticated)
 * registry, keeping the manifest and index digests; returns the digest the
 * registry stored for the tag.
 */
export async function pushLayout(reg: RegistryHandle, layout: string, nameTag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'smr-push-'));
  try {
    const digestFile = join(dir, 'digest');
    const r = await exec('skopeo', [
      'copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false', '--digestfile', digestFile,
      `oci:${layout}:latest`, `docker://${reg.host}/${nameTag}`,
    ]);
    if (r.code !== 0) throw new Error(`push of ${layout} failed: ${r.stderr.trim()}`);
    const digest = (await readFile(digestFile, 'utf8')).trim();
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`skopeo wrote no digest for ${layout}: '${digest}'`);
    return digest;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function removeRegistryData(reg: RegistryHandle): Promise<void> {
  await rm(reg.dataDir, { recursive: true, force: true });
}

/** sha256 of everything a stream gives (shared by the oci-* tests). */
export async function streamDigest(stream: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk);
  return `sha256:${h.digest('hex')}`;
}
