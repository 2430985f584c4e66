// Several real processes on one store: writers racing each other, and a gc
// racing a writer that keeps re-using the chunks gc is deleting.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DirStore } from '../../src/store/dir/dir-store.js';
import { age, inspectTree, tempDir, testChunks } from '../helpers/store-chunks.js';

const WORKER = fileURLToPath(new URL('../helpers/store-worker.js', import.meta.url));

interface Worker {
  child: ChildProcess;
  /** Resolves with the lines the worker printed once it exits with 0. */
  done: Promise<string[]>;
  /** Resolves when the worker prints a line starting with `prefix`. */
  line(prefix: string): Promise<string>;
}

function worker(args: string[]): Worker {
  const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<{ prefix: string; resolve: (l: string) => void }> = [];
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const l = out.slice(0, nl);
      out = out.slice(nl + 1);
      lines.push(l);
      for (const w of waiters.filter((x) => l.startsWith(x.prefix))) w.resolve(l);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<string[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(lines) : reject(new Error(`store-worker ${args[0]} exited ${code}: ${err}`))));
  });
  const line = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => l.startsWith(prefix));
      if (seen !== undefined) return resolve(seen);
      waiters.push({ prefix, resolve });
      done.then(() => reject(new Error(`store-worker ${args[0]} exited without printing '${prefix}'`)), reject);
    });
  return { child, done, line };
}

let work: string;
before(async () => {
  work = await tempDir('concurrency');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('store: several processes at once', () => {
  it('writers putting overlapping chunks into a new store all succeed; every chunk is whole', async () => {
    const root = join(work, 'writers', 'store'); // created by the racing writers
    const n = 300;
    const ascending = Array.from({ length: n }, (_, i) => i);
    // Two walk the same order (same chunk at the same moment), one the other way.
    const orders = [ascending, ascending, [...ascending].reverse(), ascending.filter((i) => i % 3 === 0)];
    const workers = orders.map((o) => worker(['put', root, 'writers', '65536', o.join(',')]));
    const results = (await Promise.all(workers.map((w) => w.done))).map((lines) => JSON.parse(lines.at(-1)!) as { wrote: number; puts: number });
    const t = await inspectTree(root);
    assert.deepEqual(t.corrupt, []);
    assert.deepEqual(t.temps, [], 'no temporary files left');
    assert.deepEqual([...t.chunks].sort(), testChunks('writers', n, 65536).map((c) => c.name).sort());
    // Each chunk written at least once; two writers may both write one (same bytes, same name).
    assert.ok(results.reduce((s, r) => s + r.wrote, 0) >= n);
  });

  it('gc racing a writer that re-uses the chunks it deletes loses none of them', async (t) => {
    const count = 1500;
    const size = 2048;
    const keepEvery = 7;
    for (let round = 0; round < 4; round++) {
      const root = join(work, `gc-race-${round}`);
      const seed = `race-${round}`;
      const store = new DirStore(root);
      const chunks = testChunks(seed, count, size);
      for (const c of chunks) await store.put(c.name, c.data);
      // Everything looks a day unused: gc (grace 0) would delete all but the kept ones.
      await age(root, chunks.map((c) => c.name), 86_400_000);
      // The writer (a convert re-using every chunk once) starts right after gc
      // and spreads its puts over about the time gc takes, so some chunks are
      // re-used before gc reaches them, some while gc deletes them, some after.
      const w = worker(['writer', root, seed, String(size), String(count), '400']);
      const g = worker(['gc', root, seed, String(size), String(count), String(keepEvery)]);
      await g.line('start ');
      w.child.stdin!.end('go\n');
      const [gcLines, wLines] = await Promise.all([g.done, w.done]);
      const gcResult = JSON.parse(gcLines.at(-1)!) as { kept: number; deleted: number; young: number };
      const written = JSON.parse(wLines.at(-1)!) as { puts: number; wrote: number; ms: number };

      t.diagnostic(`round ${round}: gc ${JSON.stringify(gcResult)}, writer ${JSON.stringify(written)}`);
      const tree = await inspectTree(root);
      assert.deepEqual(tree.corrupt, [], `round ${round}: corrupt chunks`);
      assert.deepEqual(tree.temps, [], `round ${round}: temporary files left`);
      assert.deepEqual(tree.trash, [], `round ${round}: trash left`);
      const lost = chunks.filter((c) => !tree.chunks.has(c.name)).map((c) => c.index);
      assert.deepEqual(lost, [], `round ${round}: chunks the writer put after gc started, lost (gc ${JSON.stringify(gcResult)})`);
      // Both sides of the race happened: gc deleted chunks the writer then
      // wrote again, and kept chunks it found re-used.
      const detail = `round ${round}: gc ${JSON.stringify(gcResult)}, writer ${JSON.stringify(written)}`;
      assert.ok(gcResult.deleted > 0 && written.wrote > 0, detail);
      assert.ok(gcResult.young > 0, detail);
      assert.equal(gcResult.kept, Math.ceil(count / keepEvery), detail);
    }
  });
});
