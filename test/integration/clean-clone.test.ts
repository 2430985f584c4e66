// The README's main command works in a fresh clone with nothing beside it:
// the repository (its committed HEAD) is cloned into an empty temporary
// directory and the first `sh` block of the README runs there, as root, with
// the machine's caches (/var/cache/smr-ci) for fixtures and the VM harness.
// It takes minutes. Afterwards the clone's work tree holds nothing that git
// does not know or ignore, and nothing appeared beside the clone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { haveCommand, isRoot, run } from '../helpers/run.js';

/** The README's main command: its first fenced `sh` block. */
function readmeMainCommand(readme: string): string {
  const m = /^```sh\n([\s\S]*?)^```/m.exec(readme);
  if (!m) throw new Error('README.md has no ```sh block');
  return m[1]!.trim();
}

const skip = !isRoot() ? 'needs root (the demo installs packages and boots a VM)' : !haveCommand('git') ? 'needs git' : false;
let work: string;

before(async () => {
  if (!skip) work = await mkdtemp(join(tmpdir(), 'smr-clone-'));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test("a fresh clone with nothing beside it runs the README's main command", { skip, timeout: 45 * 60_000 }, async () => {
  const clone = join(work, 'stream-my-root');
  const c = await run('git', ['clone', '--quiet', REPO_ROOT, clone]);
  assert.equal(c.code, 0, c.stderr);
  const command = readmeMainCommand(readFileSync(join(clone, 'README.md'), 'utf8'));
  const r = await run('bash', ['-euo', 'pipefail', '-c', command], { cwd: clone });
  const tail = (s: string) => s.split('\n').slice(-40).join('\n');
  assert.equal(r.code, 0, `${command} exited ${r.code}:\n${tail(r.stdout)}\n${tail(r.stderr)}`);

  const status = await run('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: clone });
  assert.equal(status.stdout, '', 'the command left files in the clone that .gitignore does not cover');
  assert.deepEqual(await readdir(work), ['stream-my-root'], 'the command made something beside the clone');
});
