// smr copy --level/--compression: chunks re-encoded between two dir stores
// give back the same image under new names and fewer bytes, encrypted ones
// keep their keys, a re-run uploads nothing, a damaged source chunk stops
// the copy before any recipe is written, and bad options are usage errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, cp, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
