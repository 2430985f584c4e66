// `smr run`'s conversion cache: an image is converted once, on first use,
// into one chunk store shared by every image (so an image that shares a
// base with one already run adds only its new chunks) and a recipe named by
// the manifest digest and platform. The reference is resolved to its
// digest on every run (a moved tag is converted again); a recipe already
// there means nothing is converted.
//
//   CACHE/chunks/                     the directory store
//   CACHE/recipes/HEX-OS-ARCH.recipe  one recipe per image and platform
//   CACHE/recipes/HEX-OS-ARCH.lock    held while one smr converts it
//                                     (util/process-lock.ts): a concurrent
//                                     first run waits, then reuses it
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { convertImage } from '../image/convert-image.js';
import type { ChunkerStats } from '../chunk/chunker.js';
import { DEFAULT_COMPRESSION } from '../chunk/codec.js';
import { writeRecipeFile } from '../chunk/recipe.js';
import { defaultCacheDir, defaultPlatform, formatPlatform, openImage, parsePlatform } from '../oci/index.js';
import type { ImageConfig, OpenImageOptions, Platform, ResolvedImage } from '../oci/types.js';
import { platformScore } from '../oci/platform.js';
import { openWritableStore } from '../store/index.js';
import { acquireLock } from '../util/process-lock.js';
import { isSmrError, SmrError } from '../util/errors.js';
import { guestArchOf } from '../vm/guest-arch.js';

export interface RunCacheLayout {
  root: string;
  /** The chunk store all converted images share, as a store spec. */
  store: string;
  recipes: string;
}

/** CACHE (default ~/.cache/stream-my-root, XDG_CACHE_HOME honoured) laid out for smr run. */
export function runCacheLayout(root: string = defaultCacheDir()): RunCacheLayout {
  return { root, store: `dir:${join(root, 'chunks')}`, recipes: join(root, 'recipes') };
}

export interface PreparedImage {
  recipePath: string;
  manifestDigest: string;
  platform: Platform;
  /** The image config (Entrypoint, Cmd, Env, ...). */
  config: ImageConfig;
  /** Set when this run converted the image. */
  converted?: ChunkerStats;
}

export interface PrepareImageOptions extends OpenImageOptions {
  cache: RunCacheLayout;
  /** Sees the image config before any conversion (so bad input fails before work). */
  check?: (config: ImageConfig) => void;
  log?: (line: string) => void;
}

/**
 * An image smr run can boot here: one of the host's platform, or (only when
 * asked for with --platform, since it is emulated and slow) another
 * architecture smr has a guest for. Else one line saying what to do.
 */
function checkGuestPlatform(reference: string, have: Platform, asked: boolean): void {
  const host = parsePlatform(defaultPlatform());
  if (platformScore(host, have) > 0) return;
  const bootable = have.os === 'linux' && guestArchOf(have.architecture) !== undefined;
  if (asked && bootable) return;
  const hint = bootable ? ` (--platform ${formatPlatform(have)} runs it emulated, slowly)` : '';
  throw new SmrError('PLATFORM_MISMATCH', `${reference} is a ${formatPlatform(have)} image; smr run boots ${formatPlatform(host)} guests on this machine${hint}`);
}

/** openImage, with a hint when an index has no image for this machine and none was asked for. */
async function openForRun(reference: string, opts: OpenImageOptions): Promise<ResolvedImage> {
  try {
    return await openImage(reference, opts);
  } catch (e) {
    if (opts.platform === undefined && isSmrError(e) && e.code === 'PLATFORM_NOT_FOUND') {
      throw new SmrError(e.code, `${e.message}; choose one with --platform (another architecture runs emulated, slowly)`);
    }
    throw e;
  }
}

export async function prepareImage(reference: string, opts: PrepareImageOptions): Promise<PreparedImage> {
  const image = await openForRun(reference, opts);
  try {
    checkGuestPlatform(reference, image.platform, opts.platform !== undefined);
    opts.check?.(image.config);
    const platform = formatPlatform(image.platform).replace(/\//g, '-');
    const recipePath = join(opts.cache.recipes, `${image.manifestDigest.replace(/^sha256:/, '')}-${platform}.recipe`);
    const prepared: PreparedImage = { recipePath, manifestDigest: image.manifestDigest, platform: image.platform, config: image.config };
    if (existsSync(recipePath)) return prepared;

    await mkdir(opts.cache.recipes, { recursive: true });
    const what = `${reference} (${image.manifestDigest.slice(0, 19)}, ${formatPlatform(image.platform)})`;
    const lock = await acquireLock(recipePath.replace(/\.recipe$/, '.lock'), {
      onWait: (owner) => opts.log?.(`waiting for another smr (pid ${owner.pid}) converting ${what}`),
    });
    try {
      // The lock's previous holder may have converted it meanwhile.
      if (existsSync(recipePath)) return prepared;
      opts.log?.(`converting ${what} into ${opts.cache.root}`);
      const store = await openWritableStore(opts.cache.store);
      try {
        const { recipe, stats } = await convertImage(image, store, { compression: DEFAULT_COMPRESSION, encryption: 'none' }, {}, opts.progress);
        await writeRecipeFile(recipePath, recipe);
        prepared.converted = stats;
      } finally {
        await store.close?.();
      }
    } finally {
      await lock.release();
    }
    return prepared;
  } finally {
    await image.close();
  }
}
