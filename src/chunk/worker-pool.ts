// A fixed pool of worker threads running one kind of task, so hashing,
// compression and encryption of chunks use every core while the main thread
// reads and stores. Tasks are answered in any order; each carries an id.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { SmrError } from '../util/errors.js';

interface Pending<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export class WorkerPool<TIn, TOut> {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ id: number; msg: TIn; transfer: ArrayBuffer[] }> = [];
  private readonly pending = new Map<number, Pending<TOut>>();
  private readonly busy = new Map<Worker, number>();
  private nextId = 0;
  private closed = false;

  constructor(script: URL, size = availableParallelism(), private readonly opts: { unrefWhenIdle?: boolean } = {}) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const w = new Worker(script);
      // An idle worker of a long-lived pool must not keep the process alive.
      if (opts.unrefWhenIdle) w.unref();
      w.on('message', (m: { id: number; ok: boolean; value?: TOut; error?: { code?: string; message: string } }) => this.onMessage(w, m));
      w.on('error', (e) => this.onCrash(w, e));
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  run(msg: TIn, transfer: ArrayBuffer[] = []): Promise<TOut> {
    if (this.closed) return Promise.reject(new Error('WorkerPool: closed'));
    const id = this.nextId++;
    return new Promise<TOut>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, msg, transfer });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const t = this.queue.shift()!;
      this.busy.set(w, t.id);
      if (this.opts.unrefWhenIdle) w.ref();
      w.postMessage({ id: t.id, msg: t.msg }, t.transfer);
    }
  }

  private onMessage(w: Worker, m: { id: number; ok: boolean; value?: TOut; error?: { code?: string; message: string } }): void {
    this.busy.delete(w);
    if (this.opts.unrefWhenIdle) w.unref();
    this.idle.push(w);
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    if (p) {
      if (m.ok) p.resolve(m.value as TOut);
      else p.reject(m.error?.code ? new SmrError(m.error.code, m.error.message) : new Error(m.error?.message ?? 'worker task failed'));
    }
    this.pump();
  }

  private onCrash(w: Worker, e: Error): void {
    const id = this.busy.get(w);
    if (id !== undefined) {
      this.pending.get(id)?.reject(e);
      this.pending.delete(id);
    }
    // A crashed worker takes everything down: tasks are never silently lost.
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    void this.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The worker side: answers each task with fn's result (or its error). */
export function serveTasks<TIn, TOut>(port: import('node:worker_threads').MessagePort, fn: (msg: TIn) => { value: TOut; transfer?: ArrayBuffer[] }): void {
  port.on('message', ({ id, msg }: { id: number; msg: TIn }) => {
    try {
      const { value, transfer } = fn(msg);
      port.postMessage({ id, ok: true, value }, transfer ?? []);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      port.postMessage({ id, ok: false, error: { code: err.code, message: err.message ?? String(e) } });
    }
  });
}
