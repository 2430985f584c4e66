// What `docker run` makes of an image's config and its own flags: the
// command (Entrypoint + Cmd, either replaced), the environment (the image's
// Env, then -e), the working directory, the user and the hostname. The
// result is the guest request of src/vm.
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { ImageConfig } from '../oci/types.js';
import { SmrError } from '../util/errors.js';
import type { GuestRequest } from '../vm/index.js';

/** The parts of an image config's "config" object a container uses. */
export interface ContainerDefaults {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
}

function strings(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new SmrError('INVALID_CONFIG', `the image config's ${what} is not a list of strings`);
  return v as string[];
}

function optionalString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new SmrError('INVALID_CONFIG', `the image config's ${what} is not a string`);
  return v;
}

/** Reads Entrypoint, Cmd, Env, WorkingDir, User (and docker's Hostname) from an image config. */
export function containerDefaults(config: ImageConfig | undefined): ContainerDefaults {
  const c = (config?.config ?? {}) as Record<string, unknown>;
  return {
    entrypoint: strings(c.Entrypoint, 'Entrypoint'),
    cmd: strings(c.Cmd, 'Cmd'),
    env: strings(c.Env, 'Env'),
    workingDir: optionalString(c.WorkingDir, 'WorkingDir'),
    user: optionalString(c.User, 'User'),
    hostname: optionalString(c.Hostname, 'Hostname'),
  };
}

/** The flags of `docker run` that change the container's process. */
export interface RunOverrides {
  /** Words after the image (after `--`): they replace Cmd. */
  command: string[];
  /** --entrypoint: replaces Entrypoint, and clears the image's Cmd (as docker does). "" clears it. */
  entrypoint?: string;
  /** -e K=V (or -e K: the host's value, left out when the host has none). */
  env: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
}

/** The key of a "K=V" entry. */
const keyOf = (entry: string) => entry.slice(0, entry.indexOf('=') < 0 ? entry.length : entry.indexOf('='));

/** The image's Env then -e, a later entry replacing an earlier one of the same name, in first-seen order. */
export function mergeEnv(image: string[], given: string[], hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  const out = new Map<string, string>();
  for (const e of image) if (e.includes('=')) out.set(keyOf(e), e);
  for (const e of given) {
    const key = keyOf(e);
    if (key === '') throw new SmrError('USAGE', `-e '${e}': expected K=V or K`);
    if (e.includes('=')) out.set(key, e);
    else if (hostEnv[key] !== undefined) out.set(key, `${key}=${hostEnv[key]}`);
  }
  return [...out.values()];
}

/** A container id's worth of hex: docker's default hostname. */
function randomHostname(): string {
  return randomBytes(6).toString('hex');
}

/**
 * The guest request for a container of an image: the argv is Entrypoint +
 * Cmd with the overrides applied; an empty one is a user error.
 */
export function containerRequest(image: ContainerDefaults, o: RunOverrides): Pick<GuestRequest, 'argv' | 'env' | 'workingDir' | 'user' | 'hostname'> {
  const entrypoint = o.entrypoint === undefined ? image.entrypoint : o.entrypoint === '' ? [] : [o.entrypoint];
  const cmd = o.command.length > 0 ? o.command : o.entrypoint === undefined ? image.cmd : [];
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new SmrError('USAGE', 'the image has no Cmd or Entrypoint: give the command after -- (smr run IMAGE -- CMD [ARG...])');
  if (o.workdir !== undefined && !o.workdir.startsWith('/')) throw new SmrError('USAGE', `-w '${o.workdir}': the working directory must be an absolute path`);
  // A relative WorkingDir in an image is taken from the root, as docker does.
  const workingDir = o.workdir ?? (image.workingDir ? posix.resolve('/', image.workingDir) : undefined);
  return {
    argv,
    env: mergeEnv(image.env, o.env),
    workingDir,
    user: o.user ?? image.user,
    hostname: o.hostname ?? image.hostname ?? randomHostname(),
  };
}
