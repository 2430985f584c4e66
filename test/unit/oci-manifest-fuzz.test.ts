// Corrupt image metadata (index.json, manifest, config) fed to openImage:
// every outcome is a success or an SmrError with a message, never another
// exception or a hang. Seeded, so a failure reproduces.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { openImage } from '../../src/oci/index.js';
import { isSmrError } from '../../src/util/errors.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { archive, entry } from '../helpers/tar-build.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'smr-mfuzz-'));
});
after(async () => rm(work, { recursive: true, force: true }));

/** JSON values that stand in for a field: wrong types, huge, odd strings. */
const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.constant('sha256:' + '0'.repeat(64)),
  fc.constant('sha512:abc'),
  fc.constant('../../etc/passwd'),
  fc.constant([]),
  fc.constant({}),
  fc.constant(-1),
  fc.constant(2 ** 53),
);

type Doc = 'index' | 'manifest' | 'config';
const mutation = fc.record({
  doc: fc.constantFrom<Doc>('index', 'manifest', 'config'),
  kind: fc.constantFrom('set', 'delete', 'truncate', 'garbage'),
  path: fc.array(fc.oneof(fc.constantFrom('manifests', 'layers', 'config', 'rootfs', 'diff_ids', 'digest', 'size', 'mediaType', 'schemaVersion', 'platform', 'architecture', 'os', 'annotations'), fc.nat(3)), { minLength: 1, maxLength: 4 }),
  value: junk,
  cut: fc.nat(),
});

function mutate(obj: unknown, path: Array<string | number>, kind: string, value: unknown): void {
  let cur = obj as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) {
    const next = cur?.[path[i]!];
    if (next === null || typeof next !== 'object') return;
    cur = next as Record<string | number, unknown>;
  }
  if (cur === null || typeof cur !== 'object') return;
  const last = path[path.length - 1]!;
  if (kind === 'delete') delete cur[last];
  else cur[last] = value;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

it('openImage on corrupted metadata: success or SmrError, never a crash', { timeout: 120_000 }, async () => {
  const base = join(work, 'base');
  await writeOciLayout(base, [archive(entry({ name: 'f' }, 'x'))]);
  const index = JSON.parse(await readFile(join(base, 'index.json'), 'utf8'));
  const mDigest: string = index.manifests[0].digest;
  const manifest = JSON.parse(await readFile(join(base, 'blobs/sha256', mDigest.slice(7)), 'utf8'));
  const config = JSON.parse(await readFile(join(base, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'));
  let n = 0;
  await fc.assert(
    fc.asyncProperty(mutation, async (m) => {
      const dir = join(work, `c${n++}`);
      await writeOciLayout(dir, [archive(entry({ name: 'f' }, 'x'))]);
      const docs = { index: structuredClone(index), manifest: structuredClone(manifest), config: structuredClone(config) };
      let bytes: Buffer | null = null;
      if (m.kind === 'set' || m.kind === 'delete') mutate(docs[m.doc as Doc], m.path, m.kind, m.value);
      const text = Buffer.from(JSON.stringify(docs[m.doc as Doc]));
      if (m.kind === 'truncate') bytes = text.subarray(0, m.cut % text.length);
      else if (m.kind === 'garbage') bytes = Buffer.concat([text.subarray(0, m.cut % text.length), Buffer.from('\u0000{]"\\')]);
      const out = bytes ?? text;
      // Write the mutated document where it belongs; keep digests honest so
      // the mutation reaches the parser rather than stopping at a digest check.
      if (m.doc === 'config') {
        await writeFile(join(dir, 'blobs/sha256', sha(out)), out);
        docs.manifest.config.digest = `sha256:${sha(out)}`;
        docs.manifest.config.size = out.length;
      }
      if (m.doc !== 'index') {
        const mb = m.doc === 'manifest' ? out : Buffer.from(JSON.stringify(docs.manifest));
        await writeFile(join(dir, 'blobs/sha256', sha(mb)), mb);
        docs.index.manifests[0].digest = `sha256:${sha(mb)}`;
        docs.index.manifests[0].size = mb.length;
      }
      await writeFile(join(dir, 'index.json'), m.doc === 'index' ? out : JSON.stringify(docs.index));
      try {
        const img = await openImage(`oci:${dir}`);
        await img.close();
      } catch (e) {
        assert.ok(isSmrError(e), `not an SmrError: ${(e as Error)?.stack ?? String(e)}`);
        assert.ok(e.message.length > 0 && !e.message.includes('\n    at '));
      }
      await rm(dir, { recursive: true, force: true });
    }),
    { numRuns: Number(process.env.SMR_FUZZ_RUNS ?? 300), seed: Number(process.env.SMR_FUZZ_SEED ?? 7) },
  );
});
