// Worker thread of OffThreadSha256: one running hash per stream id.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { serveTasks } from '../chunk/worker-pool.js';
import type { Sha256Task } from './sha256-off-thread.js';

const running = new Map<number, Hash>();

serveTasks<Sha256Task, ArrayBuffer | string | null>(parentPort!, (t) => {
  if (t.op === 'update') {
    let h = running.get(t.stream);
    if (h === undefined) running.set(t.stream, (h = createHash('sha256')));
    h.update(new Uint8Array(t.batch, 0, t.length));
    return { value: t.batch, transfer: [t.batch] }; // back for reuse
  }
  const h = running.get(t.stream) ?? createHash('sha256');
  running.delete(t.stream);
  return { value: t.op === 'digest' ? h.digest('hex') : null };
});
