// --level end to end: chunks written at other levels, mixed with the
// default's in one store, give back the image that build writes; a higher
// level stores fewer bytes; a bad level is a one-line usage error.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEVEL_RANGE } from '../../src/chunk/compress.js';
import { readRecipe } from '../../src/store/recipe-io.js';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { smr, smrOk as ok } from '../helpers/run.js';

const skip = skipWithoutFixtures();

async function storedBytes(recipe: string): Promise<number> {
  return (await readRecipe(recipe)).chunks.reduce((n, c) => n + c.storedLength, 0);
}

describe('--level', { skip }, () => {
  let work: string;
  let img: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-level-'));
    img = join(work, 'static.img');
    await ok(['build', `oci:${fixtureLayout('static')}`, '-o', img, '-q']);
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('convert and chunk at other levels, into a store of default-level chunks: cat gives the image back', async () => {
    const store = join(work, 'store');
    const levels = ['default', '3', '9'];
    const recipes = levels.map((l) => join(work, `convert-${l}.recipe`));
    for (const [i, level] of levels.entries()) {
      await ok(['convert', `oci:${fixtureLayout('static')}`, '--store', store, '-o', recipes[i]!, '-q', ...(level === 'default' ? [] : ['--level', level])]);
    }
    // The slowest level on the image's first MiB only (superblock, group descriptors, bitmaps, inodes).
    const head = join(work, 'head.img');
    await writeFile(head, (await readFile(img)).subarray(0, 1 << 20));
    const chunks: [string, string][] = [
      [img, 'gzip'],
      [head, 'zstd'],
    ];
    for (const [file, compression] of chunks) {
      const r = join(work, `chunk-${compression}.recipe`);
      await ok(['chunk', file, '--store', store, '-o', r, '-q', '--compression', compression, '--level', String(LEVEL_RANGE[compression as 'zstd' | 'gzip'].max)]);
      recipes.push(r);
    }
    for (const [i, r] of recipes.entries()) {
      const back = join(work, 'back.img');
      await ok(['cat', r, '--store', store, '-o', back, '-q']);
      assert.ok((await readFile(i === recipes.length - 1 ? head : img)).equals(await readFile(back)), r);
      await ok(['verify', r, '--store', store, '-q']);
    }
    const [dflt, three, nine] = await Promise.all(recipes.slice(0, 3).map(storedBytes));
    assert.ok(nine! < three! && three! < dflt!, `stored bytes: default ${dflt}, level 3 ${three}, level 9 ${nine}`);
  });

  it('a level out of range, 0, or with --compression none: a one-line usage error', async () => {
    for (const args of [['--level', '20'], ['--level', '0'], ['--level=-3'], ['--level', 'fast'], ['--level', '10', '--compression', 'gzip'], ['--level', '3', '--compression', 'none']]) {
      const r = await smr(['chunk', img, '--store', join(work, 'bad'), '-o', join(work, 'bad.recipe'), ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /--level/);
    }
  });
});
