// The chunk codec: round trips for every codec, with and without encryption
// and salt (seeded property tests), determinism, convergence, the raw
// fallback, zstd chunks named as earlier versions named them, and peers: the
// zstd and gzip CLIs read bodies, openssl agrees on the cipher and the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { decodeChunk, DEFAULT_COMPRESSION, encodeChunk } from '../../src/chunk/codec.js';
import { CODEC_GZIP, CODEC_RAW, CODEC_ZSTD, LEVEL_RANGE, MIN_SAVING } from '../../src/chunk/compress.js';
import type { Compression, Encryption } from '../../src/chunk/types.js';
import { isSmrError } from '../../src/util/errors.js';

// --- plaintexts, made from a seed so that a failing property replays ----------
/** Small chunks keep the tests fast; nothing in the codec depends on the size. */
const CHUNK = 64 * 1024;

interface PlainSpec {
  seed: number;
  length: number;
  shape: 'random' | 'text' | 'sparse' | 'runs';
  /** Bytes at the end forced to zero (trimming). */
  zeroTail: number;
}

/** Deterministic noise: SHA-256 in counter mode. */
function incompressible(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, ctr = 0; i < n; i += 32, ctr++) createHash('sha256').update(`${seed}:${ctr}`).digest().copy(out, i);
  return out;
}

const WORDS = 'the of and to in is for on that by this with you it not or be are from at as your all have new more an was we will home can us about if page my has search free but our one other do no information time they site he up may what which their news out use any there see only so his when contact here business who web also now help get pm view online first am been would how were me services some these click its like service than find'.split(' ');

/** Text-like bytes: words drawn by the seed (compresses about 3:1). */
function compressible(n: number, seed: number): Buffer {
  const noise = incompressible(Math.ceil(n / 4) + 64, seed);
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len <= n; i++) {
    const w = WORDS[noise[i % noise.length]! % WORDS.length]!;
    parts.push(w);
    len += w.length + 1;
  }
  return Buffer.from(parts.join(' ').slice(0, n), 'latin1');
}

function plaintext(s: PlainSpec): Buffer {
  let b: Buffer;
  switch (s.shape) {
    case 'random':
      b = incompressible(s.length, s.seed);
      break;
    case 'text':
      b = compressible(s.length, s.seed);
      break;
    case 'sparse': {
      // Mostly zero 4 KiB blocks, as in a filesystem image.
      b = Buffer.alloc(s.length);
      const noise = incompressible(s.length, s.seed);
      for (let o = 0; o < s.length; o += 4096) if (noise[o]! < 64) noise.copy(b, o, o, Math.min(o + 4096, s.length));
      break;
    }
    case 'runs': {
      b = Buffer.alloc(s.length);
      const noise = incompressible(256, s.seed);
      for (let o = 0, i = 0; o < s.length; i++) {
        const run = 1 + noise[i % 256]! * 8;
        b.fill(noise[(i + 1) % 256]!, o, Math.min(o + run, s.length));
        o += run;
      }
      break;
    }
  }
  if (s.zeroTail > 0) b.fill(0, Math.max(0, b.length - s.zeroTail));
  // The chunker never hands over an all-zero chunk.
  if (b.every((x) => x === 0)) b[0] = 1;
  return b;
}

/** A compressible chunk with `marker` at many places. */
function marked(n: number, marker: Buffer): Buffer {
  const b = compressible(n, 77);
  for (let o = 100; o + marker.length < n; o += 3001) marker.copy(b, o);
  return b;
}

// --- properties ---------------------------------------------------------------

const SEED = 5120;
const RUNS = { seed: SEED, numRuns: 40 };
const ENC: Encryption = 'convergent-aes-256-ctr';
const compressions: Compression[] = ['none', 'zstd', 'gzip'];
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const spec: fc.Arbitrary<PlainSpec> = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  length: fc.oneof(fc.constant(CHUNK), fc.integer({ min: 1, max: CHUNK })),
  shape: fc.constantFrom('random', 'text', 'sparse', 'runs'),
  zeroTail: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: CHUNK })),
}) as fc.Arbitrary<PlainSpec>;

const salts = fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a)), { nil: undefined });

function assertCorrupt(f: () => unknown, digest?: string): void {
  assert.throws(f, (e: unknown) => isSmrError(e) && e.code === 'CHUNK_CORRUPT' && (digest === undefined || e.message.includes(digest)));
}

test('every codec round-trips, with and without encryption and salt', () => {
  fc.assert(
    fc.property(spec, fc.constantFrom(...compressions), fc.constantFrom<Encryption>('none', ENC), salts, (s, compression, encryption, salt) => {
      const plain = plaintext(s);
      const e = encodeChunk(plain, { compression, encryption, salt });
      assert.equal(e.digest, sha256(e.stored));
      assert.equal(e.key !== undefined, encryption === ENC);
      assert.deepEqual(decodeChunk(e.stored, { digest: e.digest, key: e.key, salt: encryption === ENC ? salt : undefined }, plain.length), plain);
      // A chunk of the image's last, short length decodes to that length too.
      if (encryption === 'none') assert.equal(decodeChunk(e.stored, e, plain.length + 17).subarray(plain.length).every((b) => b === 0), true);
    }),
    RUNS,
  );
});

test('every --level round-trips, under its own codec byte, and a higher level is no bigger on text', () => {
  const levels: Record<'zstd' | 'gzip', number[]> = { zstd: [LEVEL_RANGE.zstd.min, 3, 9, LEVEL_RANGE.zstd.max], gzip: [LEVEL_RANGE.gzip.min, 6, LEVEL_RANGE.gzip.max] };
  const plains = [compressible(CHUNK, 51), Buffer.concat([compressible(CHUNK / 2, 52), incompressible(CHUNK / 4, 53), Buffer.alloc(CHUNK / 4)])];
  for (const compression of ['zstd', 'gzip'] as const) {
    for (const plain of plains) {
      const sizes = levels[compression].map((level) => {
        const e = encodeChunk(plain, { compression, level, encryption: 'none' });
        assert.equal(e.stored[0], compression === 'zstd' ? CODEC_ZSTD : CODEC_GZIP, `${compression} ${level}`);
        assert.deepEqual(decodeChunk(e.stored, e, CHUNK), plain, `${compression} ${level}`);
        return e.stored.length;
      });
      assert.ok(sizes.at(-1)! <= sizes[0]!, `${compression}: ${sizes.join(' ')}`);
    }
  }
});

test('encoding is deterministic: same plaintext and options, same stored bytes', () => {
  fc.assert(
    fc.property(spec, fc.constantFrom(...compressions), fc.constantFrom<Encryption>('none', ENC), salts, (s, compression, encryption, salt) => {
      const a = encodeChunk(plaintext(s), { compression, encryption, salt });
      const b = encodeChunk(Buffer.from(plaintext(s)), { compression, encryption, salt: salt && Buffer.from(salt) });
      assert.deepEqual(b, a);
    }),
    { seed: SEED, numRuns: 20 },
  );
});

test('the body is raw and trimmed unless compression saves enough', () => {
  for (const compression of compressions) {
    const noise = incompressible(CHUNK, 1);
    const raw = encodeChunk(noise, { compression, encryption: 'none' }).stored;
    assert.equal(raw[0], CODEC_RAW, `${compression} keeps noise raw`);
    assert.equal(raw.length, 1 + CHUNK);

    const tailed = Buffer.concat([compressible(1000, 2).subarray(0, 1000), Buffer.alloc(CHUNK - 1000)]);
    const t = encodeChunk(tailed, { compression: 'none', encryption: 'none' }).stored;
    assert.deepEqual(t, Buffer.concat([Buffer.from([CODEC_RAW]), tailed.subarray(0, 1000)]));

    const text = encodeChunk(compressible(CHUNK, 3), { compression, encryption: 'none' }).stored;
    const expected = compression === 'zstd' ? CODEC_ZSTD : compression === 'gzip' ? CODEC_GZIP : CODEC_RAW;
    assert.equal(text[0], expected, `${compression} compresses text`);
    if (compression !== 'none') assert.ok(text.length - 1 <= CHUNK * (1 - MIN_SAVING));
  }
});

test('convergence: equal plaintexts and salts give equal chunks; other salts share nothing', () => {
  fc.assert(
    fc.property(spec, fc.constantFrom(...compressions), (s, compression) => {
      const plain = plaintext(s);
      const a = encodeChunk(plain, { compression, encryption: ENC, salt: Buffer.from('tenant-a') });
      const a2 = encodeChunk(Buffer.from(plain), { compression, encryption: ENC, salt: Buffer.from('tenant-a') });
      const b = encodeChunk(plain, { compression, encryption: ENC, salt: Buffer.from('tenant-b') });
      const none = encodeChunk(plain, { compression, encryption: ENC });
      assert.equal(a2.digest, a.digest);
      assert.deepEqual(a2.key, a.key);
      for (const other of [b, none]) {
        assert.notEqual(other.digest, a.digest);
        assert.notDeepEqual(other.key, a.key);
        // Independent keystreams: about 1/256 of the bytes agree by chance.
        let same = 0;
        for (let i = 0; i < a.stored.length; i++) if (a.stored[i] === other.stored[i]) same++;
        assert.ok(same <= 16 + a.stored.length / 64, `${same} of ${a.stored.length} bytes agree`);
      }
      // The wrong salt or key is caught, not decoded into garbage.
      assertCorrupt(() => decodeChunk(a.stored, { digest: a.digest, key: a.key, salt: Buffer.from('tenant-b') }, plain.length), a.digest);
      assertCorrupt(() => decodeChunk(a.stored, { digest: a.digest, key: b.key }, plain.length), a.digest);
    }),
    { seed: SEED, numRuns: 25 },
  );
});

test('no piece of the plaintext shows in an encrypted chunk', () => {
  const marker = Buffer.from('STREAM-MY-ROOT-PLAINTEXT-MARKER-7f3a');
  const plain = marked(CHUNK, marker);
  for (const compression of compressions) {
    const clear = encodeChunk(plain, { compression: 'none', encryption: 'none' }).stored;
    assert.ok(clear.includes(marker), 'the marker is there in the clear');
    const { stored } = encodeChunk(plain, { compression, encryption: ENC });
    for (let i = 0; i + 6 <= marker.length; i++) assert.equal(stored.includes(marker.subarray(i, i + 6)), false, `"${marker.subarray(i, i + 6)}" shows`);
  }
});

test('decodeChunk refuses what does not match', () => {
  const plain = compressible(CHUNK, 9);
  const e = encodeChunk(plain, { compression: DEFAULT_COMPRESSION, encryption: 'none' });
  assertCorrupt(() => decodeChunk(e.stored, { digest: sha256(Buffer.from('other')) }, CHUNK));
  assertCorrupt(() => decodeChunk(Buffer.concat([e.stored, Buffer.from([0])]), e, CHUNK), e.digest);
  // A chunk longer than the length asked for (a recipe that lies) is damage.
  assertCorrupt(() => decodeChunk(e.stored, e, CHUNK - 1), e.digest);
  const empty = Buffer.alloc(0);
  assertCorrupt(() => decodeChunk(empty, { digest: sha256(empty) }, CHUNK));
  const k = encodeChunk(plain, { compression: 'none', encryption: ENC });
  assertCorrupt(() => decodeChunk(k.stored, { digest: k.digest, key: Buffer.alloc(16) }, CHUNK), k.digest);
});

test('zstd chunks keep the stored bytes, and so the names, that zstd-napi gave them', () => {
  // Digests written by smr 0.1.0 through the zstd-napi addon (libzstd 1.5.7,
  // level 1). node:zlib must give the same bytes, or a store would hold each
  // chunk twice across the switch; and those chunks must still decode.
  const K = 512 * 1024;
  const golden: [Buffer, number, string][] = [
    [compressible(K, 31), 168868, 'fa6fab9f1db05ea27f4e44bf48ecdb09eb2eb7713ee621c011236d4e99d15dad'],
    [compressible(K - 12345, 32), 164693, '6ecb90e70eff32a95b9c546aae754a3d8ace6317a8567f4ff3176ff4d6e5449b'],
    [compressible(60000, 33), 20447, 'c06badc83824f668f44ca5adf1da501a0efb995979f8eb083a92a1f560c766e6'],
    [Buffer.concat([incompressible(K / 2, 34), compressible(K / 2, 35)]), 347138, '31badbbb5ec7f5893d23f780777a35481bf48d32cc7ca16dfd273efef4463b5b'],
  ];
  assert.equal(DEFAULT_COMPRESSION, 'zstd');
  for (const [plain, storedLength, digest] of golden) {
    const e = encodeChunk(plain, { compression: 'zstd', encryption: 'none' });
    // --level 1 is that same level: stores written before --level dedup with it.
    assert.equal(encodeChunk(plain, { compression: 'zstd', level: 1, encryption: 'none' }).digest, digest);
    assert.equal(e.stored[0], CODEC_ZSTD);
    assert.equal(e.stored.length, storedLength);
    assert.equal(e.digest, digest);
    assert.deepEqual(decodeChunk(e.stored, { digest }, K), Buffer.concat([plain, Buffer.alloc(K - plain.length)]));
  }
});

test('each decoded chunk is its own buffer: decoding more leaves earlier ones as they were', () => {
  const plains = [compressible(CHUNK, 41), Buffer.concat([compressible(1000, 42), Buffer.alloc(CHUNK - 1000)]), compressible(CHUNK - 7, 43)];
  for (const compression of compressions) {
    const stored = plains.map((p) => encodeChunk(p, { compression, encryption: 'none' }));
    const decoded = stored.map((e) => decodeChunk(e.stored, e, CHUNK));
    decoded.forEach((d, i) => assert.deepEqual(d, Buffer.concat([plains[i]!, Buffer.alloc(CHUNK - plains[i]!.length)]), `${compression} #${i}`));
    // A short last chunk too: smaller than zlib's output buffer.
    const short = encodeChunk(compressible(3000, 44), { compression, encryption: 'none' });
    assert.deepEqual(decodeChunk(short.stored, short, 3000), compressible(3000, 44));
  }
});

// --- peers -----------------------------------------------------------------------

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function run(cmd: string, args: string[], input: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const peerPlains = () => [compressible(CHUNK, 11), compressible(CHUNK - 12345, 12), Buffer.concat([compressible(20000, 13), Buffer.alloc(CHUNK - 20000)]), marked(CHUNK, Buffer.from('peer'))];
const trim = (b: Buffer) => {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return b.subarray(0, n);
};

test('peer: the zstd CLI decompresses zstd bodies, and its frames decode here', { skip: !have('zstd') ? 'no zstd CLI' : false }, () => {
  for (const p of peerPlains()) {
    const { stored } = encodeChunk(p, { compression: 'zstd', encryption: 'none' });
    assert.equal(stored[0], CODEC_ZSTD);
    assert.deepEqual(run('zstd', ['-d', '-q', '-c'], stored.subarray(1)), trim(p));
    // The other way: a frame from the CLI (content size declared with --content-size).
    const frame = run('zstd', ['-q', '-c', '-19', '--content-size', `--stream-size=${trim(p).length}`], trim(p));
    const s = Buffer.concat([Buffer.from([CODEC_ZSTD]), frame]);
    assert.deepEqual(decodeChunk(s, { digest: sha256(s) }, p.length), p);
  }
});

test('peer: gzip -d decompresses gzip bodies, and gzip -n output decodes here', { skip: !have('gzip') ? 'no gzip' : false }, () => {
  for (const p of peerPlains()) {
    const { stored } = encodeChunk(p, { compression: 'gzip', encryption: 'none' });
    assert.equal(stored[0], CODEC_GZIP);
    assert.deepEqual(run('gzip', ['-d', '-c'], stored.subarray(1)), trim(p));
    const member = run('gzip', ['-n', '-9', '-c'], trim(p));
    const s = Buffer.concat([Buffer.from([CODEC_GZIP]), member]);
    assert.deepEqual(decodeChunk(s, { digest: sha256(s) }, p.length), p);
  }
});

test('peer: openssl derives the same key and the same AES-256-CTR ciphertext', { skip: !have('openssl') ? 'no openssl' : false }, () => {
  for (const [i, p] of peerPlains().entries()) {
    const salt = i % 2 === 0 ? Buffer.from(`tenant ${i}`) : undefined;
    for (const compression of compressions) {
      const clear = encodeChunk(p, { compression, encryption: 'none' }).stored;
      const e = encodeChunk(p, { compression, encryption: ENC, salt });
      const inner = run('openssl', ['dgst', '-sha256', '-binary'], p);
      const label = Buffer.from('stream-my-root chunk key v1\0', 'latin1');
      const key = run('openssl', ['dgst', '-sha256', '-binary'], Buffer.concat([label, salt ?? Buffer.alloc(0), inner]));
      assert.deepEqual(e.key, key);
      const ct = run('openssl', ['enc', '-aes-256-ctr', '-K', key.toString('hex'), '-iv', '0'.repeat(32)], clear);
      assert.deepEqual(e.stored, ct);
    }
  }
});
