// A TCP proxy for the chaos soak: bytes pass unchanged (so S3 signatures
// hold) unless the soak's fault injector says otherwise: add latency to
// every forwarded piece, cut every open connection, or take the origin
// "down" (new connections are reset at once, as a dead origin's port is).
// Unlike fault-proxy.ts (per HTTP request, by plan), faults here act on
// whole connections and are switched on and off while traffic runs.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpFaultProxy {
  url: string;
  /** Connections accepted, cut by drop(), and refused while down. */
  counts: { connections: number; dropped: number; refused: number };
  /** Milliseconds added before each forwarded piece of data (0: none). */
  setLatency(ms: number): void;
  /** While down, new connections are reset and open ones are cut. */
  setDown(down: boolean): void;
  isDown(): boolean;
  /** Cuts every open connection now. */
  drop(): void;
  close(): Promise<void>;
}

export async function startTcpFaultProxy(target: string): Promise<TcpFaultProxy> {
  const to = new URL(target);
  const counts = { connections: 0, dropped: 0, refused: 0 };
  const pairs = new Set<[Socket, Socket]>();
  let latency = 0;
  let down = false;

  // Each direction keeps its order: a piece waits for the one before it.
  const forward = (from: Socket, into: Socket) => {
    let chain = Promise.resolve();
    from.on('data', (d: Buffer) => {
      if (latency === 0) {
        into.write(d);
        return;
      }
      from.pause();
      const wait = latency;
      chain = chain.then(() => new Promise<void>((r) => setTimeout(r, wait))).then(() => {
        if (!into.destroyed) into.write(d);
        from.resume();
      });
    });
    from.on('end', () => void chain.then(() => into.end()));
  };

  const server: Server = createServer((client) => {
    if (down) {
      counts.refused++;
      client.resetAndDestroy();
      return;
    }
    counts.connections++;
    const upstream = connect(Number(to.port), to.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const cut = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  const drop = () => {
    for (const [a, b] of [...pairs]) {
      counts.dropped++;
      a.resetAndDestroy();
      b.destroy();
    }
    pairs.clear();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    setLatency: (ms) => (latency = ms),
    setDown(d) {
      down = d;
      if (d) drop();
    },
    isDown: () => down,
    drop,
    close: () =>
      new Promise((r) => {
        drop();
        server.close(() => r());
      }),
  };
}
