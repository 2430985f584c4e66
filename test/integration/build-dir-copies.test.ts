// Directory copies in layer regions (docs/ext4-layout.md): a layer's
// directories are written beside its files, an upper layer that changes one
// writes a new copy and leaves the old bytes; directories past the first
// inode-table chunk are numbered in their layer's range; a /lost+found an
// upper layer removed is made again, and the root that names it then lives
// in the header. Checked with e2fsck, the kernel's listing, the streaming
// writer (convert, then cat) and chunk sharing with the base image.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archive, entry } from '../helpers/tar-build.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { e2fsck, listing, parseListing, withLoopMount } from '../helpers/ext4.js';
import { isRoot, smr } from '../helpers/run.js';
import { openImage } from '../../src/oci/index.js';
import { buildImage, type HiddenData } from '../../src/image/build-image.js';
import { FileSink } from '../../src/sink/file-sink.js';
import { sharing } from '../helpers/chunk-overhead.js';

const dir = (name: string) => entry({ name: `${name}/`, typeflag: '5', mode: 0o755 });
const file = (name: string, content: string) => entry({ name }, content);
const MANY = 2100; // more directories than the first inode-table chunk holds

describe('directory copies in layer regions', { skip: isRoot() ? false : 'needs root for mount' }, () => {
  let work: string;
  let baseLayout: string;
  let derivedLayout: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-dircopies-'));
    await chmod(work, 0o755);
    const many = Array.from({ length: MANY }, (_, i) => [dir(`many/d${i}`), file(`many/d${i}/f`, `${i}`)]).flat();
    const l1 = archive(dir('etc'), file('etc/a', 'a'), file('etc/b', 'b'), dir('usr'), dir('usr/lib'), file('usr/lib/x', 'x'), dir('many'), ...many);
    const l2 = archive(
      file('etc/c', 'c'), // adds to a lower directory
      file('usr/lib/.wh.x', ''), // removes from one
      file('.wh.lost+found', ''), // the planner must make it again
      dir('new'), file('new/n', 'n'),
      dir('many/d7/more'), // a new directory past the first 2048 inodes
    );
    baseLayout = join(work, 'base');
    derivedLayout = join(work, 'derived');
    await writeOciLayout(baseLayout, [l1]);
    await writeOciLayout(derivedLayout, [l1, l2]);
  });
  after(async () => rm(work, { recursive: true, force: true }));

  async function build(layout: string, name: string, hidden: HiddenData = 'keep') {
    const image = await openImage(`oci:${layout}`);
    const path = join(work, `${name}-${hidden}.img`);
    const result = await buildImage(image, new FileSink(path), { hidden });
    await image.close();
    return { path, result, regions: result.regions };
  }

  it('e2fsck is clean and the kernel lists the derived tree, with hidden data kept or zeroed', async () => {
    for (const hidden of ['keep', 'zero'] as const) {
      const { path, regions } = await build(derivedLayout, 'derived', hidden);
      // The root no longer matches its copy in layer 1 (which lacks lost+found).
      assert.ok(regions.some((r) => r.what === 'directory blocks (image)'), 'the root is written in the header');
      const fsck = await e2fsck(path);
      assert.ok(fsck.ok, `${hidden}: ${fsck.output}`);
      const tree = parseListing(await withLoopMount(path, (m) => listing(m, 2 ** 40)));
      assert.equal(tree.get('/lost+found')?.type, 'd');
      assert.ok(tree.has('/etc/a') && tree.has('/etc/b') && tree.has('/etc/c'));
      assert.ok(!tree.has('/usr/lib/x') && tree.get('/usr/lib')?.type === 'd');
      assert.equal(tree.get('/new/n')?.size, '1');
      assert.equal(tree.get('/many/d7/more')?.type, 'd');
      assert.equal(tree.get(`/many/d${MANY - 1}/f`)?.size, String(`${MANY - 1}`.length));
      assert.equal([...tree.keys()].filter((p) => /^\/many\/d\d+$/.test(p)).length, MANY);
    }
  });

  it('the streaming writer (convert, then cat) gives the same bytes as the file writer', async () => {
    const { path } = await build(derivedLayout, 'derived');
    const store = join(work, 'store');
    const recipe = join(work, 'derived.recipe');
    const c = await smr(['convert', `oci:${derivedLayout}`, '--store', store, '-o', recipe, '-q']);
    assert.equal(c.code, 0, c.stderr);
    const out = join(work, 'derived-cat.img');
    const r = await smr(['cat', recipe, '--store', store, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readFile(out)).equals(await readFile(path)), 'cat of the recipe equals the built image');
  });

  it('the base\'s directory blocks reappear in the derived image', async (t) => {
    const s = await sharing(await build(baseLayout, 'base'), (await build(derivedLayout, 'derived')).path, 512 * 1024);
    t.diagnostic(`base -> derived: ${s.text}`);
    for (const m of s.missing) assert.ok(!m.holds.some((h) => h.startsWith('directory blocks (layer')), s.text);
  });
});
