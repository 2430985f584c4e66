// smr copy --level/--compression: chunks re-encoded between two dir stores
// give back the same image under new names and fewer bytes, encrypted ones
// keep their keys, a re-run uploads nothing, a damaged source chunk stops
// the copy before any recipe is written, and bad options are usage errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, cp, mkdir, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeChunk } from '../../src/chunk/codec.js';
import { writeRecipeFile } from '../../src/chunk/recipe.js';
import { openWritableStore } from '../../src/store/index.js';
import { readRecipe } from '../../src/store/recipe-io.js';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { smr, smrOk as ok } from '../helpers/run.js';
import { chunkFile, inspectTree } from '../helpers/store-chunks.js';

const skip = skipWithoutFixtures();
const SOURCE = `oci:${fixtureLayout('static')}`;

async function storeBytes(root: string): Promise<number> {
  let n = 0;
  for (const name of (await inspectTree(root)).chunks) n += (await stat(chunkFile(root, name))).size;
  return n;
}

function assertOneLineUsageError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
}

describe('smr copy --level: chunks re-encoded on the way', { skip }, () => {
  let work: string;
  let key: string;
  let image: Buffer;
  const imageOf = async (recipe: string, store: string, extra: string[] = []) => {
    const out = join(work, 'cat.img');
    await ok(['cat', recipe, '--store', store, '-o', out, '-q', ...extra]);
    const bytes = await readFile(out);
    await rm(out);
    return bytes;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-copy-level-'));
    key = join(work, 'tenant.key');
    await writeFile(key, createHash('sha256').update('tenant c').digest('hex'), { mode: 0o600 });
    await ok(['convert', SOURCE, '--store', join(work, 'fast'), '-o', join(work, 'fast.json'), '-q']);
    image = await imageOf(join(work, 'fast.json'), join(work, 'fast'));
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('level 1 -> 19 into another store: the same image, new names, fewer bytes, verify passes', async () => {
    const fast = join(work, 'fast');
    const small = join(work, 'small');
    const r = await ok(['copy', join(work, 'fast.json'), '--from', fast, '--to', small, '--level', '19', '-o', join(work, 'small.json')]);
    assert.match(r.stdout, /re-encoded \d+ chunks at zstd 19: .+ -> .+; \d+ new chunks/);
    assert.ok((await imageOf(join(work, 'small.json'), small)).equals(image), 'cat of the new recipe differs from the old one');
    const [before, after] = await Promise.all([readRecipe(join(work, 'fast.json')), readRecipe(join(work, 'small.json'))]);
    assert.deepEqual(
      { source: after.source, imageSize: after.imageSize, chunkSize: after.chunkSize, encoding: after.encoding },
      { source: before.source, imageSize: before.imageSize, chunkSize: before.chunkSize, encoding: before.encoding },
    );
    assert.deepEqual(after.chunks.map((c) => c.index), before.chunks.map((c) => c.index));
    const oldNames = new Set(before.chunks.map((c) => c.digest));
    assert.ok(after.chunks.every((c) => !oldNames.has(c.digest)), 'a chunk kept its name');
    const [fastBytes, smallBytes] = await Promise.all([storeBytes(fast), storeBytes(small)]);
    assert.ok(smallBytes < fastBytes, `level 19 store ${smallBytes} bytes, level 1 store ${fastBytes}`);
    await ok(['verify', join(work, 'small.json'), '--store', small, '-q']);
  });

  it('encrypted: the plaintext comes back, keys and salt unchanged, names new', async () => {
    const fast = join(work, 'enc-fast');
    const small = join(work, 'enc-small');
    const k = ['--key-file', key];
    await ok(['convert', SOURCE, '--store', fast, '-o', join(work, 'enc-fast.json'), '--encrypt', '--salt', 'tenant-c', '-q', ...k]);
    await ok(['copy', join(work, 'enc-fast.json'), '--from', fast, '--to', small, '--level', '19', '-o', join(work, 'enc-small.json'), '-q', ...k]);
    assert.ok((await imageOf(join(work, 'enc-small.json'), small, k)).equals(image));
    const [before, after] = await Promise.all([readRecipe(join(work, 'enc-fast.json'), { keyFile: key }), readRecipe(join(work, 'enc-small.json'), { keyFile: key })]);
    assert.deepEqual(after.encoding, before.encoding);
    assert.deepEqual(
      after.chunks.map((c) => [c.index, c.key!.toString('hex')]),
      before.chunks.map((c) => [c.index, c.key!.toString('hex')]),
    );
    assert.ok(after.chunks.every((c, i) => c.digest !== before.chunks[i]!.digest));
    await ok(['verify', join(work, 'enc-small.json'), '--store', small, '-q', ...k]);
  });

  it('a re-run uploads nothing and writes the same recipe; after losing chunks, it puts back only those', async () => {
    const small = join(work, 'small');
    const again = join(work, 'again.json');
    const args = ['copy', join(work, 'fast.json'), '--from', join(work, 'fast'), '--to', small, '--level', '19', '-o', again];
    const r = await ok(args);
    assert.match(r.stdout, /; 0 new chunks \(0 B\)/);
    assert.ok((await readFile(again)).equals(await readFile(join(work, 'small.json'))));
    // An interrupted first copy: some chunks never arrived.
    const lost = (await readRecipe(again)).chunks.slice(0, 3).map((c) => c.digest);
    for (const name of lost) await unlink(chunkFile(small, name));
    const resumed = await ok(args);
    assert.match(resumed.stdout, new RegExp(`; ${new Set(lost).size} new chunks`));
    await ok(['verify', again, '--store', small, '-q']);
  });

  it('--compression gzip alone: its default level, a gzip recipe, the same image', async () => {
    const gz = join(work, 'gz');
    const r = await ok(['copy', join(work, 'fast.json'), '--from', join(work, 'fast'), '--to', gz, '--compression', 'gzip', '-o', join(work, 'gz.json')]);
    assert.match(r.stdout, /at gzip 1:/);
    assert.equal((await readRecipe(join(work, 'gz.json'))).encoding.compression, 'gzip');
    assert.ok((await imageOf(join(work, 'gz.json'), gz)).equals(image));
  });

  it('without --level or --compression: the bytes copied as they are, same recipe, into a store copy creates', async () => {
    const plain = join(work, 'new', 'plain'); // does not exist yet: copy makes it, as convert does
    const r = await ok(['copy', join(work, 'fast.json'), '--from', join(work, 'fast'), '--to', plain, '-o', join(work, 'plain.json')]);
    assert.match(r.stdout, /^copied \d+ chunks/);
    assert.ok((await readFile(join(work, 'plain.json'))).equals(await readFile(join(work, 'fast.json'))));
  });

  it('a bad level, --level with --compression none, or no -o: a one-line usage error, nothing written', async () => {
    const base = ['copy', join(work, 'fast.json'), '--from', join(work, 'fast'), '--to', join(work, 'never')];
    assertOneLineUsageError(await smr([...base, '--level', '99', '-o', join(work, 'never.json')]), /--level: '99' is not a zstd level/);
    assertOneLineUsageError(await smr([...base, '--level', '3', '--compression', 'none', '-o', join(work, 'never.json')]), /--level needs/);
    assertOneLineUsageError(await smr([...base, '--level', '19']), /-o NEW_RECIPE is required/);
    await assert.rejects(access(join(work, 'never')));
    await assert.rejects(access(join(work, 'never.json')));
  });

  it('a damaged chunk in the source store: CHUNK_CORRUPT, exit 1, no new recipe', async () => {
    const damaged = join(work, 'damaged');
    await cp(join(work, 'fast'), damaged, { recursive: true });
    const victim = chunkFile(damaged, (await readRecipe(join(work, 'fast.json'))).chunks[2]!.digest);
    const bytes = await readFile(victim);
    bytes[bytes.length >> 1]! ^= 0x40;
    await writeFile(victim, bytes);
    const out = join(work, 'from-damaged.json');
    const r = await smr(['copy', join(work, 'fast.json'), '--from', damaged, '--to', join(work, 'out'), '--level', '3', '-o', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /chunk [0-9a-f]{64} is corrupt: its content does not match its digest/);
    await assert.rejects(access(out));
  });
});

describe('smr copy RECIPE...: images on one base, published in one run', { skip }, () => {
  let work: string;
  const recipe = (name: string) => join(work, 'recipes', `${name}.json`);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-copy-several-'));
    await mkdir(join(work, 'recipes'));
    for (const name of ['base', 'python3']) {
      await ok(['convert', `oci:${fixtureLayout(name)}`, '--store', join(work, 'fast'), '-o', recipe(name), '-q']);
    }
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('chunks the recipes share are encoded once; the recipes are those of one copy each', async () => {
    const fast = join(work, 'fast');
    const r = await ok(['copy', recipe('base'), recipe('python3'), '--from', fast, '--to', join(work, 'small'), '--level', '3', '-o', join(work, 'out')]);
    // Every python3 chunk that base names too was encoded for base already.
    const [base, python3] = await Promise.all([readRecipe(recipe('base')), readRecipe(recipe('python3'))]);
    const baseNames = new Set(base.chunks.map((c) => c.digest));
    const shared = python3.chunks.filter((c) => baseNames.has(c.digest)).length;
    assert.ok(shared > 0, 'python3 shares no chunk with base');
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    assert.match(lines[0]!, /base\.json: re-encoded \d+ chunks at zstd 3: .*new chunks/);
    assert.doesNotMatch(lines[0]!, /shared with/);
    assert.match(lines[1]!, new RegExp(`python3\\.json: re-encoded ${python3.chunks.length - shared} chunks at zstd 3: .*; ${shared} shared with the recipes before it, not encoded again$`));
    // One copy per recipe, each into a store of its own, gives the same recipes.
    for (const name of ['base', 'python3']) {
      const alone = join(work, `alone-${name}.json`);
      await ok(['copy', recipe(name), '--from', fast, '--to', join(work, `alone-${name}`), '--level', '3', '-o', alone, '-q']);
      assert.ok((await readFile(join(work, 'out', `${name}.json`))).equals(await readFile(alone)), `${name}: the recipe differs from a copy of it alone`);
      await ok(['verify', join(work, 'out', `${name}.json`), '--store', join(work, 'small'), '-q']);
    }
  });

  it('without --level: both recipes, unchanged, into the -o directory; a chunk already copied is skipped', async () => {
    const r = await ok(['copy', recipe('base'), recipe('python3'), '--from', join(work, 'fast'), '--to', join(work, 'mirror'), '-o', join(work, 'mirrored')]);
    assert.match(r.stdout, /python3\.json: copied \d+ chunks .*; skipped [1-9]\d* already there/);
    for (const name of ['base', 'python3']) assert.ok((await readFile(join(work, 'mirrored', `${name}.json`))).equals(await readFile(recipe(name))));
  });

  it('a recipe that stores a chunk of zeros: left out of the new recipes, which both come out whole', async () => {
    // smr never stores such a chunk, but another writer's recipe may.
    const fast = join(work, 'fast');
    const r = await readRecipe(recipe('base'));
    const zeros = encodeChunk(Buffer.alloc(r.chunkSize), { compression: 'zstd', level: 1, encryption: 'none' });
    const store = await openWritableStore(fast);
    await store.put(zeros.digest, zeros.stored);
    await store.flush?.();
    await store.close?.();
    const used = new Set(r.chunks.map((c) => c.index));
    let index = 0;
    while (used.has(index)) index++;
    r.chunks = [...r.chunks, { index, digest: zeros.digest, storedLength: zeros.stored.length }].sort((a, b) => a.index - b.index);
    await mkdir(join(work, 'zeros'));
    for (const name of ['one', 'two']) await writeRecipeFile(join(work, 'zeros', `${name}.json`), r);
    await ok(['copy', join(work, 'zeros', 'one.json'), join(work, 'zeros', 'two.json'), '--from', fast, '--to', join(work, 'zeros-small'), '--level', '3', '-o', join(work, 'zeros-out'), '-q']);
    const [one, two] = await Promise.all(['one', 'two'].map((name) => readFile(join(work, 'zeros-out', `${name}.json`))));
    assert.ok(one!.equals(two!), 'the two new recipes differ');
    const out = await readRecipe(join(work, 'zeros-out', 'one.json'));
    assert.deepEqual(out.chunks.map((c) => c.index), r.chunks.filter((c) => c.index !== index).map((c) => c.index));
    await ok(['verify', join(work, 'zeros-out', 'two.json'), '--store', join(work, 'zeros-small'), '-q']);
  });

  it('two RECIPEs of one file name, or -o a file: a one-line usage error, nothing written', async () => {
    await cp(recipe('base'), join(work, 'base.json'));
    const base = ['copy', recipe('base'), join(work, 'base.json'), '--from', join(work, 'fast'), '--to', join(work, 'never'), '--level', '3'];
    assertOneLineUsageError(await smr([...base, '-o', join(work, 'never-out')]), /two RECIPEs are named base\.json/);
    const file = join(work, 'a-file');
    await writeFile(file, 'x');
    assertOneLineUsageError(await smr(['copy', recipe('base'), recipe('python3'), '--from', join(work, 'fast'), '--to', join(work, 'never'), '-o', file]), /-o .*a-file: cannot make the directory/);
    await assert.rejects(access(join(work, 'never-out')));
  });
});
