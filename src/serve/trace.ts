// Boot traces ("taint read" in the Go proof of concept): the order in which
// chunks are first read, so that the next start can fetch them ahead of the
// client. One line per chunk, "INDEX DIGEST", appended as they happen (a
// killed server still leaves a usable trace).
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { isHex64 } from '../util/digest.js';
import { describeReadError } from '../util/fs-errors.js';
import { SmrError } from '../util/errors.js';

const FLUSH_MS = 200;

export class TraceRecorder {
  private readonly seen = new Set<number>();
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string) {}

  static async create(path: string): Promise<TraceRecorder> {
    try {
      await writeFile(path, '');
    } catch (e) {
      throw new SmrError('TRACE_FAILED', `cannot write the trace ${path}: ${(e as Error).message}`);
    }
    return new TraceRecorder(path);
  }

  get count(): number {
    return this.seen.size;
  }

  /** Records the first read of a chunk. */
  note(index: number, digest: string): void {
    if (this.seen.has(index)) return;
    this.seen.add(index);
    this.pending.push(`${index} ${digest}\n`);
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const lines = this.pending.join('');
    this.pending = [];
    if (lines) this.writing = this.writing.then(() => appendFile(this.path, lines)).catch(() => {});
    return this.writing;
  }
}

export interface TraceEntry {
  index: number;
  digest: string;
}

export async function readTrace(path: string): Promise<TraceEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new SmrError('TRACE_NOT_FOUND', `cannot read the trace ${path}: ${describeReadError(e)}`);
  }
  const out: TraceEntry[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^(\d+) (\S+)$/.exec(line.trim());
    if (!m || !isHex64(m[2])) throw new SmrError('TRACE_INVALID', `${path}:${i + 1}: expected "INDEX DIGEST"`);
    out.push({ index: Number(m[1]), digest: m[2]! });
  });
  return out;
}
