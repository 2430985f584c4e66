// Progress on a terminal: one line redrawn in place on stderr, at most ten
// times a second; nothing at all when stderr is not a TTY or with --quiet.
import type { ProgressSink } from './progress-sink.js';
import { Throttle } from './throttle.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${n.toFixed(1)} ${units[u]}`;
}

class TerminalProgress implements ProgressSink {
  private readonly throttle = new Throttle();
  private shown = false;
  constructor(private readonly out: NodeJS.WriteStream) {}

  update(s: { phase: string; done: number; total?: number; detail?: string; unit?: 'bytes' | 'items' }): void {
    if (!this.throttle.due()) return;
    const fmt = s.unit === 'items' ? String : formatBytes;
    const amount = s.total ? `${fmt(s.done)} / ${fmt(s.total)}` : fmt(s.done);
    let line = `${s.phase}: ${amount}${s.detail ? `  ${s.detail}` : ''}`;
    const width = this.out.columns ?? 80;
    if (line.length > width - 1) line = line.slice(0, width - 1);
    this.out.write(`\r\x1b[K${line}`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}

const silent: ProgressSink = { update() {}, done() {} };

export function makeProgress(quiet: boolean, out: NodeJS.WriteStream = process.stderr): ProgressSink {
  return !quiet && out.isTTY ? new TerminalProgress(out) : silent;
}
