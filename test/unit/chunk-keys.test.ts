// Tenant key files and salts: every accepted spelling of a key, and a clear
// KEY_* error for everything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKeyFile, parseSalt } from '../../src/chunk/keys.js';
import { isSmrError } from '../../src/util/errors.js';

test('key files: raw, hex, base64, with whitespace', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smr-keys-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let key = randomBytes(32);
  key[0] = 0xff; // surely not text
  const spellings: [string, Buffer | string][] = [
    ['raw', key],
    ['hex', key.toString('hex')],
    ['HEX with newline', `${key.toString('hex').toUpperCase()}\n`],
    ['hex in spaces', `  \t${key.toString('hex')}\r\n\n`],
    ['base64', key.toString('base64')],
    ['base64 without padding', `${key.toString('base64').replace(/=+$/, '')}\n`],
    ['base64url', key.toString('base64url')],
  ];
  for (const [name, content] of spellings) {
    const f = join(dir, name);
    await writeFile(f, content, { mode: 0o600 });
    assert.deepEqual(await loadKeyFile(f), key, name);
  }

  const bad: [string, Buffer | string, RegExp][] = [
    ['empty', '', /32 bytes/],
    ['31 raw bytes', randomBytes(31), /32 bytes/],
    ['33 raw bytes', randomBytes(33), /32 bytes/],
    ['hex of 16 bytes (32 characters of text)', randomBytes(16).toString('hex'), /32 bytes/],
    ['hex of 31 bytes', randomBytes(31).toString('hex'), /32 bytes/],
    ['hex with a stray letter', `${key.toString('hex').slice(0, 63)}g`, /32 bytes/],
    ['base64 of 24 bytes', randomBytes(24).toString('base64'), /32 bytes/],
    ['a passphrase', 'correct horse battery staple\n', /32 bytes/],
    ['all zeros', Buffer.alloc(32), /all zeros/],
    ['all zeros in hex', '0'.repeat(64), /all zeros/],
    ['too long', Buffer.alloc(10000, 0x61), /10000 bytes/],
  ];
  for (const [name, content, message] of bad) {
    const f = join(dir, `bad-${name}`);
    await writeFile(f, content, { mode: 0o600 });
    await assert.rejects(loadKeyFile(f), (e: unknown) => isSmrError(e) && e.code === 'KEY_INVALID' && message.test(e.message) && e.message.includes(f), name);
  }
  const open = join(dir, 'readable-by-others');
  await writeFile(open, key.toString('hex'), { mode: 0o644 });
  await assert.rejects(loadKeyFile(open), (e: unknown) => isSmrError(e) && e.code === 'KEY_PERMISSIONS' && /chmod 600/.test(e.message) && !e.message.includes(key.toString('hex')));
  await assert.rejects(loadKeyFile(join(dir, 'missing')), (e: unknown) => isSmrError(e) && e.code === 'KEY_NOT_FOUND' && /does not exist/.test(e.message));
  await assert.rejects(loadKeyFile(dir), (e: unknown) => isSmrError(e) && e.code === 'KEY_INVALID' && /not a file/.test(e.message));
});

test('salts: any text, as its UTF-8 bytes', () => {
  assert.deepEqual(parseSalt('tenant-42'), Buffer.from('tenant-42'));
  assert.deepEqual(parseSalt(' spaced '), Buffer.from(' spaced '));
  assert.deepEqual(parseSalt('Zürich'), Buffer.from([0x5a, 0xc3, 0xbc, 0x72, 0x69, 0x63, 0x68]));
  // Hex is not decoded: it is text like any other.
  assert.deepEqual(parseSalt('00ff'), Buffer.from('00ff', 'latin1'));
  for (const bad of ['', 'x'.repeat(1025), 'broken \ud800 surrogate']) {
    assert.throws(() => parseSalt(bad), (e: unknown) => isSmrError(e) && e.code === 'USAGE' && /--salt/.test(e.message), JSON.stringify(bad.slice(0, 20)));
  }
});
