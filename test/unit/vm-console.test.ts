// The host's side of the guest console: the command's output passes through
// byte for byte however the serial stream is split, kernel chatter stays
// out of it, and only markers with this boot's nonce count. And the request
// file's quoting, read back by a real POSIX shell.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { ConsoleReader } from '../../src/vm/console.js';
import { shellQuote } from '../../src/vm/request.js';

const NONCE = '0123456789abcdef';

// What the tty sends: every "\n" of the command's output as "\r\n".
const tty = (s: string) => s.replace(/\n/g, '\r\n');

function transcript(output: string): string {
  return (
    tty('[    0.000000] Linux version 6.1.0\n[    1.2] Run /init as init process\n') +
    tty(`@@SMR-INIT:${NONCE} uptime=1.50\ninit: modules loaded\n@@SMR-START:${NONCE} uptime=2.25\n`) +
    tty(output) +
    tty(`@@SMR-EXIT:${NONCE} status=3 timeout=0 uptime=3.75\n[    3.8] reboot: Power down\n`)
  );
}

function read(chunks: string[]) {
  let out = Buffer.alloc(0);
  const logs: string[] = [];
  const r = new ConsoleReader(NONCE, (b) => (out = Buffer.concat([out, b])), (l) => logs.push(l));
  for (const c of chunks) r.feed(Buffer.from(c, 'latin1'));
  r.end();
  return { out: out.toString('latin1'), logs, markers: r.markers };
}

describe('console reader', () => {
  test('output passes through, markers give the phases and status', () => {
    const output = 'hello\nworld\n@@SMR-EXIT:ffffffffffffffff status=0 (forged)\nno newline';
    const { out, logs, markers } = read([transcript(output)]);
    assert.equal(out, output);
    assert.equal(markers.init, 1.5);
    assert.equal(markers.start, 2.25);
    assert.equal(markers.exit, 3.75);
    assert.equal(markers.status, 3);
    assert.equal(markers.timedOut, false);
    assert.ok(logs.includes('init: modules loaded'));
    assert.ok(logs.some((l) => l.includes('Power down')));
    assert.ok(!logs.some((l) => l.includes('hello')));
  });

  test('any split of the stream gives the same bytes (CR, LF, binary, marker prefixes)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '\n', '\r', '@', '@@SMR-', 'E', '\u00ff', '\u0000') }), fc.array(fc.nat(), { maxLength: 8 }), (output, cuts) => {
        const text = transcript(output);
        const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...at].map((p, i, all) => text.slice(p, all[i + 1] ?? text.length));
        const r = read(chunks);
        // The tty turned "\n" into "\r\n"; the reader turns "\r\n" back into "\n".
        assert.equal(r.out, tty(output).replace(/\r\n/g, '\n'));
        assert.equal(r.markers.status, 3);
      }),
      { numRuns: 300 },
    );
  });

  test('errors and probe markers; a VM that dies mid-command keeps what it printed', () => {
    const a = read([tty(`@@SMR-INIT:${NONCE} uptime=1\n@@SMR-ERROR:${NONCE} working directory /x does not exist in the image\n`)]);
    assert.equal(a.markers.error, 'working directory /x does not exist in the image');
    assert.equal(read([tty(`@@SMR-PROBE:${NONCE}\n`)]).markers.probeOk, true);
    const b = read([tty(`@@SMR-START:${NONCE} uptime=2\npartial`)]);
    assert.equal(b.out, 'partial');
    assert.equal(b.markers.status, undefined);
  });
});

describe('request quoting', () => {
  test('a POSIX shell reads back every argument exactly', () => {
    const args = ['plain', '', 'two words', "it's", `'"$HOME\`x\`\\n`, 'line\nbreak', '-n', '*', 'ü'];
    const r = spawnSync('sh', ['-c', `printf '%s\\0' ${args.map(shellQuote).join(' ')}`]);
    assert.equal(r.status, 0);
    assert.deepEqual(r.stdout.toString('utf8').split('\0').slice(0, -1), args);
  });
});
