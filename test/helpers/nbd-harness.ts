// Starting an NBD server for a test, with its log kept for assertions.
import { NbdServer, type NbdServerOptions } from '../../src/nbd/index.js';

export interface Harness {
  server: NbdServer;
  port: number;
  logs: Array<{ level: string; msg: string }>;
  close(drainMs?: number): Promise<void>;
}

export async function startServer(o: Omit<NbdServerOptions, 'log'>): Promise<Harness> {
  const logs: Harness['logs'] = [];
  const server = new NbdServer({ ...o, log: (level, msg) => logs.push({ level, msg }) });
  const { port } = await server.listen({ port: 0 });
  return { server, port: port!, logs, close: (drainMs = 1000) => server.close({ drainMs }) };
}

/** Polls until cond holds or timeoutMs passes; returns whether it held. */
export async function until(cond: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/** Live objects per constructor name, from a V8 heap snapshot (slow: a second or so). */
export async function countObjects(names: string[]): Promise<Record<string, number>> {
  const { getHeapSnapshot } = await import('node:v8');
  const chunks: string[] = [];
  for await (const c of getHeapSnapshot()) chunks.push(String(c));
  const snap = JSON.parse(chunks.join('')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const objectType = snap.snapshot.meta.node_types[0].indexOf('object');
  const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (let i = 0; i < snap.nodes.length; i += stride) {
    if (snap.nodes[i + typeAt] !== objectType) continue;
    const name = snap.strings[snap.nodes[i + nameAt]!]!;
    if (name in counts) counts[name]!++;
  }
  return counts;
}
