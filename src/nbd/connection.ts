// One client connection: bytes in, parsed into options and then requests;
// replies out. Requests are served concurrently and answered as they
// complete; reading from the socket stops while too much is pending, so a
// client that sends faster than we answer (or does not read its replies)
// cannot make us buffer without bound. Closing never loses queued replies:
// our side is ended first and the rest of the input drained for a while.
// The transport is replaceable: after NBD_OPT_STARTTLS the connection moves
// onto a TLS socket over the raw one and starts option haggling afresh.
import type { Socket } from 'node:net';
import type { AccessRules } from './access.js';
import { ByteQueue } from './byte-queue.js';
import { CMD_DISC, CMD_READ, CMD_WRITE, MAX_OPTION_DATA, OPTION_HEADER_SIZE, OPTS_MAGIC, REQUEST_HEADER_SIZE } from './constants.js';
import type { ExportList } from './export-info.js';
import { Negotiation, type OptionOutcome, type Policy } from './handshake.js';
import { greeting } from './option-reply.js';
import type { TlsUpgrade } from './tls.js';
import { commandName, decodeRequest, Transmission, type Request } from './transmission.js';
import type { LogFn } from '../util/log.js';


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
  stats: { requests: number; byCommand: Record<string, number>; inFlight: number; bytesRead: number; errors: number };
  /** Present when clients may (or must) start TLS. */
  tls?: TlsUpgrade;
  access?: AccessRules;
}

type State =
  | { at: 'flags' }
  | { at: 'option' }
  | { at: 'optionData'; option: number; length: number }
  | { at: 'optionSkip'; option: number; length: number; left: number }
  | { at: 'request' }
  | { at: 'payload'; req: Request; buf: Buffer; filled: number }
  | { at: 'skip'; left: number }
  /** STARTTLS was acknowledged; nothing is parsed until the TLS handshake ends. */
  | { at: 'tls' }
  /** No more input is parsed: after DISC, a protocol error, or during shutdown. */
  | { at: 'closing' };

export class Connection {
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  private state: State = { at: 'flags' };
  private readonly input = new ByteQueue();
  private negotiation: Negotiation;
  /** The socket replies go to and requests come from: the raw one, then TLS over it. */
  private socket: Socket;
  private detach: () => void = () => {};
  /** The connection id, and the client's identity once TLS has given one (for the log). */
  private who: string;
  private tx: Transmission | undefined;
  private inflight = 0;
  private inflightBytes = 0;
  /** Reading is paused for backpressure. */
  private blocked = false;
  private ended = false;
  private corked = false;
  private isClosed = false;
  private timer: NodeJS.Timeout | undefined;

  private onClosed: () => void = () => {};

  constructor(
    private readonly raw: Socket,
    private readonly ctx: ConnectionContext,
    readonly id: string,
  ) {
    this.socket = raw;
    this.who = id;
    this.negotiation = new Negotiation(ctx.exports, this.policy(false));
    this.closed = new Promise((resolve) => {
      this.onClosed = () => {
        if (this.isClosed) return;
        this.onClose();
        resolve();
      };
    });
    raw.once('close', this.onClosed);
    raw.setNoDelay(true);
    // A peer that vanished without a FIN (a crashed VM) is noticed eventually.
    raw.setKeepAlive(true, 60_000);
    this.attach(raw);
    // The deadline covers the whole handshake, TLS included: a client that
    // says nothing, or trickles bytes, is dropped when it passes.
    this.timer = setTimeout(() => this.abandon('handshake timed out'), ctx.limits.handshakeTimeoutMs).unref();
    raw.write(greeting());
  }

  private policy(secure: boolean, identity?: string): Policy {
    return { tls: this.ctx.tls?.mode ?? 'off', secure, identity, access: this.ctx.access };
  }

  /** Makes `s` the socket we read and write. */
  private attach(s: Socket): void {
    const onData = (chunk: Buffer) => this.onData(chunk);
    const onDrain = () => this.unblock();
    const onError = (e: Error) => this.ctx.log('info', `${this.who}: ${e.message}`);
    s.on('data', onData);
    s.on('drain', onDrain);
    s.on('error', onError);
    this.socket = s;
    this.detach = () => {
      s.off('data', onData);
      s.off('drain', onDrain);
      s.off('error', onError);
    };
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
    this.raw.destroy();
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
          // A client that floods options and reads no replies stops being read.
          if (this.socket.writableLength >= this.ctx.limits.maxQueuedBytes) return this.block();
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
        case 'tls':
        case 'closing':
          return;
      }
    }
  }

  private afterOption(outcome: OptionOutcome): void {
    if (outcome.fault) this.ctx.log('error', `${this.who}: ${outcome.fault}`);
    if (outcome.notice) this.ctx.log('warn', `${this.who}: ${outcome.notice}`);
    for (const r of outcome.replies) this.socket.write(r);
    switch (outcome.next) {
      case 'options':
        this.state = { at: 'option' };
        return;
      case 'starttls':
        // The client must wait for our ACK before its TLS hello: bytes
        // already here are a protocol violation, not TLS.
        if (this.input.length > 0) return this.protocolError('data sent after NBD_OPT_STARTTLS before its reply');
        this.startTls();
        return;
      case 'close':
        this.ctx.log('info', `${this.who}: ${outcome.reason}`);
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
        this.ctx.log('info', `${this.who}: serving ${outcome.session.export.name}`);
        // A shutdown that began during the handshake applies now.
        if (this.ctx.shuttingDown()) this.shutdown();
    }
  }

  /**
   * Moves onto TLS over the raw socket. What was negotiated in plaintext
   * (structured replies, meta contexts) is forgotten, as the spec asks and
   * nbdkit does: a fresh Negotiation; only the client flags carry over.
   */
  private startTls(): void {
    this.state = { at: 'tls' };
    this.detach();
    this.ctx.tls!.start(this.raw).then(
      ({ socket, identity }) => {
        if (this.isClosed || this.state.at !== 'tls') return void socket.destroy();
        socket.once('close', this.onClosed);
        this.attach(socket);
        const noZeroes = this.negotiation.noZeroes;
        this.negotiation = new Negotiation(this.ctx.exports, this.policy(true, identity));
        this.negotiation.noZeroes = noZeroes;
        if (identity !== undefined) this.who = `${this.id} (${identity})`;
        this.ctx.log('info', `${this.who}: ${socket.getProtocol() ?? 'TLS'} started (${socket.getCipher().name})`);
        this.state = { at: 'option' };
        this.pump();
      },
      (e: Error) => {
        if (this.isClosed) return;
        this.ctx.stats.errors++;
        // OpenSSL's messages carry its source paths; its reason reads better.
        this.abandon(`TLS handshake failed: ${(e as { reason?: string }).reason ?? e.message}`);
      },
    );
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
    const stats = this.ctx.stats;
    stats.requests++;
    stats.inFlight++;
    const name = commandName(req.type);
    stats.byCommand[name] = (stats.byCommand[name] ?? 0) + 1;
    void this.tx!.serve(req, payload).then(() => {
      stats.inFlight--;
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
    this.timer = setTimeout(() => this.destroy(), this.ctx.limits.lingerMs).unref();
  }

  private protocolError(reason: string): void {
    this.ctx.stats.errors++;
    this.ctx.log('warn', `${this.who}: ${reason}; closing`);
    this.state = { at: 'closing' };
    this.end();
  }

  private abandon(reason: string): void {
    this.ctx.log('warn', `${this.who}: ${reason}; closing`);
    this.socket.destroy();
    this.raw.destroy();
  }

  private onClose(): void {
    this.isClosed = true;
    this.state = { at: 'closing' };
    this.input.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
