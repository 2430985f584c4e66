// Whether a shared-tier node is worth asking. A node that errors or does not
// answer within the timeout is marked down: requests skip it, and after a
// pause one probe goes through; when it answers the node is up again. State
// changes and bad values are logged at most once per node and period, so a
// dead or babbling server cannot flood the log.
import type { LogFn } from '../../util/log.js';

export type NodeState = 'up' | 'down';

export interface NodeCounters {
  requests: number;
  errors: number;
  timeouts: number;
  /** Values refused by the fragment check (short, wrong header, damaged). */
  badValues: number;
  /** Times the node went down. */
  downs: number;
}

const LOG_PERIOD_MS = 60_000;

export class NodeHealth {
  state: NodeState = 'up';
  readonly counters: NodeCounters = { requests: 0, errors: 0, timeouts: 0, badValues: 0, downs: 0 };
  private retryAt = 0;
  private probing = false;
  private readonly lastLogged = new Map<string, number>();

  constructor(readonly id: string, private readonly retryMs: number, private readonly log: LogFn) {}

  /** Whether to send this node a request now (one probe at a time while down). */
  usable(): boolean {
    if (this.state === 'up') return true;
    if (this.probing || Date.now() < this.retryAt) return false;
    this.probing = true;
    return true;
  }

  succeeded(): void {
    this.probing = false;
    if (this.state === 'down') {
      this.state = 'up';
      this.logOnce('up', 'info', `shared tier: ${this.id} answers again`);
    }
  }

  failed(why: 'error' | 'timeout', detail: string): void {
    if (why === 'timeout') this.counters.timeouts++;
    else this.counters.errors++;
    this.probing = false;
    this.retryAt = Date.now() + this.retryMs;
    if (this.state === 'up') {
      this.state = 'down';
      this.counters.downs++;
      this.logOnce('down', 'warn', `shared tier: ${this.id} marked down (${detail}); re-probing every ${this.retryMs} ms`);
    }
  }

  /** A background write failed: counted, the state is left to reads. */
  writeFailed(why: 'error' | 'timeout'): void {
    if (why === 'timeout') this.counters.timeouts++;
    else this.counters.errors++;
  }

  badValue(what: string): void {
    this.counters.badValues++;
    this.logOnce(`bad:${what}`, 'warn', `shared tier: ${this.id} returned a bad fragment (${what}); ignored`);
  }

  private logOnce(topic: string, level: 'warn' | 'info', message: string): void {
    const now = Date.now();
    if (now - (this.lastLogged.get(topic) ?? -Infinity) < LOG_PERIOD_MS) return;
    this.lastLogged.set(topic, now);
    this.log(level, message);
  }
}
