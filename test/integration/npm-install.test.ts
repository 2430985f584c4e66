// The project as users get it: `npm pack`, then `npm install -g` of the
// tarball into a temporary prefix. No compiler, no install script, no
// dependency to fetch; the installed `smr` prints package.json's version,
// builds an image from a zstd layer that e2fsck passes, and chunks it with
// zstd (never a silent fallback to gzip).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { CODEC_GZIP, CODEC_ZSTD } from '../../src/chunk/compress.js';
import { e2fsck } from '../helpers/ext4.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { haveCommand, run } from '../helpers/run.js';
import { archive, entry } from '../helpers/tar-build.js';

const T = { timeout: 300_000 };

/** Every file under dir, recursively (paths relative to it). */
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('npm pack + npm install -g --prefix', { skip: haveCommand('npm') && haveCommand('e2fsck') ? false : 'needs npm and e2fsck' }, () => {
  let work: string;
  let prefix: string;
  let smrBin: string;
  const version = async () => (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-npm-'));
    prefix = join(work, 'prefix');
    smrBin = join(prefix, 'bin', 'smr');
    // The npm cache too, so that nothing outside work is touched.
    const env = { ...process.env, npm_config_cache: join(work, 'npm-cache'), npm_config_update_notifier: 'false' };
    const pack = await run('npm', ['pack', '--pack-destination', work, '--json'], { cwd: REPO_ROOT, env });
    assert.equal(pack.code, 0, pack.stderr);
    const [packed] = JSON.parse(pack.stdout) as Array<{ filename: string }>;
    const install = await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', join(work, packed!.filename)], { env });
    assert.equal(install.code, 0, install.stderr);
    // npm names any install script it ran or held back; there must be none.
    assert.doesNotMatch(install.stdout + install.stderr, /install-scripts|node-gyp|allowScripts/);
  }, T);
  after(async () => rm(work, { recursive: true, force: true }));

  it('installs no native code and nothing to build', async () => {
    const pkgDir = join(prefix, 'lib', 'node_modules', 'stream-my-root');
    const files = await filesUnder(pkgDir);
    assert.ok(files.some((f) => f.endsWith(join('dist', 'src', 'cli', 'main.js'))), 'the build is in the package');
    assert.deepEqual(files.filter((f) => /\.node$|binding\.gyp$/.test(f)), []);
    // Dependencies (the AWS SDK) are plain JavaScript: none may run an
    // install script, which npm refuses by default for global installs.
    const withScripts: string[] = [];
    for (const f of files.filter((f) => f.endsWith(`${sep}package.json`) && f.includes(`${sep}node_modules${sep}`))) {
      const scripts = (JSON.parse(await readFile(f, 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
      if (['preinstall', 'install', 'postinstall'].some((k) => k in scripts)) withScripts.push(f);
    }
    assert.deepEqual(withScripts, [], 'no install scripts');
  });

  it("smr --version prints package.json's version", async () => {
    const r = await run(smrBin, ['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `stream-my-root ${await version()}\n`);
  });

  it('smr build makes an image e2fsck passes, and smr chunk stores zstd chunks', T, async () => {
    const layout = join(work, 'layout');
    const text = 'stream-my-root '.repeat(20_000);
    const layer = archive(
      entry({ name: 'etc/', typeflag: '5', mode: 0o755 }),
      entry({ name: 'etc/hostname' }, 'smr\n'),
      entry({ name: 'usr/', typeflag: '5', mode: 0o755 }),
      entry({ name: 'usr/share/', typeflag: '5', mode: 0o755 }),
      entry({ name: 'usr/share/words.txt' }, text),
    );
    await writeOciLayout(layout, [layer], { compress: 'zstd' });
    const img = join(work, 'x.img');
    const b = await run(smrBin, ['build', `oci:${layout}`, '-o', img, '-q']);
    assert.equal(b.code, 0, b.stderr);
    const fsck = await e2fsck(img);
    assert.ok(fsck.ok, fsck.output);

    const store = join(work, 'store');
    const c = await run(smrBin, ['chunk', img, '--store', store, '-o', join(work, 'x.recipe'), '-q']);
    assert.equal(c.code, 0, c.stderr);
    const codecs = new Set<number>();
    for (const f of await filesUnder(join(store, 'chunks'))) {
      const fh = await open(f, 'r');
      const { buffer } = await fh.read({ buffer: Buffer.alloc(1), position: 0 });
      await fh.close();
      codecs.add(buffer[0]!);
    }
    assert.ok(codecs.has(CODEC_ZSTD), `codec bytes seen: ${[...codecs].join(', ')}`);
    assert.equal(codecs.has(CODEC_GZIP), false);
  });
});
