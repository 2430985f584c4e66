// Reading the guest's serial console: the command's output passes through
// to the caller as it arrives (the tty's "\r\n" back to "\n"); what comes
// before it (firmware, kernel, /init) and after it (power-down) is kept
// aside, shown only when verbose; marker lines carrying this boot's nonce
// (see init-script.ts) give the phases and the exit status.

export interface Markers {
  /** Guest uptimes (seconds) at init start, command start, command end. */
  init?: number;
  start?: number;
  exit?: number;
  status?: number;
  timedOut?: boolean;
  probeOk?: boolean;
  error?: string;
  /** Host time (ms, performance.now()) when the init marker arrived. */
  initSeenAt?: number;
}

type Phase = 'boot' | 'command' | 'after';

/** How many lines of non-command output are kept for error reports. */
const TAIL_LINES = 40;

export class ConsoleReader {
  readonly markers: Markers = {};
  private phase: Phase = 'boot';
  private pending = '';
  private readonly tail: string[] = [];
  private readonly endTag: string;

  constructor(
    private readonly nonce: string,
    private readonly onOutput: (bytes: Buffer) => void,
    /** Lines outside the command's output (kernel, init): for -v. */
    private readonly onLog?: (line: string) => void,
  ) {
    this.endTag = `@@SMR-EXIT:${nonce}`;
  }

  /** The last lines of non-command output (for "the VM failed" reports). */
  logTail(): string[] {
    return [...this.tail];
  }

  /** Serial bytes, in arrival order. latin1 keeps every byte as one char. */
  feed(data: Buffer): void {
    this.pending += data.toString('latin1');
    this.drain(false);
  }

  /** The VM is gone: whatever is left is a last unterminated line. */
  end(): void {
    this.drain(true);
  }

  private drain(atEnd: boolean): void {
    for (;;) {
      if (this.phase === 'command') {
        if (!this.drainCommand(atEnd)) return;
        continue;
      }
      const nl = this.pending.indexOf('\n');
      if (nl < 0) {
        if (atEnd && this.pending) {
          this.line(this.pending.replace(/\r$/, ''));
          this.pending = '';
        }
        return;
      }
      const line = this.pending.slice(0, nl).replace(/\r$/, '');
      this.pending = this.pending.slice(nl + 1);
      this.line(line);
    }
  }

  /** Command phase: pass output through up to the exit marker. False when waiting for more. */
  private drainCommand(atEnd: boolean): boolean {
    const at = this.pending.indexOf(this.endTag);
    if (at >= 0) {
      const nl = this.pending.indexOf('\n', at);
      if (nl < 0 && !atEnd) {
        this.emit(this.pending.slice(0, at));
        this.pending = this.pending.slice(at);
        return false;
      }
      this.emit(this.pending.slice(0, at));
      const marker = this.pending.slice(at, nl < 0 ? undefined : nl).replace(/\r$/, '');
      this.pending = nl < 0 ? '' : this.pending.slice(nl + 1);
      this.phase = 'after';
      this.line(marker);
      return true;
    }
    // Hold back what could be the start of the marker, and a lone "\r"
    // that may be the first half of "\r\n".
    let keep = 0;
    for (let k = Math.min(this.endTag.length - 1, this.pending.length); k > 0; k--) {
      if (this.endTag.startsWith(this.pending.slice(-k))) {
        keep = k;
        break;
      }
    }
    if (keep === 0 && this.pending.endsWith('\r')) keep = 1;
    if (atEnd) keep = 0;
    this.emit(this.pending.slice(0, this.pending.length - keep));
    this.pending = this.pending.slice(this.pending.length - keep);
    if (atEnd) this.phase = 'after';
    return false;
  }

  private emit(text: string): void {
    if (text) this.onOutput(Buffer.from(text.replace(/\r\n/g, '\n'), 'latin1'));
  }

  private line(line: string): void {
    const m = /@@SMR-(INIT|PROBE|START|EXIT|ERROR):([0-9a-f]+|none)(?: (.*))?$/.exec(line);
    if (m && (m[2] === this.nonce || (m[1] === 'ERROR' && m[2] === 'none'))) {
      const rest = m[3] ?? '';
      const uptime = Number(/uptime=([\d.]+)/.exec(rest)?.[1]);
      switch (m[1]) {
        case 'INIT':
          this.markers.init = uptime;
          this.markers.initSeenAt = performance.now();
          break;
        case 'PROBE':
          this.markers.probeOk = true;
          break;
        case 'START':
          this.markers.start = uptime;
          this.phase = 'command';
          break;
        case 'EXIT':
          this.markers.exit = uptime;
          this.markers.status = Number(/status=(\d+)/.exec(rest)?.[1]);
          this.markers.timedOut = /timeout=1/.test(rest);
          break;
        case 'ERROR':
          this.markers.error = rest;
          break;
      }
      return;
    }
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    this.onLog?.(line);
  }
}
