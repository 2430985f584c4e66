// Image references in the forms skopeo and crane users type:
//   oci:DIR[:TAG] | oci:DIR@DIGEST            an OCI image layout
//   docker-archive:FILE[:NAME:TAG | :@N]      a `docker save` tarball
//   docker://HOST[:PORT]/REPO[:TAG|@DIGEST]   a registry (scheme optional)
// Parsing is pure (no file system, no network) so it can be tested alone.
import { SmrError } from '../util/errors.js';
import { parseDigest } from '../util/digest.js';

export interface OciLayoutReference {
  transport: 'oci';
  path: string;
  tag?: string;
  digest?: string;
}

export interface DockerArchiveReference {
  transport: 'docker-archive';
  path: string;
  /** A RepoTag to pick, as written (matched after normalisation). */
  name?: string;
  /** `@N`: the N-th image of the archive's manifest.json. */
  index?: number;
}

export interface RegistryReference {
  transport: 'docker';
  /** Registry as the user names it ("docker.io", "127.0.0.1:5000"). */
  domain: string;
  /** Host[:port] the API is served from (registry-1.docker.io for Docker Hub). */
  apiHost: string;
  /** Repository path, e.g. "library/busybox". */
  repository: string;
  tag?: string;
  digest?: string;
}

export type ParsedReference = OciLayoutReference | DockerArchiveReference | RegistryReference;

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

// Transports skopeo knows that we do not read; named so the error says so.
const OTHER_TRANSPORTS = ['dir', 'oci-archive', 'containers-storage', 'docker-daemon', 'ostree', 'sif', 'tarball'];

const TAG_RE = /^[\w][\w.-]{0,127}$/;
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_RE = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::\d{1,5})?$/;

function badReference(ref: string, why: string): SmrError {
  return new SmrError('INVALID_REFERENCE', `invalid image reference "${ref}": ${why}`);
}

export function parseImageReference(ref: string): ParsedReference {
  if (typeof ref !== 'string' || ref.trim() === '') throw badReference(String(ref), 'empty');
  if (ref.startsWith('oci:')) return parseOciLayout(ref, ref.slice(4));
  if (ref.startsWith('docker-archive:')) return parseDockerArchive(ref, ref.slice('docker-archive:'.length));
  if (ref.startsWith('docker://')) return parseRegistry(ref, ref.slice('docker://'.length));
  const scheme = /^([a-z][a-z0-9+.-]*):(\/\/)?/.exec(ref);
  if (scheme && (scheme[2] || OTHER_TRANSPORTS.includes(scheme[1] as string))) {
    throw new SmrError(
      'UNSUPPORTED_SOURCE',
      `unsupported image source "${scheme[1]}:" in "${ref}" (use oci:DIR[:TAG], docker-archive:FILE[:REF] or docker://REGISTRY/REPO[:TAG])`,
    );
  }
  return parseRegistry(ref, ref);
}

function parseOciLayout(ref: string, body: string): OciLayoutReference {
  const at = /@([a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-zA-Z]+)$/.exec(body);
  if (at) {
    const path = body.slice(0, at.index);
    if (path === '') throw badReference(ref, 'no directory before @');
    parseDigest(at[1] as string, `digest in "${ref}"`);
    return { transport: 'oci', path, digest: at[1] as string };
  }
  // Like skopeo: the directory ends at the first colon.
  const colon = body.indexOf(':');
  const path = colon < 0 ? body : body.slice(0, colon);
  const tag = colon < 0 ? '' : body.slice(colon + 1);
  if (path === '') throw badReference(ref, 'no directory after oci:');
  if (tag !== '' && !/^[A-Za-z0-9._:/@+-]+$/.test(tag)) throw badReference(ref, `bad tag "${tag}"`);
  return tag === '' ? { transport: 'oci', path } : { transport: 'oci', path, tag };
}

function parseDockerArchive(ref: string, body: string): DockerArchiveReference {
  const colon = body.indexOf(':');
  const path = colon < 0 ? body : body.slice(0, colon);
  const rest = colon < 0 ? '' : body.slice(colon + 1);
  if (path === '') throw badReference(ref, 'no file after docker-archive:');
  if (rest === '') return { transport: 'docker-archive', path };
  if (rest.startsWith('@')) {
    if (!/^@\d+$/.test(rest)) throw badReference(ref, `"${rest}" is not @N (an image index)`);
    return { transport: 'docker-archive', path, index: Number(rest.slice(1)) };
  }
  // Must be a NAME:TAG as in RepoTags; parse it to reject typos early.
  const named = parseRegistry(ref, rest);
  if (named.digest) throw badReference(ref, 'an archive image is picked by NAME:TAG or @N, not by digest');
  return { transport: 'docker-archive', path, name: rest };
}

function parseRegistry(ref: string, body: string): RegistryReference {
  let rest = body;
  let digest: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    parseDigest(digest, `digest in "${ref}"`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && !rest.slice(colon + 1).includes('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw badReference(ref, `bad tag "${tag}"`);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  // Docker's rule: the first component is a registry when it looks like a host.
  const hasDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  let domain = hasDomain ? first : DOCKER_HUB;
  let repository = hasDomain ? rest.slice(slash + 1) : rest;
  if (!DOMAIN_RE.test(domain)) throw badReference(ref, `bad registry host "${domain}"`);
  if (domain === 'index.docker.io' || domain === DOCKER_HUB_API) domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (repository === '' || !repository.split('/').every((c) => PATH_COMPONENT_RE.test(c))) {
    const hint = rest.startsWith('/') || rest.startsWith('.') ? ' (for an OCI layout directory write oci:DIR)' : '';
    throw badReference(ref, `bad repository name "${repository}"${hint}`);
  }
  if (repository.length > 255) throw badReference(ref, 'repository name longer than 255 characters');
  const apiHost = domain === DOCKER_HUB ? DOCKER_HUB_API : domain;
  const parsed: RegistryReference = { transport: 'docker', domain, apiHost, repository };
  if (tag !== undefined) parsed.tag = tag;
  if (digest !== undefined) parsed.digest = digest;
  if (tag === undefined && digest === undefined) parsed.tag = 'latest';
  return parsed;
}

/** "docker.io/library/busybox" — the canonical name docker prints. */
export function canonicalName(r: RegistryReference): string {
  return `${r.domain}/${r.repository}`;
}

/**
 * Canonical "domain/repo:tag" of a NAME[:TAG] as docker writes it in
 * RepoTags, for comparing user input with archive entries; undefined if it
 * does not parse.
 */
export function normalizeNamedTag(name: string): string | undefined {
  try {
    const r = parseRegistry(name, name);
    return `${canonicalName(r)}:${r.tag ?? 'latest'}`;
  } catch {
    return undefined;
  }
}
