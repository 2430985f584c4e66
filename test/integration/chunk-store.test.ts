// Chunks, recipes and the store, end to end with the CLI: round trips of
// every fixture image, dedup across images, encryption, and bad input.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureLayout, fixturesJson, IMAGES, skipWithoutFixtures } from '../helpers/fixtures.js';
import { isRoot, run, smr, smrOk as ok } from '../helpers/run.js';

const skip = skipWithoutFixtures();

async function digestOf(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

async function chunkFiles(store: string): Promise<string[]> {
  const out: string[] = [];
  const base = join(store, 'chunks', 'sha256');
  for (const sub of await readdir(base).catch(() => [] as string[])) {
    for (const n of await readdir(join(base, sub))) out.push(join(base, sub, n));
  }
  return out;
}

async function storeBytes(store: string): Promise<number> {
  let n = 0;
  for (const f of await chunkFiles(store)) n += (await stat(f)).size;
  return n;
}

describe('chunk store round trips and dedup', { skip }, () => {
  let work: string;
  let store: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-chunks-'));
    store = join(work, 'store');
  });
  after(async () => rm(work, { recursive: true, force: true }));

  for (const name of IMAGES) {
    it(`${name}: convert then cat gives the bytes of build; verify --image passes with random reads`, async () => {
      const img = join(work, `${name}.img`);
      const recipe = join(work, `${name}.recipe`);
      await ok(['build', `oci:${fixtureLayout(name)}`, '-o', img, '-q']);
      await ok(['convert', `oci:${fixtureLayout(name)}`, '--store', store, '-o', recipe, '-q']);
      const back = join(work, `${name}.cat`);
      await ok(['cat', recipe, '--store', store, '-o', back, '-q']);
      assert.equal(await digestOf(back), await digestOf(img));
      await ok(['verify', recipe, '--store', store, '--image', img, '--reads', '3000', '-q']);
      await rm(back);
      const size = (await stat(img)).size;
      assert.ok((await stat(recipe)).size < size / 1000, 'the recipe stays under 0.1% of the image');
    });
  }

  it('dedup: the store against the images and their layers; diff shows what is shared', async (t) => {
    let used = 0;
    for (const name of IMAGES) {
      const r = await ok(['inspect', join(work, `${name}.recipe`)]);
      const m = /stored:\s+/.exec(r.stdout);
      assert.ok(m);
      used += (await stat(join(work, `${name}.img`))).blocks * 512;
    }
    const layers = new Map<string, number>();
    for (const img of fixturesJson().images) for (const l of img.layers ?? []) if (IMAGES.includes(img.name as never)) layers.set(l.digest, l.size);
    const gz = [...layers.values()].reduce((a, b) => a + b, 0);
    const stored = await storeBytes(store);
    t.diagnostic(`store ${(stored / 1e6).toFixed(1)} MB for 5 images: their allocated ext4 bytes ${(used / 1e6).toFixed(1)} MB, their distinct compressed layers ${(gz / 1e6).toFixed(1)} MB`);
    assert.ok(stored < used);
    for (const [a, b] of [['base', 'python3'], ['debian-slim', 'debian-python']]) {
      const d = JSON.parse((await ok(['diff', join(work, `${a}.recipe`), join(work, `${b}.recipe`), '--json'])).stdout);
      t.diagnostic(`diff ${a} ${b}: ${d.shared.distinct} of ${d.a.distinct} distinct chunks of ${a} shared; ${b} adds ${d.bAdds.chunks} chunks (${(d.bAdds.storedBytes / 1e6).toFixed(1)} MB stored)`);
      assert.ok(d.shared.distinct > 0);
    }
  });

  it('two converts into one store at once both succeed, every chunk intact', async () => {
    const s2 = join(work, 'store2');
    const [a, b] = await Promise.all([
      smr(['convert', `oci:${fixtureLayout('python3')}`, '--store', s2, '-o', join(work, 'c1.recipe'), '-q']),
      smr(['convert', `oci:${fixtureLayout('base')}`, '--store', s2, '-o', join(work, 'c2.recipe'), '-q']),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    for (const f of await chunkFiles(s2)) assert.equal(await digestOf(f), f.split('/').pop());
    await ok(['verify', join(work, 'c1.recipe'), '--store', s2, '-q']);
    await ok(['verify', join(work, 'c2.recipe'), '--store', s2, '-q']);
  });
});

describe('convergent encryption', { skip }, () => {
  let work: string;
  let key: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-enc-'));
    key = join(work, 'tenant.key');
    await writeFile(key, createHash('sha256').update('tenant a').digest('hex'), { mode: 0o600 });
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('no plaintext in the store; same salt adds nothing; another salt shares nothing; wrong key refused; flips detected', async () => {
    const s = join(work, 'store');
    const src = `oci:${fixtureLayout('static')}`;
    await ok(['convert', src, '--store', s, '-o', join(work, 'a.recipe'), '--encrypt', '--key-file', key, '--salt', 'tenant-a', '-q']);
    // Strings that are in the image, plainly (the CA bundle, /etc/passwd).
    for (const needle of ['BEGIN CERTIFICATE', 'nonroot:x:65532', 'lost+found']) {
      const g = await run('grep', ['-r', '-l', '-F', needle, s]);
      assert.equal(g.stdout, '', `'${needle}' found in the store`);
    }
    const before = (await chunkFiles(s)).length;
    const again = await ok(['convert', src, '--store', s, '-o', join(work, 'b.recipe'), '--encrypt', '--key-file', key, '--salt', 'tenant-a']);
    assert.match(again.stdout, / 0 new chunks/);
    assert.equal((await chunkFiles(s)).length, before);
    await ok(['convert', src, '--store', s, '-o', join(work, 'c.recipe'), '--encrypt', '--key-file', key, '--salt', 'tenant-b', '-q']);
    const d = JSON.parse((await ok(['diff', join(work, 'a.recipe'), join(work, 'c.recipe'), '--json', '--key-file', key])).stdout);
    assert.equal(d.shared.distinct, 0);
    await ok(['verify', join(work, 'a.recipe'), '--store', s, '--key-file', key, '-q']);

    const wrong = join(work, 'wrong.key');
    await writeFile(wrong, Buffer.alloc(32, 7), { mode: 0o600 });
    const w = await smr(['verify', join(work, 'a.recipe'), '--store', s, '--key-file', wrong]);
    assert.equal(w.code, 1);
    assert.match(w.stderr, /another key/);
    const none = await smr(['verify', join(work, 'a.recipe'), '--store', s]);
    assert.match(none.stderr, /encrypted: give --key-file/);

    // A flipped bit in the recipe.
    const rb = await readFile(join(work, 'a.recipe'));
    const env = JSON.parse(rb.toString());
    const ct = Buffer.from(env.ciphertext, 'base64');
    ct[100]! ^= 1;
    env.ciphertext = ct.toString('base64');
    await writeFile(join(work, 'flipped.recipe'), JSON.stringify(env));
    const f = await smr(['verify', join(work, 'flipped.recipe'), '--store', s, '--key-file', key]);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /does not authenticate/);

    // A flipped bit in a stored chunk.
    const victim = (await chunkFiles(s))[0]!;
    const vb = await readFile(victim);
    vb[vb.length >> 1]! ^= 0x10;
    await writeFile(victim, vb);
    const v = await smr(['verify', join(work, 'a.recipe'), '--store', s, '--key-file', key]);
    const v2 = await smr(['verify', join(work, 'c.recipe'), '--store', s, '--key-file', key]);
    assert.ok(v.code === 1 || v2.code === 1);
    assert.match(v.stderr + v2.stderr, /does not match its digest/);
  });
});

describe('bad input and failing stores', { skip }, () => {
  let work: string;
  let store: string;
  let recipe: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-badstore-'));
    store = join(work, 'store');
    recipe = join(work, 'static.recipe');
    await ok(['convert', `oci:${fixtureLayout('static')}`, '--store', store, '-o', recipe, '-q']);
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('a missing and a truncated chunk: verify names them, cat fails cleanly', async () => {
    const files = await chunkFiles(store);
    await unlink(files[0]!);
    const b = await readFile(files[1]!);
    await writeFile(files[1]!, b.subarray(0, b.length - 1));
    const v = await smr(['verify', recipe, '--store', store]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /is not in store/);
    assert.match(v.stderr, /does not match its digest/);
    const out = join(work, 'out.img');
    const c = await smr(['cat', recipe, '--store', store, '-o', out]);
    assert.equal(c.code, 1);
    assert.doesNotMatch(c.stderr, /\n\s+at /);
    assert.deepEqual((await readdir(work)).filter((f) => f.includes('out.img')), []);
  });

  it('an unknown recipe version and a recipe that is not JSON are refused clearly', async () => {
    const text = (await readFile(recipe, 'utf8')).replace('"version":1', '"version":2');
    await writeFile(join(work, 'v2.recipe'), text);
    const r = await smr(['inspect', join(work, 'v2.recipe')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /recipe version 2 is not supported/);
    await writeFile(join(work, 'junk.recipe'), 'not json');
    assert.match((await smr(['inspect', join(work, 'junk.recipe')])).stderr, /not a valid recipe/);
  });

  it('a store that is not writable', { skip: isRoot() ? false : 'needs root for mounts' }, async () => {
    const ro = join(work, 'ro');
    await mkdir(ro);
    assert.equal((await run('mount', ['-t', 'tmpfs', '-o', 'size=4m,ro', 'tmpfs', ro])).code, 0);
    try {
      const r = await smr(['convert', `oci:${fixtureLayout('static')}`, '--store', join(ro, 's'), '-o', join(work, 'x.recipe'), '-q']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not writable/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    } finally {
      await run('umount', [ro]);
    }
  });

  it('a disk that fills up: STORE_FULL, and no half-written chunk under a final name', { skip: isRoot() ? false : 'needs root for mounts' }, async () => {
    const small = join(work, 'small');
    await mkdir(small);
    assert.equal((await run('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', small])).code, 0);
    try {
      const s = join(small, 's');
      const r = await smr(['convert', `oci:${fixtureLayout('base')}`, '--store', s, '-o', join(work, 'full.recipe'), '-q', '--compression', 'none']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no space left/);
      for (const f of await chunkFiles(s)) {
        if (f.split('/').pop()!.startsWith('.tmp')) assert.fail(`temporary file left: ${f}`);
        assert.equal(await digestOf(f), f.split('/').pop());
      }
    } finally {
      await run('umount', [small]);
    }
  });

  it('gc keeps what kept recipes use, deletes the rest after the grace period, and never loses a chunk of a concurrent convert', async () => {
    const s = join(work, 'gcstore');
    await ok(['convert', `oci:${fixtureLayout('static')}`, '--store', s, '-o', join(work, 'keep.recipe'), '-q']);
    await ok(['convert', `oci:${fixtureLayout('base')}`, '--store', s, '-o', join(work, 'drop.recipe'), '-q']);
    // Age everything so only the grace logic protects chunks.
    const old = new Date(Date.now() - 3 * 3600_000);
    for (const f of await chunkFiles(s)) await import('node:fs/promises').then((fs) => fs.utimes(f, old, old));
    const dry = await ok(['gc', '--store', s, '--keep', join(work, 'keep.recipe'), '--dry-run']);
    assert.match(dry.stdout, /would delete [1-9]/);
    // gc races a convert of base (which re-uses the old chunks).
    const [g, c] = await Promise.all([
      smr(['gc', '--store', s, '--keep', join(work, 'keep.recipe'), '--grace', '1h', '-q']),
      smr(['convert', `oci:${fixtureLayout('base')}`, '--store', s, '-o', join(work, 'again.recipe'), '-q']),
    ]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(c.code, 0, c.stderr);
    await ok(['verify', join(work, 'keep.recipe'), '--store', s, '-q']);
    await ok(['verify', join(work, 'again.recipe'), '--store', s, '-q']);
    // Now nothing refreshed the dropped image's chunks except the new convert: gc with it kept deletes nothing it needs.
    await ok(['gc', '--store', s, '--keep', join(work, 'keep.recipe'), '--keep', join(work, 'again.recipe'), '--grace', '0s', '-q']);
    await ok(['verify', join(work, 'again.recipe'), '--store', s, '-q']);
    await chmod(s, 0o755);
  });
});
