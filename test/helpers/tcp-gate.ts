// A TCP relay in front of a real server, so a test can make that server look
// stopped (connections reset at once) or hung (connections accepted, nothing
// ever answered) and then bring it back, on the same address, without
// losing the server's data. State changes by call, never by time.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export type GateMode = 'pass' | 'down' | 'hang';

export interface TcpGate {
  host: string;
  port: number;
  set(mode: GateMode): void;
  close(): Promise<void>;
}

export async function startTcpGate(targetHost: string, targetPort: number): Promise<TcpGate> {
  let mode: GateMode = 'pass';
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => {});
    if (mode === 'down') return void client.destroy();
    if (mode === 'hang') return void client.resume(); // read and drop, never answer
    const upstream = connect(targetPort, targetHost);
    open.add(upstream);
    upstream.on('close', () => open.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    // Answers pass only while the gate is open: 'hang' swallows them, also on
    // connections made before, so the client sees a server that never answers.
    upstream.on('data', (d: Buffer) => {
      if (mode === 'pass') client.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    set(m) {
      mode = m;
      if (m === 'down') for (const s of open) s.destroy();
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
