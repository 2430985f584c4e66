// The process lock (util/process-lock.ts; smr run's per-image conversion
// lock): a second taker waits for a live holder, and a lock left by a dead
// process -- killed with SIGKILL, so it never released it -- or by a pid reused since, is taken over.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, thisOwner, type LockOwner } from '../../src/util/process-lock.js';

const LOCK_MODULE = new URL('../../src/util/process-lock.js', import.meta.url).href;

describe('process lock', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smr-lock-test-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('a second taker waits for the live holder, then gets the lock; release removes the file', async () => {
    const path = join(dir, 'live.lock');
    const first = await acquireLock(path);
    const waitedFor: LockOwner[] = [];
    let got = false;
    const second = acquireLock(path, { pollMs: 20, onWait: (o) => waitedFor.push(o) }).then((l) => ((got = true), l));
    while (waitedFor.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got, false);
    assert.deepEqual(waitedFor, [thisOwner()]);
    await first.release();
    await (await second).release();
    assert.equal(existsSync(path), false);
  });

  it('a holder killed with SIGKILL leaves a stale lock that the next taker takes over', async () => {
    const path = join(dir, 'killed.lock');
    const script = `const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)}); await acquireLock(${JSON.stringify(path)}); console.log('held'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => child.stdout.on('data', (d: Buffer) => /held/.test(d.toString()) && r()));
    assert.match(await readFile(path, 'utf8'), new RegExp(`^${child.pid} \\d+\\n$`));

    const waitedFor: number[] = [];
    const mine = acquireLock(path, { pollMs: 20, onWait: (o) => waitedFor.push(o.pid) });
    while (waitedFor.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(waitedFor, [child.pid], 'waits while the holder lives');
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    const lock = await mine;
    assert.match(await readFile(path, 'utf8'), new RegExp(`^${process.pid} `));
    await lock.release();
  });

  it('a lock naming a live pid with another start time (the pid was reused) is stale', async () => {
    const path = join(dir, 'reused.lock');
    await writeFile(path, `${process.pid} 1\n`);
    let waited = false;
    const lock = await acquireLock(path, { onWait: () => (waited = true) });
    assert.equal(waited, false);
    await lock.release();
  });
});
