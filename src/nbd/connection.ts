// One client connection: bytes in, parsed into options and then requests;
// replies out. Requests are served concurrently and answered as they
// complete; reading from the socket stops while too much is pending, so a
// client that sends faster than we answer (or does not read its replies)
// cannot make us buffer without bound. Closing never loses queued replies:
// our side is ended first and the rest of the input drained for a while.
import type { Socket } from 'node:net';
import { ByteQueue } from './byte-queue.js';
import { CMD_DISC, CMD_READ, CMD_WRITE, MAX_OPTION_DATA, OPTION_HEADER_SIZE, OPTS_MAGIC, REQUEST_HEADER_SIZE } from './constants.js';
import type { ExportList } from './export-info.js';
import { Negotiation, type OptionOutcome } from './handshake.js';
import { greeting } from './option-reply.js';
import { decodeRequest, Transmission, type Request } from './transmission.js';

export type LogFn = (level: 'info' | 'warn' | 'error', msg: string) => void;

export interface ConnectionLimits {
  /** Requests being served at once before we stop reading. */
  maxInflight: number;
  /** Bytes of read and write payloads being served at once before we stop reading. */
  maxInflightBytes: number;
  /** Reply bytes queued on the socket before we stop reading. */
  maxQueuedBytes: number;
  /** Time a client may take to finish the handshake. */
  handshakeTimeoutMs: number;
  /** After we end our side, how long we wait for the client to close its side. */
  lingerMs: number;
}

export interface ConnectionContext {
  exports: ExportList;
  limits: ConnectionLimits;
  log: LogFn;
  shuttingDown(): boolean;
  stats: { requests: number; bytesRead: number; errors: number };
}

type State =
  | { at: 'flags' }
  | { at: 'option' }
  | { at: 'optionData'; option: number; length: number }
  | { at: 'optionSkip'; option: number; length: number; left: number }
  | { at: 'request' }
  | { at: 'payload'; req: Request; buf: Buffer; filled: number }
  | { at: 'skip'; left: number }
  /** No more input is parsed: after DISC, a protocol error, or during shutdown. */
  | { at: 'closing' };

export class Connection {
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  private state: State = { at: 'flags' };
  private readonly input = new ByteQueue();
  private readonly negotiation: Negotiation;
  private tx: Transmission | undefined;
  private inflight = 0;
  private inflightBytes = 0;
  /** Reading is paused for backpressure. */
  private blocked = false;
  private ended = false;
  private corked = false;
  private isClosed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ConnectionContext,
    readonly id: string,
  ) {
    this.negotiation = new Negotiation(ctx.exports);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.onClose();
      resolve();
    }));
    socket.setNoDelay(true);
    // A peer that vanished without a FIN (a crashed VM) is noticed eventually.
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.unblock());
    socket.on('error', (e) => ctx.log('info', `${id}: ${e.message}`));
    this.timer = setTimeout(() => this.abandon('handshake timed out'), ctx.limits.handshakeTimeoutMs).unref();
    socket.write(greeting());
  }

  get inTransmission(): boolean {
    return this.tx !== undefined;
  }

  /**
   * Server shutdown: options from now on get ERR_SHUTDOWN; in transmission no
   * new request is read, and the connection ends once the ones being served
   * are answered (a reconnecting client resends what it did not get answered).
   */
  shutdown(): void {
    if (this.tx && this.state.at !== 'closing') {
      this.state = { at: 'closing' };
      this.socket.pause();
      this.endWhenIdle();
    }
  }

  /** Closes at once, dropping whatever is pending. */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.state.at === 'closing') return; // draining after our end
    this.input.push(chunk);
    this.pump();
  }

  /** Parses as much input as allowed. */
  private pump(): void {
    for (;;) {
      const s = this.state;
      switch (s.at) {
        case 'flags': {
          if (this.input.length < 4) return;
          if (!this.negotiation.clientFlags(this.input.take(4).readUInt32BE(0))) return this.protocolError('unknown client flags');
          this.state = { at: 'option' };
          break;
        }
        case 'option': {
          if (this.input.length < OPTION_HEADER_SIZE) return;
          const h = this.input.take(OPTION_HEADER_SIZE);
          if (h.readUInt32BE(0) !== OPTS_MAGIC[0] || h.readUInt32BE(4) !== OPTS_MAGIC[1]) return this.protocolError('bad option magic');
          const option = h.readUInt32BE(8);
          const length = h.readUInt32BE(12);
          this.state = length > MAX_OPTION_DATA ? { at: 'optionSkip', option, length, left: length } : { at: 'optionData', option, length };
          break;
        }
        case 'optionData': {
          if (this.input.length < s.length) return;
          this.afterOption(this.negotiation.option(s.option, this.input.take(s.length), this.ctx.shuttingDown()));
          break;
        }
        case 'optionSkip': {
          s.left -= this.input.skip(s.left);
          if (s.left > 0) return;
          this.afterOption(this.negotiation.oversized(s.option, s.length));
          break;
        }
        case 'request': {
          if (this.input.length < REQUEST_HEADER_SIZE) return;
          if (this.mustWait()) return this.block();
          const req = decodeRequest(this.input.take(REQUEST_HEADER_SIZE));
          if (!req) return this.protocolError('bad request magic');
          this.request(req);
          break;
        }
        case 'payload': {
          s.filled += this.input.takeInto(s.buf, s.filled);
          if (s.filled < s.buf.length) return;
          this.state = { at: 'request' };
          this.dispatch(s.req, s.buf);
          break;
        }
        case 'skip': {
          s.left -= this.input.skip(s.left);
          if (s.left > 0) return;
          this.state = { at: 'request' };
          break;
        }
        case 'closing':
          return;
      }
    }
  }

  private afterOption(outcome: OptionOutcome): void {
    if (outcome.fault) this.ctx.log('error', `${this.id}: ${outcome.fault}`);
    for (const r of outcome.replies) this.socket.write(r);
    switch (outcome.next) {
      case 'options':
        this.state = { at: 'option' };
        return;
      case 'close':
        this.ctx.log('info', `${this.id}: ${outcome.reason}`);
        this.state = { at: 'closing' };
        this.end();
        return;
      case 'transmission':
        clearTimeout(this.timer);
        this.timer = undefined;
        this.state = { at: 'request' };
        this.tx = new Transmission(
          outcome.session,
          { send: (b) => this.send(b) },
          {
            log: this.ctx.log,
            failed: () => this.ctx.stats.errors++,
            read: (n) => (this.ctx.stats.bytesRead += n),
          },
        );
        this.ctx.log('info', `${this.id}: serving ${outcome.session.export.name}`);
        // A shutdown that began during the handshake applies now.
        if (this.ctx.shuttingDown()) this.shutdown();
    }
  }

  private request(req: Request): void {
    if (req.type === CMD_DISC) {
      // Answer what is in flight, then close; nothing may follow DISC.
      this.state = { at: 'closing' };
      this.endWhenIdle();
      return;
    }
    if (req.type !== CMD_WRITE) return this.dispatch(req);
    if (this.tx!.check(req) !== 0) {
      // Rejected: answer now, and drop the payload as it streams past.
      this.dispatch(req);
      if (req.length > 0) this.state = { at: 'skip', left: req.length };
      return;
    }
    if (this.input.length >= req.length) return this.dispatch(req, this.input.take(req.length));
    this.state = { at: 'payload', req, buf: Buffer.allocUnsafe(req.length), filled: 0 };
  }

  private dispatch(req: Request, payload?: Buffer): void {
    const bytes = req.type === CMD_READ ? req.length : (payload?.length ?? 0);
    this.inflight++;
    this.inflightBytes += bytes;
    this.ctx.stats.requests++;
    void this.tx!.serve(req, payload).then(() => {
      this.inflight--;
      this.inflightBytes -= bytes;
      if (this.state.at === 'closing') this.endWhenIdle();
      else this.unblock();
    });
  }

  private send(b: Buffer): void {
    if (this.isClosed || this.ended) return;
    // Replies that complete together (one burst of promise callbacks) leave
    // in one writev instead of one write each. A lone request needs no wait.
    if (!this.corked && this.inflight > 1) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(b);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  private mustWait(): boolean {
    const l = this.ctx.limits;
    return this.inflight >= l.maxInflight || this.inflightBytes >= l.maxInflightBytes || this.socket.writableLength >= l.maxQueuedBytes;
  }

  private block(): void {
    if (this.blocked) return;
    this.blocked = true;
    this.socket.pause();
  }

  private unblock(): void {
    if (!this.blocked || this.mustWait() || this.state.at === 'closing') return;
    this.blocked = false;
    this.socket.resume();
    this.pump();
  }

  private endWhenIdle(): void {
    if (this.inflight === 0) this.end();
  }

  /** Ends our side after queued replies, then drains input until the client closes or lingerMs passes. */
  private end(): void {
    if (this.ended || this.isClosed) return;
    this.ended = true;
    this.input.clear();
    clearTimeout(this.timer);
    this.socket.end();
    this.socket.resume();
    this.timer = setTimeout(() => this.socket.destroy(), this.ctx.limits.lingerMs).unref();
  }

  private protocolError(reason: string): void {
    this.ctx.stats.errors++;
    this.ctx.log('warn', `${this.id}: ${reason}; closing`);
    this.state = { at: 'closing' };
    this.end();
  }

  private abandon(reason: string): void {
    this.ctx.log('warn', `${this.id}: ${reason}; closing`);
    this.socket.destroy();
  }

  private onClose(): void {
    this.isClosed = true;
    this.state = { at: 'closing' };
    this.input.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
