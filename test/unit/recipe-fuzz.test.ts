// Seeded fuzzing of parseRecipe: JSON edits, truncation, bit flips and
// inserted bytes, on plain recipes and on encrypted envelopes. The only
// outcomes allowed: a Recipe that keeps every documented invariant, or an
// SmrError with a RECIPE_* code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { encryptRecipe, parseRecipe, serializeRecipe } from '../../src/chunk/recipe.js';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, RECIPE_MEDIA_TYPE, type Recipe } from '../../src/chunk/types.js';
import { isSmrError } from '../../src/util/errors.js';

const SEED = 6007;
const tenantKey = Buffer.alloc(32, 0x33);

function sampleRecipe(encrypted: boolean): Recipe {
  const chunkSize = 65536;
  const chunks = [0, 1, 5, 6, 9].map((index) => ({
    index,
    digest: createHash('sha256').update(`chunk ${index}`).digest('hex'),
    storedLength: 1000 * (index + 1),
    ...(encrypted ? { key: createHash('sha256').update(`key ${index}`).digest(), salt: Buffer.from('tenant') } : {}),
  }));
  return {
    mediaType: RECIPE_MEDIA_TYPE,
    version: 1,
    source: { reference: 'localhost:5000/fuzz:1', manifestDigest: `sha256:${'0'.repeat(64)}`, platform: 'linux/amd64' },
    imageSize: 9 * chunkSize + 4321,
    chunkSize,
    encoding: encrypted ? { compression: 'zstd', encryption: 'convergent-aes-256-ctr', salt: Buffer.from('tenant') } : { compression: 'gzip', encryption: 'none' },
    chunks,
  };
}

/** Everything docs/recipe.md promises about a parsed recipe. */
function checkInvariants(r: Recipe): void {
  assert.equal(r.mediaType, RECIPE_MEDIA_TYPE);
  assert.equal(r.version, 1);
  assert.ok(Number.isSafeInteger(r.imageSize) && r.imageSize >= 0);
  assert.ok(r.chunkSize >= MIN_CHUNK_SIZE && r.chunkSize <= MAX_CHUNK_SIZE && (r.chunkSize & (r.chunkSize - 1)) === 0);
  const count = Math.ceil(r.imageSize / r.chunkSize);
  const encrypted = r.encoding.encryption !== 'none';
  let prev = -1;
  for (const c of r.chunks) {
    assert.ok(Number.isSafeInteger(c.index) && c.index > prev && c.index < count);
    prev = c.index;
    assert.match(c.digest, /^[0-9a-f]{64}$/);
    assert.ok(Number.isSafeInteger(c.storedLength) && c.storedLength >= 1 && c.storedLength <= r.chunkSize + 64);
    assert.equal(c.key?.length, encrypted ? 32 : undefined);
  }
  // Whatever parses serializes back to something that parses the same.
  assert.deepEqual(parseRecipe(serializeRecipe(r)), r);
}

function outcome(bytes: Buffer, key?: Buffer): string {
  try {
    checkInvariants(parseRecipe(bytes, { key }));
    return 'ok';
  } catch (e) {
    if (isSmrError(e) && e.code.startsWith('RECIPE_')) return e.code;
    throw e;
  }
}

type Path = (string | number)[];

/** Every path into a JSON document, for edits. */
function paths(v: unknown, at: Path = []): Path[] {
  const out: Path[] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

type Edit = { op: 'set'; value: unknown } | { op: 'delete' } | { op: 'nudge'; by: number } | { op: 'duplicate' };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(0, -1, 1.5, 2 ** 53, '', 'AAAA', null, [], {})) }),
  fc.record({ op: fc.constant('delete' as const) }),
  fc.record({ op: fc.constant('nudge' as const), by: fc.constantFrom(-1, 1, 65536, -65536, 2 ** 31) }),
  fc.record({ op: fc.constant('duplicate' as const) }),
);

function applyEdit(doc: unknown, path: Path, e: Edit): unknown {
  if (path.length === 0) return e.op === 'set' ? e.value : doc;
  const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], doc) as Record<string | number, unknown> | unknown[];
  const k = path[path.length - 1]!;
  const p = parent as Record<string | number, unknown>;
  switch (e.op) {
    case 'set':
      p[k] = e.value;
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(k as number, 1);
      else delete p[k];
      break;
    case 'nudge':
      if (typeof p[k] === 'number') p[k] = (p[k] as number) + e.by;
      break;
    case 'duplicate':
      if (Array.isArray(parent)) parent.splice(k as number, 0, structuredClone(parent[k as number]));
      break;
  }
  return doc;
}

test('JSON edits of plain recipes: a valid recipe or RECIPE_*', () => {
  const seen = new Map<string, number>();
  for (const encrypted of [false, true]) {
    const text = serializeRecipe(sampleRecipe(encrypted)).toString();
    const all = paths(JSON.parse(text));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(all.length - 1), edit), { minLength: 1, maxLength: 3 }), (edits) => {
        let doc: unknown = JSON.parse(text);
        for (const [i, e] of edits) {
          try {
            doc = applyEdit(doc, all[i]!, e);
          } catch {
            // the path no longer exists after an earlier edit
          }
        }
        const c = outcome(Buffer.from(JSON.stringify(doc) ?? 'undefined'));
        seen.set(c, (seen.get(c) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: 600 },
    );
  }
  assert.ok((seen.get('ok') ?? 0) > 0 && (seen.get('RECIPE_INVALID') ?? 0) > 0, JSON.stringify([...seen]));
});

type ByteMutation = { kind: 'flip'; at: number; bit: number } | { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; bytes: Uint8Array };

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

function mutateBytes(b: Buffer, ms: ByteMutation[]): Buffer {
  let out = Buffer.from(b);
  for (const m of ms) {
    const at = m.at % Math.max(1, out.length);
    if (m.kind === 'flip') out[at]! ^= 1 << m.bit;
    else if (m.kind === 'truncate') out = out.subarray(0, at);
    else out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
  }
  return out;
}

test('byte damage to plain recipes: a valid recipe or RECIPE_*', () => {
  for (const encrypted of [false, true]) {
    const bytes = serializeRecipe(sampleRecipe(encrypted));
    fc.assert(
      fc.property(fc.array(byteMutation, { minLength: 1, maxLength: 4 }), (ms) => {
        outcome(mutateBytes(bytes, ms));
      }),
      { seed: SEED, numRuns: 800 },
    );
  }
});

test('byte damage to encrypted envelopes: never a recipe', () => {
  const sealed = encryptRecipe(sampleRecipe(true), tenantKey);
  fc.assert(
    fc.property(fc.array(byteMutation, { minLength: 1, maxLength: 4 }), (ms) => {
      const bad = mutateBytes(sealed, ms);
      fc.pre(!bad.equals(sealed));
      const c = outcome(bad, tenantKey);
      // Only damage that JSON does not see (whitespace between tokens) can pass.
      if (c === 'ok') assert.deepEqual(JSON.parse(bad.toString()), JSON.parse(sealed.toString()));
    }),
    { seed: SEED, numRuns: 1500 },
  );
});
