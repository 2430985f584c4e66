// Reading from far away, request by request, against nginx behind our
// fault-injecting proxy: a stalled request is hedged or timed out and
// retried, a store that is down fails the read with one line and serves
// again when it is back. Outcomes are decided by the proxy's plan (which
// request stalls or fails), never by how long anything takes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DirStore } from '../../src/store/dir/dir-store.js';
import { HttpStore } from '../../src/store/http/http-store.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { useService } from '../helpers/services/service.js';
import { testChunks } from '../helpers/store-chunks.js';

const web = useService('nginx');

describe('remote reads: hedging, timeouts, retries, recovery', () => {
  let proxy: FaultProxy;
  let root: string;
  let sub: string;
  const chunks = testChunks(randomUUID(), 4, 256 * 1024);
  before(async () => {
    sub = `reads-${randomUUID()}`;
    root = join(web.env.HTTP_STATIC_ROOT as string, sub);
    const dir = new DirStore(root);
    for (const c of chunks) await dir.put(c.name, c.data);
    await dir.close();
    proxy = await startFaultProxy(web.env.HTTP_STATIC_URL as string);
  });
  after(async () => {
    await proxy.close();
    await rm(root, { recursive: true, force: true });
  });
  const storeUrl = () => new URL(`${proxy.url}/${sub}`);

  it('a stalled request gets a twin after the hedging delay, and the twin answers', async () => {
    const store = new HttpStore(storeUrl(), { hedge: 20, retry: { attempts: 1, backoffMs: 1 }, timeoutMs: 600_000 });
    proxy.setPlan((n) => (n === 1 ? 'stall' : 'pass'));
    proxy.counts.requests = 0;
    assert.deepEqual(await store.get(chunks[0]!.name), chunks[0]!.data);
    assert.equal(store.reader.stats.hedges, 1);
    assert.equal(store.reader.stats.hedgeWins, 1);
  });

  it('without hedging, a stalled request times out and the retry answers', async () => {
    const store = new HttpStore(storeUrl(), { hedge: 'off', retry: { attempts: 3, backoffMs: 1 }, timeoutMs: 300 });
    proxy.setPlan((n) => (n === 1 ? 'stall' : 'pass'));
    proxy.counts.requests = 0;
    assert.deepEqual(await store.get(chunks[1]!.name), chunks[1]!.data);
    assert.equal(store.reader.stats.timeouts, 1);
    assert.equal(store.reader.stats.retries, 1);
  });

  it('a store that is down fails reads with one line; the same store reads again once it is back', async () => {
    const store = new HttpStore(storeUrl(), { hedge: 'off', retry: { attempts: 3, backoffMs: 1 } });
    proxy.setPlan((n) => (n % 2 ? 'reset' : 'slowdown'));
    await assert.rejects(store.get(chunks[2]!.name), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'STORE_UNAVAILABLE');
      assert.match(e.message, /after 3 attempts/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    proxy.setPlan(() => 'pass');
    assert.deepEqual(await store.get(chunks[2]!.name), chunks[2]!.data);
  });

  it('a reset, then a 503 SlowDown, are retried until an answer', async () => {
    const store = new HttpStore(storeUrl(), { hedge: 'off', retry: { attempts: 4, backoffMs: 1 } });
    proxy.counts.requests = 0;
    proxy.setPlan((n) => (n === 1 ? 'reset' : n === 2 ? 'slowdown' : 'pass'));
    assert.deepEqual(await store.get(chunks[3]!.name), chunks[3]!.data);
    assert.equal(store.reader.stats.retries, 2);
  });
});
