// Streaming zstd decompression. Three engines, fastest first: node:zlib's own
// (Node >= 22.15); the zstd-napi addon (libzstd built from source by node-gyp)
// when it is installed; fzstd (pure JS) otherwise. On a 172 MB layer the addon
// measured ~800 MB/s at level 3 and ~700 at level 19, fzstd ~140 and ~70.
// All accept concatenated and skippable frames; fzstd does not verify the
// frames' content checksums (the layer's diff_id still catches damage).

import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import { Decompress as FzstdDecompress } from 'fzstd';
import { through } from './through.js';

export type ZstdEngineName = 'node:zlib' | 'zstd-napi' | 'fzstd';

export interface ZstdEngine {
  readonly name: ZstdEngineName;
  /** Decompressed chunks of `src`; throws on corrupt or truncated input. */
  decompress(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer>;
}

/** Output buffer size for the addon (ZSTD_DStreamOutSize is 128 KiB). */
const OUT_CHUNK = 128 * 1024;

// The parts of zstd-napi's binding that are used here.
interface NapiDCtx {
  decompressStream(dst: Uint8Array, src: Uint8Array): [ret: number, produced: number, consumed: number];
  setParameter(param: number, value: number): void;
}
interface NapiBinding {
  DCtx: new () => NapiDCtx;
  DParameter: { windowLogMax: number };
}

/**
 * Largest window accepted: 512 MiB, as containerd's Go decoder allows by
 * default (libzstd's own default is 128 MiB, too small for `zstd --long=29`).
 */
const WINDOW_LOG_MAX = 29;

type NodeZstdFactory = (options?: { chunkSize?: number; params?: Record<number, number> }) => Duplex;

function nodeZstdFactory(): NodeZstdFactory | undefined {
  const f = (zlib as unknown as { createZstdDecompress?: NodeZstdFactory }).createZstdDecompress;
  return typeof f === 'function' ? f : undefined;
}

function loadNapi(): NapiBinding | undefined {
  try {
    return createRequire(import.meta.url)('zstd-napi/binding') as NapiBinding;
  } catch {
    return undefined; // not installed, or its build failed: fall back
  }
}

export function nodeZlibEngine(): ZstdEngine | undefined {
  const create = nodeZstdFactory();
  if (create === undefined) return undefined;
  return {
    name: 'node:zlib',
    async *decompress(src) {
      const windowLogMax = (zlib.constants as unknown as Record<string, number | undefined>).ZSTD_d_windowLogMax;
      const params = windowLogMax === undefined ? {} : { params: { [windowLogMax]: WINDOW_LOG_MAX } };
      yield* through(src, create({ chunkSize: OUT_CHUNK, ...params }));
    },
  };
}

export function napiEngine(): ZstdEngine | undefined {
  const binding = loadNapi();
  if (binding === undefined) return undefined;
  return {
    name: 'zstd-napi',
    async *decompress(src) {
      const dctx = new binding.DCtx();
      dctx.setParameter(binding.DParameter.windowLogMax, WINDOW_LOG_MAX);
      // Non-zero after the last call: a frame is open and wants more input.
      let hint = 0;
      for await (const chunk of src) {
        let s = chunk;
        for (;;) {
          const dst = Buffer.allocUnsafe(OUT_CHUNK);
          const [ret, produced, consumed] = dctx.decompressStream(dst, s);
          s = s.subarray(consumed);
          hint = ret;
          if (produced > 0) yield dst.subarray(0, produced);
          // Output not full means libzstd has taken all it can from this input.
          if (s.length === 0 && (produced < dst.length || ret === 0)) break;
          if (produced === 0 && consumed === 0) throw new Error('zstd made no progress');
        }
      }
      if (hint !== 0) throw new Error('the data ends inside a frame');
    },
  };
}

export function fzstdEngine(): ZstdEngine {
  return {
    name: 'fzstd',
    async *decompress(src) {
      let out: Uint8Array[] = [];
      const d = new FzstdDecompress((chunk) => {
        if (chunk.length > 0) out.push(chunk);
      });
      const drain = function* (): Generator<Buffer> {
        const ready = out;
        out = [];
        for (const c of ready) yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      };
      for await (const chunk of src) {
        d.push(chunk);
        yield* drain();
      }
      d.push(new Uint8Array(0), true);
      yield* drain();
    },
  };
}

let chosen: ZstdEngine | undefined;

/** The fastest engine available here. */
export function zstdEngine(): ZstdEngine {
  return (chosen ??= nodeZlibEngine() ?? napiEngine() ?? fzstdEngine());
}

/** Every engine available here, for tests that check they agree. */
export function availableZstdEngines(): ZstdEngine[] {
  return [nodeZlibEngine(), napiEngine(), fzstdEngine()].filter((e): e is ZstdEngine => e !== undefined);
}
