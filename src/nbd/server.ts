// The NBD server: listeners (TCP and Unix sockets, as many as wanted), the set
// of live connections, counters, and a graceful stop that lets requests being
// served finish so that reconnecting clients (qemu's reconnect-delay) lose
// nothing when a new server takes over the address.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { lstat, unlink } from 'node:fs/promises';
import type { AccessRules } from './access.js';
import type { LogFn } from '../util/log.js';
import { Connection, type ConnectionLimits } from './connection.js';
import type { BlockExport } from './export.js';
import { TlsUpgrade, type TlsOptions } from './tls.js';

export interface NbdServerOptions {
  exports: BlockExport[] | (() => BlockExport[]);
  log?: LogFn;
  /** Connections beyond this are refused (closed at once). Default: unlimited. */
  maxConnections?: number;
  /** The same bound per client address (all Unix socket clients count as one). Default: unlimited. */
  maxConnectionsPerAddress?: number;
  limits?: Partial<ConnectionLimits>;
  /** STARTTLS: absent (or mode off) means TLS is not offered. */
  tls?: TlsOptions | { mode: 'off' };
  /** Per-export allowed identities (see access.ts). */
  access?: AccessRules;
}

export type ListenOptions = { host?: string; port?: number } | { socket: string };

export interface NbdServerStats {
  /** Open connections. */
  connections: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Requests received (all commands but DISC). */
  requests: number;
  /** The same, by command name (READ, BLOCK_STATUS, ...). */
  byCommand: Record<string, number>;
  /** Requests being served now, over all connections. */
  inFlight: number;
  /** Bytes returned by successful reads. */
  bytesRead: number;
  /** Requests answered with an error, and connections closed for breaking the protocol. */
  errors: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxInflight: 128,
  maxInflightBytes: 64 << 20,
  maxQueuedBytes: 16 << 20,
  handshakeTimeoutMs: 10_000,
  lingerMs: 2_000,
};

/** How long close() waits for clients still negotiating to take the hint. */
const HANDSHAKE_GRACE_MS = 1_000;

const defaultLog: LogFn = (level, msg) => {
  if (level !== 'info') process.stderr.write(`nbd: ${level}: ${msg}\n`);
};

export class NbdServer {
  readonly stats: NbdServerStats = { connections: 0, accepted: 0, requests: 0, byCommand: {}, inFlight: 0, bytesRead: 0, errors: 0 };
  private readonly listeners: Server[] = [];
  private readonly connections = new Set<Connection>();
  private readonly log: LogFn;
  private readonly limits: ConnectionLimits;
  private readonly tls: TlsUpgrade | undefined;
  /** Open connections per client address. */
  private readonly perAddress = new Map<string, number>();
  private stopping = false;

  /** Throws when the TLS options are unusable (a bad certificate or key, a missing CA). */
  constructor(private readonly opts: NbdServerOptions) {
    this.log = opts.log ?? defaultLog;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.tls = opts.tls && opts.tls.mode !== 'off' ? new TlsUpgrade(opts.tls) : undefined;
  }

  /** Listens on TCP (loopback unless host says otherwise; port 0 picks one) or on a Unix socket. */
  async listen(where: ListenOptions = {}): Promise<{ port?: number; socket?: string }> {
    if (this.stopping) throw new Error('Cannot listen: the NBD server is closing');
    const server = createServer((s) => this.accept(s));
    // Errors after listening (EMFILE on accept) must not crash the process.
    server.on('error', (e) => this.log('error', `listener: ${e.message}`));
    if ('socket' in where) {
      await removeStaleSocket(where.socket);
      await listenOn(server, () => server.listen(where.socket));
      this.listeners.push(server);
      this.log('info', `listening on ${where.socket}`);
      return { socket: where.socket };
    }
    await listenOn(server, () => server.listen(where.port ?? 0, where.host ?? '127.0.0.1'));
    this.listeners.push(server);
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : undefined;
    this.log('info', `listening on ${where.host ?? '127.0.0.1'}:${port}`);
    return { port };
  }

  /**
   * Stops accepting and lets requests being served finish (up to drainMs):
   * connections in transmission end as they become idle; clients still
   * negotiating get ERR_SHUTDOWN to their next option and a moment to leave.
   * Then whatever is left is closed.
   */
  async close(opts: { drainMs?: number } = {}): Promise<void> {
    const drainMs = opts.drainMs ?? 5_000;
    this.stopping = true;
    const stopped = this.listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve())));
    this.listeners.length = 0;
    const conns = [...this.connections];
    for (const c of conns) c.shutdown();
    const timers = [
      setTimeout(() => conns.forEach((c) => c.inTransmission || c.destroy()), Math.min(drainMs, HANDSHAKE_GRACE_MS)),
    ];
    await Promise.race([Promise.all(conns.map((c) => c.closed)), new Promise((r) => timers.push(setTimeout(r, drainMs)))]);
    timers.forEach(clearTimeout);
    for (const c of this.connections) c.destroy();
    await Promise.all([...stopped, ...[...this.connections].map((c) => c.closed)]);
  }

  private accept(socket: Socket): void {
    const refusal = this.refusal(socket);
    if (refusal) {
      this.log('warn', `refusing a connection from ${socket.remoteAddress ?? 'a Unix socket'}: ${refusal}`);
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress ?? 'unix';
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    this.stats.accepted++;
    const id = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : `unix#${this.stats.accepted}`;
    const conn = new Connection(
      socket,
      {
        exports: this.opts.exports,
        limits: this.limits,
        log: this.log,
        shuttingDown: () => this.stopping,
        stats: this.stats,
        tls: this.tls,
        access: this.opts.access,
      },
      id,
    );
    this.connections.add(conn);
    this.stats.connections++;
    void conn.closed.then(() => {
      this.connections.delete(conn);
      this.stats.connections--;
      const n = this.perAddress.get(address)! - 1;
      if (n === 0) this.perAddress.delete(address);
      else this.perAddress.set(address, n);
    });
  }

  private refusal(socket: Socket): string | undefined {
    if (this.stopping) return 'closing';
    const max = this.opts.maxConnections ?? Infinity;
    if (this.connections.size >= max) return `${max} connections open`;
    const perAddress = this.opts.maxConnectionsPerAddress ?? Infinity;
    if ((this.perAddress.get(socket.remoteAddress ?? 'unix') ?? 0) >= perAddress) return `${perAddress} connections open from this address`;
    return undefined;
  }
}

function listenOn(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    start();
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A socket file nobody listens on (left by a crashed server) is removed; a live one is not. */
async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isSocket()) return;
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (!live) await unlink(path).catch(() => {});
}
