// Writes acknowledged as durable survive kill -9: each round starts `smr
// serve --writable --overlay DIR`, checks that every block made durable in
// earlier rounds reads back, then writes new 4 KiB blocks (some FUA, a FLUSH
// every few acknowledgements) and kills the server with SIGKILL after a
// random number of acknowledgements, writes still in flight. A block is
// durable once its FUA write was acknowledged, or once a FLUSH sent after
// its acknowledgement was. Unacknowledged writes may or may not survive.
// The kill comes after a random number of acknowledgements, and never
// before the first durable one.
import { C, RawClient } from './nbd-client.js';
import { randomBytes } from './nbd-exports.js';
import { startServe, type Served } from './smr-serve.js';

const BLOCK = 4096;

export interface DurabilityResult {
  rounds: number;
  /** Blocks acknowledged as durable before a kill. */
  durableBlocks: number;
  /** Durable blocks that read back different (must be 0). */
  lostBlocks: number;
  /** Restarts that failed (must be 0). */
  failedRestarts: number;
}

const blockData = (round: number, i: number) => randomBytes(`durable-${round}-${i}`, BLOCK);

async function readBlocks(port: number, name: string, blocks: Array<{ round: number; i: number; index: number }>): Promise<number> {
  const c = await RawClient.connect({ port });
  try {
    await c.open(name);
    let lost = 0;
    for (const b of blocks) {
      c.request(C.CMD_READ, b.index * BLOCK, BLOCK, { cookie: BigInt(b.index) });
      const r = await c.simpleReply(BLOCK);
      if (r.error !== 0 || !r.data.equals(blockData(b.round, b.i))) lost++;
    }
    return lost;
  } finally {
    c.close();
  }
}

/** One round of writes until the kill; returns the blocks made durable. */
async function writeUntilKilled(served: Served, name: string, round: number, perRound: number, rnd: () => number) {
  const c = await RawClient.connect({ port: served.port });
  await c.open(name);
  const durable: Array<{ round: number; i: number; index: number }> = [];
  const ackedNotDurable = new Map<bigint, { round: number; i: number; index: number }>();
  const flushCovers = new Map<bigint, Array<{ round: number; i: number; index: number }>>();
  const fua = new Set<bigint>();
  const block = (i: number) => ({ round, i, index: round * perRound + i });
  const killAfter = 4 + Math.floor(rnd() * (perRound - 8));
  let acks = 0;
  let sent = 0;
  const window = 8;
  let cookie = 1n;
  const send = () => {
    const i = sent++;
    const flags = rnd() < 0.25 ? C.FLAG_FUA : 0;
    const k = BigInt(i) + 1n;
    if (flags) fua.add(k);
    c.request(C.CMD_WRITE, block(i).index * BLOCK, BLOCK, { cookie: k, flags, payload: blockData(round, i) });
  };
  for (let n = 0; n < window; n++) send();
  cookie = 1_000_000n;
  try {
    // The kill waits for at least one durable block, so every round checks something.
    while (acks < killAfter || durable.length === 0) {
      const r = await c.simpleReply();
      if (r.error !== 0) throw new Error(`write answered error ${r.error}`);
      if (flushCovers.has(r.cookie)) {
        durable.push(...flushCovers.get(r.cookie)!);
        flushCovers.delete(r.cookie);
        continue;
      }
      acks++;
      const b = block(Number(r.cookie) - 1);
      if (fua.has(r.cookie)) durable.push(b);
      else ackedNotDurable.set(r.cookie, b);
      if (acks % 5 === 0 || (acks === perRound && ackedNotDurable.size > 0)) {
        const f = cookie++;
        flushCovers.set(f, [...ackedNotDurable.values()]);
        ackedNotDurable.clear();
        c.request(C.CMD_FLUSH, 0, 0, { cookie: f });
      }
      if (sent < perRound) send();
    }
  } finally {
    // The kill comes with writes and maybe a FLUSH in flight.
    await served.kill();
    c.close();
  }
  return durable;
}

export async function durabilityRounds(o: {
  rounds: number;
  serveArgs: string[];
  name: string;
  env?: NodeJS.ProcessEnv;
  rnd: () => number;
  log?: (m: string) => void;
}): Promise<DurabilityResult> {
  const perRound = 48;
  const all: Array<{ round: number; i: number; index: number }> = [];
  const result: DurabilityResult = { rounds: 0, durableBlocks: 0, lostBlocks: 0, failedRestarts: 0 };
  let port = 0;
  for (let round = 0; round <= o.rounds; round++) {
    let served: Served;
    try {
      served = await startServe(o.serveArgs, { port, env: o.env });
    } catch (e) {
      result.failedRestarts++;
      o.log?.(`durability: restart failed: ${(e as Error).message.split('\n')[0]}`);
      break;
    }
    port = served.port;
    result.lostBlocks += await readBlocks(served.port, o.name, all);
    if (round === o.rounds) {
      await served.stop();
      break;
    }
    const durable = await writeUntilKilled(served, o.name, round, perRound, o.rnd);
    all.push(...durable);
    result.durableBlocks += durable.length;
    result.rounds++;
  }
  return result;
}
