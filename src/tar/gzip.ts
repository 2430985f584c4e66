// gzip decompression engines. Inflate is the slowest step of reading a layer
// (Node's zlib does ~300 MB/s here); ISA-L's igzip does ~3x that and runs in
// its own process, i.e. on the other core, so it is used when installed
// (Debian package "isal"). SMR_GZIP=zlib forces the built-in engine.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createGunzip } from 'node:zlib';
import { through } from './through.js';

const GUNZIP_CHUNK = 128 * 1024;

export interface GzipEngine {
  name: 'igzip' | 'zlib';
  decompress(src: AsyncIterable<Buffer>): AsyncIterable<Buffer>;
}

const zlibEngine: GzipEngine = {
  name: 'zlib',
  decompress: (src) => through(src, createGunzip({ chunkSize: GUNZIP_CHUNK })),
};

async function* igzipDecompress(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const child = spawn('igzip', ['-d', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  child.stdin.on('error', () => {}); // EPIPE when igzip stops early: its exit code tells why
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let inputError: { error: unknown } | null = null;
  const feeding = (async () => {
    try {
      for await (const b of src) {
        if (!child.stdin.write(b)) await Promise.race([once(child.stdin, 'drain'), closed]);
        if (child.exitCode !== null) return;
      }
      child.stdin.end();
    } catch (e) {
      inputError = { error: e };
      child.kill();
    }
  })();
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) yield chunk;
    const code = await closed;
    await feeding;
    if (inputError) throw (inputError as { error: unknown }).error;
    if (code !== 0) throw new Error(`igzip exited with status ${code}: ${stderr.trim().split('\n').pop() ?? ''}`);
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

const igzipEngine: GzipEngine = { name: 'igzip', decompress: igzipDecompress };

let chosen: GzipEngine | null = null;

/** igzip when installed (and not disabled by SMR_GZIP=zlib), else node:zlib. */
export function gzipEngine(): GzipEngine {
  if (chosen) return chosen;
  const want = process.env.SMR_GZIP;
  if (want === 'zlib') return (chosen = zlibEngine);
  const have = spawnSync('igzip', ['--version'], { stdio: 'ignore' }).status === 0;
  chosen = have ? igzipEngine : zlibEngine;
  return chosen;
}

export function availableGzipEngines(): GzipEngine[] {
  const out = [zlibEngine];
  if (spawnSync('igzip', ['--version'], { stdio: 'ignore' }).status === 0) out.push(igzipEngine);
  return out;
}
