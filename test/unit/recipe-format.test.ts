// The recipe format: canonical serialization, round trips (seeded), strict
// validation with a clear message per field, versions, and size for a 16 GiB
// image with every chunk stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { encryptRecipe, parseRecipe, serializeRecipe } from '../../src/chunk/recipe.js';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, RECIPE_MEDIA_TYPE, type Recipe, type RecipeChunk } from '../../src/chunk/types.js';
import { isSmrError } from '../../src/util/errors.js';

const SEED = 4471;

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a).toString('hex'));
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a));

const recipeArb: fc.Arbitrary<Recipe> = fc
  .record({
    log2: fc.integer({ min: Math.log2(MIN_CHUNK_SIZE), max: Math.log2(MAX_CHUNK_SIZE) }),
    count: fc.integer({ min: 0, max: 60 }),
    tail: fc.nat(),
    encrypted: fc.boolean(),
    salt: fc.option(fc.uint8Array({ minLength: 1, maxLength: 24 }).map((a) => Buffer.from(a)), { nil: undefined }),
    compression: fc.constantFrom('none', 'zstd', 'gzip' as const),
    source: fc.record({ reference: fc.string(), manifestDigest: hex64.map((h) => `sha256:${h}`), platform: fc.constantFrom('linux/amd64', 'linux/arm64/v8') }, { requiredKeys: [], noNullPrototype: true }),
  })
  .chain((h) => {
    const chunkSize = 2 ** h.log2;
    const imageSize = h.count === 0 ? 0 : (h.count - 1) * chunkSize + 1 + (h.tail % chunkSize);
    const entry = fc.record({ digest: hex64, storedLength: fc.integer({ min: 1, max: chunkSize + 64 }), key: key32 });
    const indexes = h.count === 0 ? fc.constant([] as number[]) : fc.uniqueArray(fc.nat(h.count - 1), { maxLength: h.count });
    return fc.tuple(indexes, fc.array(entry, { minLength: h.count, maxLength: h.count })).map(([idx, entries]): Recipe => {
      const chunks: RecipeChunk[] = [...idx]
        .sort((a, b) => a - b)
        .map((index, i) => {
          const e = entries[i]!;
          const c: RecipeChunk = { index, digest: e.digest, storedLength: e.storedLength };
          if (h.encrypted) {
            c.key = e.key;
            if (h.salt) c.salt = h.salt;
          }
          return c;
        });
      const encryption = h.encrypted ? ('convergent-aes-256-ctr' as const) : ('none' as const);
      return {
        mediaType: RECIPE_MEDIA_TYPE,
        version: 1,
        source: h.source,
        imageSize,
        chunkSize,
        encoding: h.encrypted && h.salt ? { compression: h.compression, encryption, salt: h.salt } : { compression: h.compression, encryption },
        chunks,
      };
    });
  });

function refuses(f: () => unknown, code: string, message = /./, what?: string): void {
  assert.throws(f, (e: unknown) => isSmrError(e) && e.code === code && message.test(e.message), what);
}

test('recipes round-trip, and serializing is canonical', () => {
  fc.assert(
    fc.property(recipeArb, (r) => {
      const bytes = serializeRecipe(r);
      const back = parseRecipe(bytes);
      assert.deepEqual(back, r);
      assert.deepEqual(serializeRecipe(back), bytes);
    }),
    { seed: SEED, numRuns: 150 },
  );
});

test('the serialized form: fixed key order, one chunk per line', () => {
  const r: Recipe = {
    mediaType: RECIPE_MEDIA_TYPE,
    version: 1,
    // Given out of order: written in the documented order.
    source: { platform: 'linux/amd64', reference: 'localhost:5000/app:1' },
    imageSize: 1572864 + 100,
    chunkSize: 524288,
    encoding: { compression: 'zstd', encryption: 'none' },
    chunks: [
      { index: 0, digest: 'a'.repeat(64), storedLength: 1234 },
      { index: 3, digest: 'b'.repeat(64), storedLength: 7 },
    ],
  };
  const expected =
    '{"mediaType":"application/vnd.stream-my-root.recipe.v1+json","version":1,"source":{"reference":"localhost:5000/app:1","platform":"linux/amd64"},' +
    '"imageSize":1572964,"chunkSize":524288,"encoding":{"compression":"zstd","encryption":"none"},"chunks":[\n' +
    `[0,"${'a'.repeat(64)}",1234],\n` +
    `[3,"${'b'.repeat(64)}",7]\n` +
    ']}\n';
  assert.equal(serializeRecipe(r).toString(), expected);
  assert.equal(serializeRecipe({ ...r, chunks: [] }).toString().endsWith('"chunks":[]}\n'), true);
  // An encrypted recipe carries each chunk's key; mixing up is a program error.
  assert.throws(() => serializeRecipe({ ...r, encoding: { compression: 'zstd', encryption: 'convergent-aes-256-ctr' } }), TypeError);
});

/** A valid plain recipe document to break one field at a time. */
function doc(encrypted = false): Record<string, unknown> {
  return {
    mediaType: RECIPE_MEDIA_TYPE,
    version: 1,
    source: { reference: 'x' },
    imageSize: 3 * 65536,
    chunkSize: 65536,
    encoding: encrypted ? { compression: 'gzip', encryption: 'convergent-aes-256-ctr', salt: 'c2FsdA==' } : { compression: 'gzip', encryption: 'none' },
    chunks: encrypted ? [[1, 'c'.repeat(64), 10, Buffer.alloc(32, 1).toString('base64')]] : [[0, 'c'.repeat(64), 10], [2, 'd'.repeat(64), 65536 + 64]],
  };
}

const parseDoc = (d: unknown) => parseRecipe(Buffer.from(JSON.stringify(d)));

test('validation: every broken field is RECIPE_INVALID, named', () => {
  parseDoc(doc());
  parseDoc(doc(true));
  const bad: [string, (d: Record<string, unknown>) => void, RegExp, boolean?][] = [
    ['not an object', (d) => Object.assign(d, { chunks: undefined, mediaType: undefined }), /mediaType/],
    ['mediaType', (d) => (d.mediaType = 'application/json'), /mediaType/],
    ['version missing', (d) => delete d.version, /version/],
    ['version a string', (d) => (d.version = '1'), /version/],
    ['imageSize negative', (d) => (d.imageSize = -1), /imageSize/],
    ['imageSize fraction', (d) => (d.imageSize = 1.5), /imageSize/],
    ['imageSize unsafe', (d) => (d.imageSize = 2 ** 53), /imageSize/],
    ['chunkSize not a power of two', (d) => (d.chunkSize = 65536 * 3), /chunkSize/],
    ['chunkSize too small', (d) => (d.chunkSize = 4096), /chunkSize/],
    ['chunkSize too large', (d) => (d.chunkSize = 8 << 20), /chunkSize/],
    ['source not an object', (d) => (d.source = 'x'), /source/],
    ['source.reference', (d) => (d.source = { reference: 5 }), /source\.reference/],
    ['encoding missing', (d) => delete d.encoding, /encoding/],
    ['compression', (d) => ((d.encoding as Record<string, unknown>).compression = 'lz4'), /compression/],
    ['encryption', (d) => ((d.encoding as Record<string, unknown>).encryption = 'aes'), /encryption/],
    ['unknown encoding field', (d) => ((d.encoding as Record<string, unknown>).dictionary = 'x'), /encoding\.dictionary/],
    ['salt without encryption', (d) => ((d.encoding as Record<string, unknown>).salt = 'c2FsdA=='), /salt/],
    ['chunks not a list', (d) => (d.chunks = {}), /chunks/],
    ['entry not an array', (d) => ((d.chunks as unknown[])[0] = { index: 0 }), /chunks\[0\]/],
    ['entry too short', (d) => ((d.chunks as unknown[])[0] = [0, 'c'.repeat(64)]), /chunks\[0\]/],
    ['entry with a key, unencrypted', (d) => ((d.chunks as unknown[][])[0]!.push('AAAA')), /chunks\[0\]/],
    ['index out of range', (d) => ((d.chunks as unknown[][])[1]![0] = 3), /chunks\[1\].*index 3/],
    ['index negative', (d) => ((d.chunks as unknown[][])[0]![0] = -1), /chunks\[0\]/],
    ['index fraction', (d) => ((d.chunks as unknown[][])[0]![0] = 0.5), /chunks\[0\]/],
    ['indexes repeat', (d) => ((d.chunks as unknown[][])[1]![0] = 0), /chunks\[1\] \(chunk 0\).*ascend/],
    ['indexes descend', (d) => (d.chunks = [...(d.chunks as unknown[])].reverse()), /chunks\[1\] \(chunk 0\).*ascend/],
    ['digest uppercase', (d) => ((d.chunks as unknown[][])[0]![1] = 'C'.repeat(64)), /chunks\[0\] \(chunk 0\): digest/],
    ['digest short', (d) => ((d.chunks as unknown[][])[0]![1] = 'c'.repeat(63)), /digest/],
    ['storedLength 0', (d) => ((d.chunks as unknown[][])[0]![2] = 0), /storedLength/],
    ['storedLength too large', (d) => ((d.chunks as unknown[][])[1]![2] = 65536 + 65), /chunks\[1\] \(chunk 2\): storedLength/],
    ['storedLength a string', (d) => ((d.chunks as unknown[][])[0]![2] = '10'), /storedLength/],
    ['key missing', (d) => ((d.chunks as unknown[][])[0]!.pop()), /chunks\[0\].*key/, true],
    ['key short', (d) => ((d.chunks as unknown[][])[0]![3] = Buffer.alloc(31).toString('base64')), /key/, true],
    ['key not canonical base64', (d) => ((d.chunks as unknown[][])[0]![3] = `${Buffer.alloc(32, 1).toString('base64')} `), /key/, true],
    ['salt not base64', (d) => ((d.encoding as Record<string, unknown>).salt = 'c2Fsd!A=='), /salt/, true],
    ['salt empty', (d) => ((d.encoding as Record<string, unknown>).salt = ''), /salt/, true],
  ];
  for (const [name, breakIt, message, encrypted] of bad) {
    const d = doc(encrypted);
    breakIt(d);
    refuses(() => parseDoc(d), 'RECIPE_INVALID', message, name);
  }
  for (const text of ['', 'null', '[]', '"recipe"', '{', '{"mediaType":', '\u0000']) refuses(() => parseRecipe(Buffer.from(text)), 'RECIPE_INVALID', /./, JSON.stringify(text));
});

test('validation: unknown fields outside encoding are ignored, and dropped', () => {
  const d = doc();
  d.comment = 'made by hand';
  d.source = { reference: 'x', annotations: { a: 'b' } };
  const r = parseDoc(d);
  assert.deepEqual(r.source, { reference: 'x' });
  assert.equal('comment' in r, false);
});

test('a recipe of another version says so', () => {
  for (const mediaType of [RECIPE_MEDIA_TYPE, 'application/vnd.stream-my-root.recipe.v2+json']) {
    refuses(() => parseDoc({ ...doc(), mediaType, version: 2 }), 'RECIPE_VERSION', /^recipe version 2 is not supported by this smr \(it reads version 1\)$/);
  }
  // Not ours at all: not a version question.
  refuses(() => parseDoc({ ...doc(), mediaType: 'application/json', version: 2 }), 'RECIPE_INVALID', /mediaType/);
});

test('size: a 16 GiB image with every chunk stored stays far under 0.1%', (t) => {
  const chunkSize = 512 * 1024;
  const imageSize = 16 * 2 ** 30;
  const count = imageSize / chunkSize;
  const make = (encrypted: boolean): Recipe => ({
    mediaType: RECIPE_MEDIA_TYPE,
    version: 1,
    source: { reference: 'registry.example/team/app:2024-06-01', manifestDigest: `sha256:${'e'.repeat(64)}`, platform: 'linux/amd64' },
    imageSize,
    chunkSize,
    encoding: encrypted ? { compression: 'zstd', encryption: 'convergent-aes-256-ctr', salt: Buffer.from('tenant-42') } : { compression: 'zstd', encryption: 'none' },
    // Incompressible chunks: the longest stored lengths.
    chunks: Array.from({ length: count }, (_, index) => ({
      index,
      digest: randomBytes(32).toString('hex'),
      storedLength: chunkSize + 1,
      ...(encrypted ? { key: randomBytes(32), salt: Buffer.from('tenant-42') } : {}),
    })),
  });
  const plain = serializeRecipe(make(false));
  const keyed = make(true);
  const withKeys = serializeRecipe(keyed);
  const sealed = encryptRecipe(keyed, randomBytes(32));
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB (${((100 * n) / imageSize).toFixed(4)}% of the image)`;
  t.diagnostic(`16 GiB, ${count} chunks: plain ${mib(plain.length)}; with keys ${mib(withKeys.length)}; encrypted envelope ${mib(sealed.length)}`);
  assert.ok(plain.length < 3 * 2 ** 20, 'the plain recipe is under 3 MiB, like Lambda');
  for (const n of [plain.length, withKeys.length, sealed.length]) assert.ok(n < imageSize / 1000);
  assert.equal(parseRecipe(plain).chunks.length, count);
});
