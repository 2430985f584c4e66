// The one retry policy: exponential backoff with jitter, capped; retries
// stop at the attempt limit or when the error is not worth another try.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, withRetries } from '../../src/util/retry.js';

test('backoff doubles per retry within ±50 % jitter, and is capped', () => {
  const policy = { attempts: 10, backoffMs: 100, maxBackoffMs: 1000 };
  for (let i = 0; i < 200; i++) {
    for (const [retry, base] of [[1, 100], [2, 200], [3, 400], [4, 800], [5, 1000], [9, 1000]] as const) {
      const d = backoffDelay(policy, retry);
      assert.ok(d >= base * 0.5 && d <= base * 1.5, `retry ${retry}: ${d}`);
    }
  }
});

test('retries until success, at most `attempts` tries, only while retryable', async () => {
  const policy = { attempts: 3, backoffMs: 1 };
  let tries = 0;
  assert.equal(await withRetries(policy, async (n) => (++tries < 3 ? Promise.reject(new Error(`try ${n}`)) : 'ok'), () => true), 'ok');
  assert.equal(tries, 3);
  tries = 0;
  await assert.rejects(withRetries(policy, async () => Promise.reject(new Error(`try ${++tries}`)), () => true), /try 3/);
  tries = 0;
  await assert.rejects(withRetries(policy, async () => Promise.reject(new Error(`try ${++tries}`)), () => false), /try 1/);
  // A server-given wait (Retry-After) is a retry too.
  tries = 0;
  assert.equal(await withRetries(policy, async () => (++tries < 2 ? Promise.reject(new Error('busy')) : 'ok'), () => 1), 'ok');
});
