// Registry credentials from the files docker, podman and skopeo write:
// ~/.docker/config.json (or $DOCKER_CONFIG/config.json, or an explicit
// --authfile), then podman's auth.json. Only inline credentials are read;
// credential helpers (credsStore/credHelpers) would mean running programs.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SmrError } from '../util/errors.js';

export interface Credentials {
  username: string;
  password: string;
  /** The file they came from, for messages. */
  file: string;
}

export interface CredentialLookup {
  credentials?: Credentials;
  /** Files looked at, in order (for "no credentials" messages). */
  searched: string[];
  /** A credential helper the file names for this registry, which we do not run. */
  helper?: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

function defaultAuthFiles(): string[] {
  const files = [join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json')];
  if (process.env.REGISTRY_AUTH_FILE) files.push(process.env.REGISTRY_AUTH_FILE);
  if (process.env.XDG_RUNTIME_DIR) files.push(join(process.env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(join(homedir(), '.config', 'containers', 'auth.json'));
  return files;
}

/** "https://index.docker.io/v1/" → "docker.io"; "http://host:5000/v2/" → "host:5000". */
export function normalizeAuthKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '');
  if (/^[^/]+\/v[12]\/?$/.test(k)) k = k.replace(/\/v[12]\/?$/, '');
  k = k.replace(/\/+$/, '');
  const slash = k.indexOf('/');
  const host = slash < 0 ? k : k.slice(0, slash);
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') k = `docker.io${slash < 0 ? '' : k.slice(slash)}`;
  return k;
}

function readAuthFile(path: string, explicit: boolean): AuthFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SmrError('AUTH_FILE_ERROR', `cannot read registry auth file ${path}: ${(err as Error).message}`);
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc as AuthFile;
  } catch (err) {
    throw new SmrError('AUTH_FILE_ERROR', `registry auth file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function decodeEntry(
  entry: NonNullable<AuthFile['auths']>[string],
  file: string,
  key: string,
): Credentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon < 0) throw new SmrError('AUTH_FILE_ERROR', `auth entry "${key}" in ${file} is not base64 of user:password`);
    return { username: plain.slice(0, colon), password: plain.slice(colon + 1), file };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') {
    return { username: entry.username, password: entry.password, file };
  }
  return undefined;
}

/**
 * Credentials for `domain/repository`: the most specific key wins
 * ("host/ns/repo", then "host/ns", then "host"), as podman does.
 */
export function findCredentials(domain: string, repository: string, authFile?: string): CredentialLookup {
  const files = authFile ? [authFile] : defaultAuthFiles();
  const wanted: string[] = [];
  const parts = repository.split('/');
  for (let n = parts.length; n > 0; n--) wanted.push(`${domain}/${parts.slice(0, n).join('/')}`);
  wanted.push(domain);
  const lookup: CredentialLookup = { searched: [] };
  for (const file of files) {
    const doc = readAuthFile(file, authFile !== undefined);
    if (!doc) continue;
    lookup.searched.push(file);
    const byKey = new Map<string, [string, NonNullable<AuthFile['auths']>[string]]>();
    for (const [key, entry] of Object.entries(doc.auths ?? {})) {
      if (entry && typeof entry === 'object') byKey.set(normalizeAuthKey(key), [key, entry]);
    }
    for (const want of wanted) {
      const hit = byKey.get(want);
      const creds = hit && decodeEntry(hit[1], file, hit[0]);
      if (creds) return { ...lookup, credentials: creds };
    }
    const helper = doc.credHelpers?.[domain] ?? doc.credsStore;
    if (helper && !lookup.helper) lookup.helper = helper;
  }
  return lookup;
}
