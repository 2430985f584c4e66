// Throughput of the tar reader and of layer decompression, for the numbers
// in reports. Not a test: run by hand after a build:
//   node dist/test/helpers/tar-throughput.js FILE [FILE…]
// A FILE may be a plain tar, .tar.gz or .tar.zst; each is measured as
// decompression alone, then decompression + TarReader reading every body.

import { createReadStream, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { decompressChunks, decompressStream, sniffCompression, TarReader } from '../../src/tar/index.js';

function mbps(bytes: number, ns: bigint): string {
  return `${((bytes / Number(ns)) * 1e3).toFixed(0)} MB/s`;
}

async function time<T>(f: () => Promise<T>): Promise<[T, bigint]> {
  const t0 = process.hrtime.bigint();
  const v = await f();
  return [v, process.hrtime.bigint() - t0];
}

/** Reads every entry and body; returns [entries, data bytes]. */
async function readAll(src: AsyncIterable<Buffer>, hash?: (b: Buffer) => void): Promise<[number, number, number]> {
  const r = new TarReader(src, hash ? { onInput: hash } : {});
  let n = 0;
  let data = 0;
  for (let e = await r.next(); e !== null; e = await r.next()) {
    n++;
    await r.readBody((c) => {
      data += c.length;
    });
  }
  return [n, data, r.bytesRead];
}

/** A tar held in memory, served in fixed-size chunks: the reader alone. */
function* chunksOf(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
async function* asAsync(g: Iterable<Buffer>): AsyncGenerator<Buffer> {
  yield* g;
}

async function main(): Promise<void> {
  for (const file of process.argv.slice(2)) {
    const format = sniffCompression(readFileSync(file).subarray(0, 10));
    console.log(`${file} (${format})`);
    let plain: Buffer | undefined;
    for (let round = 0; round < 2; round++) {
      let bytes = 0;
      const parts: Buffer[] = [];
      const [, ns] = await time(async () => {
        for await (const c of decompressChunks(createReadStream(file, { highWaterMark: 1 << 20 }))) {
          bytes += c.length;
          if (plain === undefined) parts.push(c);
        }
      });
      plain ??= Buffer.concat(parts);
      console.log(`  decompress: ${bytes} bytes in ${(Number(ns) / 1e9).toFixed(2)} s = ${mbps(bytes, ns)}`);
      const [[n], ns2] = await time(() => readAll(decompressChunks(createReadStream(file, { highWaterMark: 1 << 20 }))));
      console.log(`  decompressChunks + TarReader: ${n} entries, ${mbps(bytes, ns2)}`);
      const h = createHash('sha256');
      const [, ns3] = await time(() => readAll(decompressStream(createReadStream(file)) as AsyncIterable<Buffer>, (c) => h.update(c)));
      console.log(`  decompressStream (Readable) + sha256 + TarReader: ${mbps(bytes, ns3)}`);
    }
    const tar = plain!;
    for (const size of [16 << 10, 64 << 10, 1 << 20]) {
      for (let round = 0; round < 3; round++) {
        const [[n, data], ns] = await time(() => readAll(asAsync(chunksOf(tar, size))));
        console.log(`  TarReader pass-through, ${size >> 10} KiB chunks: ${n} entries, ${data} data bytes, ${mbps(tar.length, ns)}`);
      }
    }
    const h = createHash('sha256');
    const [, ns] = await time(() => readAll(asAsync(chunksOf(tar, 64 << 10)), (c) => h.update(c)));
    console.log(`  TarReader + sha256 of the stream, 64 KiB chunks: ${mbps(tar.length, ns)}`);
  }
}

await main();
