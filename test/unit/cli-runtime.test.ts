// bin/smr on a Node without zstd in node:zlib (older than 22.15) stops with
// one line saying what it needs, not a stack trace and not a silent fallback.
// Such a Node is simulated: node:zlib's zstd functions are removed before
// bin/smr starts (syncBuiltinESMExports carries that to `import`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { SMR } from '../helpers/run.js';

const withoutZstd = [
  "import { syncBuiltinESMExports } from 'node:module';",
  "import zlib from 'node:zlib';",
  'for (const k of Object.keys(zlib)) if (/zstd/i.test(k)) delete zlib[k];',
  'syncBuiltinESMExports();',
].join('');

test('an old Node gets a one-line error naming the versions smr needs', () => {
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(withoutZstd)}`, SMR, '--version'], { encoding: 'utf8', cwd: tmpdir() });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^smr: Node v[\d.]+ is too old: smr needs Node 22\.15 or newer \(22 or 24 LTS\), for zstd in node:zlib\n$/);
});

test('the same Node with zstd runs smr', () => {
  const r = spawnSync(process.execPath, [SMR, '--version'], { encoding: 'utf8', cwd: tmpdir() });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^stream-my-root \d+\.\d+\.\d+/);
});
