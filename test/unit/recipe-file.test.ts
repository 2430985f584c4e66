// Recipe files: atomic writes (a temporary file, then rename; none left
// behind on failure), clear errors for missing directories, permissions and
// a full disk, and reading with or without a key file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRecipeFile, serializeRecipe, writeRecipeFile } from '../../src/chunk/recipe.js';
import { RECIPE_MEDIA_TYPE, type Recipe } from '../../src/chunk/types.js';
import { isSmrError } from '../../src/util/errors.js';
import { withSmallTmpfs } from '../helpers/small-tmpfs.js';

function recipe(encrypted: boolean, chunks = 3): Recipe {
  return {
    mediaType: RECIPE_MEDIA_TYPE,
    version: 1,
    source: { reference: 'localhost/file-test:1' },
    imageSize: chunks * 65536,
    chunkSize: 65536,
    encoding: encrypted ? { compression: 'zstd', encryption: 'convergent-aes-256-ctr' } : { compression: 'zstd', encryption: 'none' },
    chunks: Array.from({ length: chunks }, (_, index) => ({ index, digest: index.toString(16).padStart(64, '0'), storedLength: 500, ...(encrypted ? { key: Buffer.alloc(32, index + 1) } : {}) })),
  };
}

async function rejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => isSmrError(e) && e.code === code && (message === undefined || message.test(e.message)));
}

async function scratch(t: { after(f: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'smr-recipe-file-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const isRoot = process.getuid?.() === 0;

test('write then read, plain and encrypted; overwrites are whole', async (t) => {
  const dir = await scratch(t);
  const plainPath = join(dir, 'plain.recipe.json');
  await writeRecipeFile(plainPath, recipe(false));
  assert.deepEqual(await readFile(plainPath), serializeRecipe(recipe(false)));
  assert.deepEqual(await readRecipeFile(plainPath), recipe(false));
  await writeRecipeFile(plainPath, recipe(false, 1));
  assert.deepEqual(await readRecipeFile(plainPath), recipe(false, 1));

  const key = Buffer.alloc(32, 0x42);
  const keyFile = join(dir, 'tenant.key');
  await writeFile(keyFile, `${key.toString('hex')}\n`, { mode: 0o600 });
  const sealedPath = join(dir, 'sealed.recipe.json');
  await writeRecipeFile(sealedPath, recipe(true), { key });
  assert.deepEqual(await readRecipeFile(sealedPath, { keyFile }), recipe(true));
  await rejects(readRecipeFile(sealedPath), 'RECIPE_KEY_REQUIRED', /sealed\.recipe\.json: this recipe is encrypted: give --key-file/);
  const otherKey = join(dir, 'other.key');
  await writeFile(otherKey, Buffer.alloc(32, 0xc3), { mode: 0o600 });
  await rejects(readRecipeFile(sealedPath, { keyFile: otherKey }), 'RECIPE_WRONG_KEY');
  await rejects(readRecipeFile(sealedPath, { keyFile: join(dir, 'missing.key') }), 'KEY_NOT_FOUND');
  // Readable by others: refused as ssh refuses such keys, without a word of the key.
  const looseKey = join(dir, 'loose.key');
  await writeFile(looseKey, `${key.toString('hex')}\n`);
  await chmod(looseKey, 0o640);
  await rejects(readRecipeFile(sealedPath, { keyFile: looseKey }), 'KEY_PERMISSIONS', /loose\.key is accessible by others \(mode 640\); run: chmod 600/);
  // A plain recipe never needs the key file.
  assert.deepEqual(await readRecipeFile(plainPath, { keyFile: join(dir, 'missing.key') }), recipe(false, 1));

  // The chunk keys never go to disk in the clear.
  await rejects(writeRecipeFile(join(dir, 'leak.json'), recipe(true)), 'RECIPE_KEY_REQUIRED');
  assert.deepEqual((await readdir(dir)).sort(), ['loose.key', 'other.key', 'plain.recipe.json', 'sealed.recipe.json', 'tenant.key']);
});

test('reading: missing, a directory, not a recipe', async (t) => {
  const dir = await scratch(t);
  await rejects(readRecipeFile(join(dir, 'nope.json')), 'RECIPE_NOT_FOUND', /nope\.json does not exist/);
  await rejects(readRecipeFile(dir), 'RECIPE_UNREADABLE', /not a file/);
  await writeFile(join(dir, 'x.json'), '{"hello":1}');
  await rejects(readRecipeFile(join(dir, 'x.json')), 'RECIPE_INVALID', /x\.json: not a valid recipe: mediaType/);
});

test('write failures are clear and leave no temporary file', async (t) => {
  const dir = await scratch(t);
  await rejects(writeRecipeFile(join(dir, 'no', 'such', 'r.json'), recipe(false)), 'OUTPUT_FAILED', /directory .*no\/such does not exist/);
  await writeFile(join(dir, 'file'), 'x');
  await rejects(writeRecipeFile(join(dir, 'file', 'r.json'), recipe(false)), 'OUTPUT_FAILED', /not a directory/);
  await mkdir(join(dir, 'taken'));
  await rejects(writeRecipeFile(join(dir, 'taken'), recipe(false)), 'OUTPUT_FAILED', /directory is in the way/);
  assert.deepEqual((await readdir(dir)).sort(), ['file', 'taken']);
});

test('write failure: permission denied', { skip: !isRoot ? 'needs root to run a child as nobody' : false }, async (t) => {
  const dir = await scratch(t);
  await chmod(dir, 0o755);
  const recipeJs = fileURLToPath(new URL('../../src/chunk/recipe.js', import.meta.url));
  const script = `
    import { writeRecipeFile } from ${JSON.stringify(recipeJs)};
    try { await writeRecipeFile(process.argv[1], JSON.parse(process.argv[2])); console.log('written'); }
    catch (e) { console.log(e.code + ': ' + e.message); }`;
  const plain = { ...recipe(false), chunks: [] };
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, join(dir, 'r.json'), JSON.stringify(plain)], { uid: 65534, gid: 65534, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^OUTPUT_FAILED: cannot write recipe .*r\.json: \S+ is not writable: permission denied \(EACCES\)$/m);
  assert.deepEqual(await readdir(dir), []);
});

test('write failure: no space left', { skip: !isRoot ? 'needs root to mount a small tmpfs' : false }, async (t) => {
  await withSmallTmpfs(t, await scratch(t), '64k', async (mnt) => {
    await rejects(writeRecipeFile(join(mnt, 'big.json'), recipe(false, 4000)), 'OUTPUT_FAILED', /no space left/);
    assert.deepEqual(await readdir(mnt), []);
    // A small one still fits: nothing was left taking the space.
    await writeRecipeFile(join(mnt, 'small.json'), recipe(false, 2));
    assert.deepEqual(await readRecipeFile(join(mnt, 'small.json')), recipe(false, 2));
  });
});
