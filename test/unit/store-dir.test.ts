import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DirStore } from '../../src/store/dir/dir-store.js';
import { openStore, openWritableStore } from '../../src/store/index.js';
import { age, chunkFile, inspectTree, tempDir, testChunk, testChunks } from '../helpers/store-chunks.js';

async function collectList(store: DirStore) {
  const out = [];
  for await (const c of store.list()) out.push(c);
  return out;
}

let work: string;
before(async () => {
  work = await tempDir('dir');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('DirStore', () => {
  it('round-trips chunks: put, has, get, list, in the documented layout', async () => {
    const root = join(work, 'round-trip');
    const store = new DirStore(root);
    const chunks = testChunks('rt', 20, 3000);
    for (const c of chunks) assert.equal(await store.put(c.name, c.data), true);
    for (const c of chunks) {
      assert.equal(await store.has(c.name), true);
      assert.deepEqual(await store.get(c.name), c.data);
      assert.ok(existsSync(chunkFile(root, c.name)));
    }
    const listed = await collectList(store);
    assert.deepEqual(listed.map((c) => c.name).sort(), chunks.map((c) => c.name).sort());
    for (const c of listed) {
      assert.equal(c.size, 3000);
      assert.ok(Math.abs(c.mtimeMs - Date.now()) < 60_000);
    }
    assert.deepEqual(JSON.parse(await readFile(join(root, 'smr-store.json'), 'utf8')), { format: 'stream-my-root-store', version: 1 });
    // Chunks never change: stored read-only.
    assert.equal((await stat(chunkFile(root, chunks[0]!.name))).mode & 0o777, 0o444);
    await store.close();
    const t = await inspectTree(root);
    assert.deepEqual([t.corrupt, t.temps, t.trash], [[], [], []]);
  });

  it('putting a chunk that is there returns false, keeps the bytes and refreshes its mtime', async () => {
    const root = join(work, 'refresh');
    const store = new DirStore(root);
    const c = testChunk('refresh', 0);
    assert.equal(await store.put(c.name, c.data), true);
    await age(root, [c.name], 3_600_000);
    const before = Date.now();
    assert.equal(await store.put(c.name, c.data), false);
    const s = await stat(chunkFile(root, c.name));
    assert.ok(s.mtimeMs >= before - 5, `mtime ${s.mtimeMs} refreshed (put at ${before})`);
    assert.deepEqual(await store.get(c.name), c.data);
  });

  it('refuses names that are not 64 lowercase hex digits, before touching the file system', async () => {
    const root = join(work, 'names');
    const store = new DirStore(root);
    const good = testChunk('names', 0).name;
    const bad = ['', 'abc', good.toUpperCase(), `${good}0`, good.slice(1), `../../${good.slice(6)}`, `${good.slice(0, 63)}g`, `${good.slice(0, 2)}/${good.slice(3)}`];
    for (const name of bad) {
      await assert.rejects(store.put(name, Buffer.from('x')), { code: 'CHUNK_NAME' }, `put '${name}'`);
      await assert.rejects(store.get(name), { code: 'CHUNK_NAME' });
      await assert.rejects(store.has(name), { code: 'CHUNK_NAME' });
      await assert.rejects(store.deleteIfUnusedSince(name, Date.now()), { code: 'CHUNK_NAME' });
    }
    assert.equal(existsSync(root), false, 'no directory was created');
  });

  it('a missing chunk is CHUNK_MISSING, naming the digest and the store', async () => {
    const root = join(work, 'missing-chunk');
    const store = new DirStore(root);
    const c = testChunk('missing', 0);
    await store.put(c.name, c.data);
    const absent = testChunk('missing', 1).name;
    assert.equal(await store.has(absent), false);
    await assert.rejects(store.get(absent), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'CHUNK_MISSING');
      assert.match(e.message, new RegExp(`chunk ${absent} is not in store .*missing-chunk`));
      return true;
    });
  });

  it('reading a store that does not exist is STORE_NOT_FOUND; writing creates it (mkdir -p)', async () => {
    const root = join(work, 'not-yet', 'deep', 'store');
    const store = new DirStore(root);
    const c = testChunk('nf', 0);
    await assert.rejects(store.get(c.name), { code: 'STORE_NOT_FOUND' });
    await assert.rejects(store.has(c.name), { code: 'STORE_NOT_FOUND' });
    await assert.rejects(collectList(store), { code: 'STORE_NOT_FOUND' });
    assert.equal(await store.put(c.name, c.data), true);
    assert.equal(await new DirStore(root).has(c.name), true);
  });

  it('a directory with other files and no marker is not a store, for reads and writes', async () => {
    const root = join(work, 'foreign');
    await mkdir(root);
    await writeFile(join(root, 'notes.txt'), 'mine\n');
    const store = new DirStore(root);
    const c = testChunk('foreign', 0);
    const invalid = { code: 'STORE_INVALID', message: `${root} is not a stream-my-root store (it has files but no smr-store.json)` };
    await assert.rejects(store.get(c.name), invalid);
    await assert.rejects(store.has(c.name), invalid);
    await assert.rejects(collectList(store), invalid);
    await assert.rejects(store.put(c.name, c.data), invalid);
    assert.equal(existsSync(join(root, 'chunks')), false, 'nothing written');
  });

  it('a regular file where the store should be is STORE_INVALID', async () => {
    const root = join(work, 'a-file');
    await writeFile(root, 'x');
    await assert.rejects(new DirStore(root).has(testChunk('f', 0).name), { code: 'STORE_INVALID' });
    await assert.rejects(new DirStore(root).put(testChunk('f', 0).name, Buffer.from('x')), { code: 'STORE_INVALID' });
  });

  it('a marker of another format version is STORE_VERSION; a foreign marker STORE_INVALID', async () => {
    const v2 = join(work, 'v2');
    await mkdir(v2);
    await writeFile(join(v2, 'smr-store.json'), JSON.stringify({ format: 'stream-my-root-store', version: 2 }));
    await assert.rejects(collectList(new DirStore(v2)), { code: 'STORE_VERSION' });
    await assert.rejects(new DirStore(v2).put(testChunk('v', 0).name, Buffer.from('x')), { code: 'STORE_VERSION' });
    const other = join(work, 'other-marker');
    await mkdir(other);
    await writeFile(join(other, 'smr-store.json'), '{"hello": 1}');
    await assert.rejects(collectList(new DirStore(other)), { code: 'STORE_INVALID' });
  });

  it('an empty directory reads as an empty store and becomes one on the first put', async () => {
    const root = join(work, 'empty');
    await mkdir(root);
    const store = new DirStore(root);
    const c = testChunk('empty', 0);
    assert.equal(await store.has(c.name), false);
    assert.deepEqual(await collectList(store), []);
    assert.equal(await store.put(c.name, c.data), true);
    assert.ok(existsSync(join(root, 'smr-store.json')));
  });

  it('list skips temporary files and anything that is not a chunk', async () => {
    const root = join(work, 'list-skip');
    const store = new DirStore(root);
    const c = testChunk('skip', 0);
    await store.put(c.name, c.data);
    const dir = join(root, 'chunks', 'sha256', c.name.slice(0, 2));
    await writeFile(join(dir, '.tmp-1-abc-0'), 'partial');
    await writeFile(join(dir, 'README'), 'x');
    // A chunk-shaped name in the wrong fan-out directory is not this chunk.
    const other = testChunk('skip', 1).name;
    const wrongDir = join(root, 'chunks', 'sha256', other.startsWith('00') ? '01' : '00');
    await mkdir(wrongDir, { recursive: true });
    await writeFile(join(wrongDir, other), 'x');
    assert.deepEqual((await collectList(store)).map((x) => x.name), [c.name]);
  });

  it('flush and close succeed with and without pending writes', async () => {
    const store = new DirStore(join(work, 'flush'));
    await store.flush();
    for (const c of testChunks('flush', 5)) await store.put(c.name, c.data);
    await store.flush();
    await store.flush();
    await store.close();
  });
});

describe('openStore', () => {
  it('takes dir:PATH and plain paths as directories', async () => {
    const a = (await openStore(`dir:${work}/x`)) as DirStore;
    assert.ok(a instanceof DirStore);
    assert.equal(a.root, join(work, 'x'));
    assert.equal(a.description, `dir:${join(work, 'x')}`);
    assert.equal(((await openStore('relative/store')) as DirStore).root, resolve('relative/store'));
    assert.equal(((await openStore('./with:colon')) as DirStore).root, resolve('with:colon'));
    assert.equal(((await openStore('dir:with:colon')) as DirStore).root, resolve('with:colon'));
  });

  it('refuses unknown schemes by name, listing the supported forms', async () => {
    for (const spec of ['oci://reg/repo', 'redis://h', 'ftp://x/y']) {
      await assert.rejects(openStore(spec), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'STORE_UNSUPPORTED', spec);
        assert.match(e.message, /unknown scheme '\w+:'; use dir:PATH or a plain PATH.*s3:\/\/BUCKET\[\/PREFIX\], http\(s\):\/\//);
        return true;
      });
    }
  });

  it('refuses malformed store URIs with one line', async () => {
    for (const spec of ['', 'dir:', 's3:bucket', 's3://', 's3://Bad_Bucket/x', 's3://ab', 's3://bucket/../x', 'https://', 'http://host/store?x=1']) {
      await assert.rejects(openStore(spec), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'USAGE', spec);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    }
  });

  it('refuses to write to a read-only store', async () => {
    await assert.rejects(openWritableStore('https://cdn.example/store'), { code: 'STORE_READ_ONLY' });
  });
});
