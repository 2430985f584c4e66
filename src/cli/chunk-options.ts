// Options shared by the commands that write or read chunked images.
import { DEFAULT_COMPRESSION, DEFAULT_LEVEL, LEVEL_RANGE } from '../chunk/compress.js';
import { loadKeyFile, parseSalt } from '../chunk/keys.js';
import { checkChunkSize } from '../chunk/chunker.js';
import type { Compression, Encryption } from '../chunk/types.js';
import { DEFAULT_CHUNK_SIZE } from '../chunk/types.js';
import type { StoreOptions } from '../store/index.js';
import { impliedStore } from '../store/recipe-io.js';
import { parseSize, UsageError, type Options } from './args.js';

/** Where remote stores and recipes are (S3 settings beyond the environment). */
export const remoteOption = {
  spec: {
    's3-endpoint': { type: 'string' },
    profile: { type: 'string' },
    hedge: { type: 'string' },
    'auth-file': { type: 'string' },
    insecure: { type: 'boolean' },
  } satisfies Options,
  help: `      --s3-endpoint URL  S3-compatible server (default: AWS_ENDPOINT_URL)
      --profile NAME     AWS profile (default: AWS_PROFILE)
      --hedge auto|off|MS  a second request for a chunk read slower than this
                         (default auto: the store's recent p95)`,
};

export const storeOption = {
  spec: { store: { type: 'string', short: 's' }, ...remoteOption.spec } satisfies Options,
  help: `  -s, --store STORE      the chunk store: a directory (dir:PATH or PATH),
                         s3://BUCKET[/PREFIX], http(s)://BASE (read-only), or
                         docker://REGISTRY/REPO (chunks as blobs; credentials
                         as for build: --auth-file, ~/.docker/config.json)
${remoteOption.help}`,
};

/** Store options from the command line (--s3-endpoint, --profile). */
export function storeSettings(values: Record<string, unknown>): StoreOptions {
  const h = values.hedge as string | undefined;
  let hedge: StoreOptions['hedge'];
  if (h === undefined || h === 'auto' || h === 'off') hedge = h;
  else if (/^\d+$/.test(h) && Number(h) <= 600_000) hedge = Number(h);
  else throw new UsageError(`--hedge: '${h}' is not auto, off or a number of milliseconds`);
  return {
    s3Endpoint: values['s3-endpoint'] as string | undefined,
    profile: values.profile as string | undefined,
    hedge,
    registryAuthFile: values['auth-file'] as string | undefined,
    ...(values.insecure ? { registryInsecure: true } : {}),
  };
}

export const keyOption = {
  spec: { 'key-file': { type: 'string', short: 'k' } } satisfies Options,
  help: `  -k, --key-file FILE    tenant key (32 bytes: raw, hex or base64) for encrypted recipes`,
};

/** How chunks are compressed (also copy's, which re-encodes with them). */
export const compressionOptions = {
  spec: {
    compression: { type: 'string' },
    level: { type: 'string' },
  } satisfies Options,
  help: `      --compression C    zstd, gzip or none (default: zstd)
      --level N          compression level: zstd ${LEVEL_RANGE.zstd.min} to ${LEVEL_RANGE.zstd.max} (default ${DEFAULT_LEVEL.zstd}), gzip
                         ${LEVEL_RANGE.gzip.min} to ${LEVEL_RANGE.gzip.max} (default ${DEFAULT_LEVEL.gzip}); higher is smaller and slower to
                         write, as fast to read (docs/recipe.md)`,
};

export const writeOptions = {
  spec: {
    'chunk-size': { type: 'string' },
    ...compressionOptions.spec,
    encrypt: { type: 'boolean' },
    salt: { type: 'string' },
  } satisfies Options,
  help: `      --chunk-size SIZE  64K to 4M, a power of two (default 512K)
${compressionOptions.help}
      --encrypt          convergent encryption of chunks (needs --key-file,
                         which encrypts the recipe)
      --salt TEXT        tenant salt mixed into chunk keys: tenants with
                         different salts share no chunks`,
};

/** --store, else the store the recipes imply (a registry image's repository). */
export function requireStore(values: Record<string, unknown>, cmd: string, recipes: string[] = []): string {
  const s = (values.store as string | undefined) ?? impliedStore(recipes[0] ?? '');
  if (!s) throw new UsageError(`--store STORE is required (see 'smr ${cmd} --help')`);
  if (values.store === undefined && recipes.some((r) => impliedStore(r) !== s)) {
    throw new UsageError(`the recipes come from different repositories: give --store STORE`);
  }
  return s;
}

export interface WriteSettings {
  chunkSize: number;
  compression: Compression;
  /** Undefined: the codec's default level. */
  level?: number;
  encryption: Encryption;
  salt?: Buffer;
  key?: Buffer;
}

/** --level, checked against the codec's range. */
function parseLevel(text: string | undefined, compression: Compression): number | undefined {
  if (text === undefined) return undefined;
  if (compression === 'none') throw new UsageError('--level needs --compression zstd or gzip');
  const { min, max } = LEVEL_RANGE[compression];
  const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--level: '${text}' is not a ${compression} level from ${min} to ${max}`);
  return n;
}

/** --compression and --level, checked. */
export function compressionSettings(values: Record<string, unknown>): Pick<WriteSettings, 'compression' | 'level'> {
  const c = (values.compression as string | undefined) ?? DEFAULT_COMPRESSION;
  if (c !== 'zstd' && c !== 'gzip' && c !== 'none') throw new UsageError(`--compression: '${c}' is not one of zstd, gzip, none`);
  return { compression: c, level: parseLevel(values.level as string | undefined, c) };
}

export async function writeSettings(values: Record<string, unknown>): Promise<WriteSettings> {
  const chunkSize = values['chunk-size'] !== undefined ? checkChunkSize(parseSize(values['chunk-size'] as string, '--chunk-size')) : DEFAULT_CHUNK_SIZE;
  const { compression, level } = compressionSettings(values);
  const encrypt = Boolean(values.encrypt);
  const keyFile = values['key-file'] as string | undefined;
  if (encrypt && !keyFile) throw new UsageError('--encrypt needs --key-file FILE for the recipe (make one with: (umask 077; head -c 32 /dev/urandom > FILE))');
  if (values.salt !== undefined && !encrypt) throw new UsageError('--salt only applies with --encrypt');
  return {
    chunkSize,
    compression,
    level,
    encryption: encrypt ? 'convergent-aes-256-ctr' : 'none',
    salt: values.salt !== undefined ? parseSalt(values.salt as string) : undefined,
    key: keyFile ? await loadKeyFile(keyFile) : undefined,
  };
}
