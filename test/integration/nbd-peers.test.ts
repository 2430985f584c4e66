// The NBD server against real clients: libnbd (nbdinfo, nbdcopy, Python
// bindings), QEMU (qemu-img, qemu-io) and fio's libnbd engine, over TCP and a
// Unix socket. Each checks bytes, holes and errors against what the test
// exports hold.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdServer, type BlockExport } from '../../src/nbd/index.js';
import { BufferExport, MemoryExport, layoutExtents, prng, randomBytes } from '../helpers/nbd-exports.js';
import { SYSTEM_PYTHON, ensurePeers, nbdUri, peer, peerFails } from '../helpers/nbd-peers.js';
import { run } from '../helpers/run.js';

const skip = ensurePeers(['nbdinfo', 'nbdcopy', 'qemu-img', 'qemu-io', 'fio'], true);
const T = { skip, timeout: 60_000 };

const ro = new MemoryExport({ name: 'ro', description: 'random data with holes', size: 32 << 20, seed: 31, maxRun: 1 << 20 });
// Size not a multiple of 512, holes at 512-byte granularity.
const odd = new MemoryExport({ name: 'odd', size: (1 << 20) + 1234, seed: 32, align: 512, maxRun: 64 << 10 });
const rw = new BufferExport('rw', randomBytes('rw', 8 << 20), 'writable');
// fio writes its verification pattern through `scratch`, then reads it back through `scratch-ro`.
const scratch = new BufferExport('scratch', Buffer.alloc(32 << 20));
const scratchRo: BlockExport = {
  name: 'scratch-ro',
  size: scratch.size,
  readOnly: true,
  read: (b, o) => scratch.read(b, o),
  blockStatus: (o, l) => scratch.blockStatus(o, l),
};

let dir: string;
let server: NbdServer;
let port: number;
let sock: string;
const logs: string[] = [];

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'nbd-peers-'));
  writeFileSync(join(dir, 'ro.raw'), ro.data);
  writeFileSync(join(dir, 'odd.raw'), odd.data);
  server = new NbdServer({ exports: [ro, odd, rw, scratch, scratchRo], log: (l, m) => logs.push(`${l} ${m}`) });
  port = (await server.listen({ port: 0 })).port!;
  sock = join(dir, 'nbd.sock');
  await server.listen({ socket: sock });
});

after(async () => {
  if (skip) return;
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('nbdinfo --list shows every export with its description, size and flags', T, async () => {
  const info = JSON.parse(await peer('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${port}`])) as {
    exports: Array<Record<string, unknown>>;
  };
  const byName = new Map(info.exports.map((e) => [e['export-name'], e]));
  assert.deepEqual([...byName.keys()], ['ro', 'odd', 'rw', 'scratch', 'scratch-ro']);
  assert.equal(byName.get('ro')!.description, 'random data with holes');
  assert.equal(byName.get('ro')!['export-size'], 32 << 20);
  assert.equal(byName.get('odd')!['export-size'], (1 << 20) + 1234);
  assert.equal(byName.get('ro')!.is_read_only, true);
  assert.equal(byName.get('ro')!.can_multi_conn, true);
  assert.equal(byName.get('rw')!.is_read_only, false);
  for (const f of ['can_trim', 'can_zero', 'can_fua', 'can_flush', 'can_fast_zero', 'can_cache']) assert.equal(byName.get('rw')![f], true, f);
  assert.deepEqual(byName.get('ro')!.contexts, ['base:allocation']);
  assert.equal(byName.get('ro')!.block_size_maximum, 32 << 20);
});

test('nbdinfo over the Unix socket', T, async () => {
  const out = await peer('nbdinfo', ['--size', `nbd+unix:///odd?socket=${sock}`]);
  assert.equal(out.trim(), String((1 << 20) + 1234));
});

test('nbdinfo --map reports the holes exactly where the export has them', T, async () => {
  for (const exp of [ro, odd]) {
    const map = JSON.parse(await peer('nbdinfo', ['--map', '--json', nbdUri(port, exp.name)])) as Array<{ offset: number; length: number; type: number }>;
    const want: Array<{ offset: number; length: number; type: number }> = [];
    let pos = 0;
    for (const e of layoutExtents(exp.layout, exp.size, 0, exp.size)) {
      want.push({ offset: pos, length: e.length, type: e.hole ? 3 : 0 });
      pos += e.length;
    }
    assert.deepEqual(
      map.map(({ offset, length, type }) => ({ offset, length, type })),
      want,
      exp.name,
    );
  }
});

test('nbdcopy copies every byte, with extents and without', T, async () => {
  for (const exp of [ro, odd]) {
    for (const opts of [[], ['--no-extents'], ['--request-size=1048576', '--connections=4'], ['--synchronous']]) {
      const out = join(dir, `${exp.name}.copy`);
      await peer('nbdcopy', [...opts, nbdUri(port, exp.name), out]);
      assert.ok(readFileSync(out).equals(exp.data), `${exp.name} ${opts.join(' ')}`);
      rmSync(out);
    }
  }
});

test('qemu-img compare finds the export identical to its bytes in a file', T, async () => {
  for (const name of ['ro', 'odd']) {
    const out = await peer('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', join(dir, `${name}.raw`), nbdUri(port, name)]);
    assert.match(out, /Images are identical/);
  }
  // And it notices a difference: the writable export is not the read-only one.
  const r = await peerFails('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', join(dir, 'ro.raw'), nbdUri(port, 'rw')]);
  assert.match(r.stdout, /mismatch/i);
});

test('qemu-io: pattern reads of holes, many random reads', T, async () => {
  const [hs, he] = ro.layout.holes[0]!;
  const rnd = prng(7);
  const cmds = [`read -P 0 ${hs} ${he - hs}`];
  for (let i = 0; i < 200; i++) {
    const len = 512 * (1 + Math.floor(rnd() * 256));
    cmds.push(`read ${512 * Math.floor(rnd() * ((ro.size - len) / 512))} ${len}`);
  }
  const out = await peer('qemu-io', ['-r', '-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), nbdUri(port, 'ro')]);
  assert.equal(out.match(/^read \d+\/\d+ bytes/gm)?.length, 201);
  // A pattern check that must fail: data is not 0xab.
  const bad = await run('qemu-io', ['-r', '-f', 'raw', '-c', `read -P 0xab 0 4096`, nbdUri(port, 'ro')]);
  assert.match(bad.stdout + bad.stderr, /Pattern verification failed/);
});

test('qemu-io writes, zeroes and discards on the writable export', T, async () => {
  const uri = nbdUri(port, 'rw');
  const before = { ...rw.calls };
  await peer('qemu-io', [
    '-f', 'raw',
    '-c', 'write -P 0xab 0 64k',
    '-c', 'read -P 0xab 0 64k',
    '-c', 'write -z 64k 64k',
    '-c', 'read -P 0 64k 64k',
    '-c', 'write -P 0xcd -f 1m 4k',
    '-c', 'discard 2m 64k',
    '-c', 'flush',
    uri,
  ]);
  assert.ok(rw.data.subarray(0, 64 << 10).every((b) => b === 0xab));
  assert.ok(rw.data.subarray(64 << 10, 128 << 10).every((b) => b === 0));
  assert.ok(rw.data.subarray(1 << 20, (1 << 20) + 4096).every((b) => b === 0xcd));
  assert.ok(rw.data.subarray(2 << 20, (2 << 20) + (64 << 10)).every((b) => b === 0), 'this export zeroes what is trimmed');
  assert.ok(rw.calls.write > before.write);
  assert.ok(rw.calls.writeZeroes > before.writeZeroes);
  assert.ok(rw.calls.trim > before.trim);
  assert.ok(rw.calls.fua > before.fua, 'write -f sends FUA');
  assert.ok(rw.calls.flush > before.flush);
});

test('writes to a read-only export fail: qemu-io refuses, and the server says EPERM to a client that tries anyway', T, async () => {
  const r = await peerFails('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 4k', nbdUri(port, 'ro')]);
  assert.match(r.stderr + r.stdout, /read-only|Permission|not permitted/i);
  // libnbd checks the flags itself unless strict mode is off.
  const script = `
import nbd, errno, sys
h = nbd.NBD()
h.set_strict_mode(0)
h.connect_uri(sys.argv[1])
for name, call in [('write', lambda: h.pwrite(b'x' * 4096, 0)), ('trim', lambda: h.trim(4096, 0)), ('zero', lambda: h.zero(4096, 0))]:
    try:
        call()
        print(name, 'ok')
    except nbd.Error as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
`;
  const out = await peer(SYSTEM_PYTHON, ['-c', script, nbdUri(port, 'ro')]);
  assert.deepEqual(out.trim().split('\n'), ['write EPERM', 'trim EPERM', 'zero EPERM']);
  assert.ok(ro.data.subarray(0, 4096).some((b) => b !== 0x78));
});

test('libnbd: random reads (structured and simple replies, pipelined) and block status match the export', T, async () => {
  const script = `
import nbd, random, sys
data = open(sys.argv[2], 'rb').read()
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(sys.argv[1])
assert h.get_structured_replies_negotiated()
rnd = random.Random(5)
for i in range(2000):
    n = rnd.randint(1, 200000)
    off = rnd.randint(0, len(data) - n)
    assert h.pread(n, off) == data[off:off + n], (off, n)
# Several requests in flight at once on one connection.
bufs = []
for i in range(64):
    off = rnd.randint(0, len(data) - 65536)
    b = nbd.Buffer(65536)
    bufs.append((off, b, h.aio_pread(b, off)))
while h.aio_in_flight() > 0:
    h.poll(-1)
for off, b, _ in bufs:
    assert b.to_bytearray() == data[off:off + 65536]
ext = []
def cb(metacontext, offset, entries, err):
    ext.extend(entries)
h.block_status(len(data), 0, cb)
# And with simple replies only, as the kernel's client speaks.
s = nbd.NBD()
s.set_request_structured_replies(False)
s.connect_uri(sys.argv[1])
assert not s.get_structured_replies_negotiated()
for i in range(500):
    n = rnd.randint(1, 200000)
    off = rnd.randint(0, len(data) - n)
    assert s.pread(n, off) == data[off:off + n], (off, n)
print(' '.join(map(str, ext)))
`;
  const out = await peer(SYSTEM_PYTHON, ['-c', script, nbdUri(port, 'odd'), join(dir, 'odd.raw')]);
  const got = out.trim().split(' ').map(Number);
  // libnbd may stop short of the end; what it got must be a prefix of the layout.
  const want = layoutExtents(odd.layout, odd.size, 0, odd.size).flatMap((e) => [e.length, e.hole ? 3 : 0]);
  assert.deepEqual(got, want.slice(0, got.length));
});

test('fio (libnbd engine): 8 jobs of 4 KiB random reads at depth 32, then a verified pass over a pattern fio wrote', T, async () => {
  // The engine's options (--uri) are known only after --ioengine.
  const fio = (name: string, exp: string, args: string[]) =>
    peer('fio', [`--name=${name}`, '--ioengine=nbd', `--uri=${nbdUri(port, exp)}`, '--bs=4k', '--iodepth=32', '--output-format=json', ...args]);
  const jobs = (out: string) =>
    (JSON.parse(out.slice(out.indexOf('{'))) as { jobs: Array<{ error: number; read: { io_bytes: number; iops: number } }> }).jobs;
  // Load: time-based random reads.
  const load = jobs(await fio('load', 'ro', ['--rw=randread', '--numjobs=8', '--time_based', '--runtime=5', '--group_reporting', `--size=${ro.size}`]));
  assert.equal(load[0]!.error, 0);
  assert.ok(load[0]!.read.iops > 1000, `iops ${load[0]!.read.iops}`);
  // Fill through the writable export with fio's checksummed blocks...
  const fill = jobs(await fio('fill', 'scratch', ['--rw=write', '--verify=crc32c', '--do_verify=0', '--verify_state_save=0', `--size=${scratch.size}`]));
  assert.equal(fill[0]!.error, 0);
  // ...and verify every block read back at random through the read-only one.
  const check = jobs(await fio('check', 'scratch-ro', ['--rw=randread', '--verify=crc32c', '--numjobs=8', `--size=${scratch.size}`]));
  for (const j of check) {
    assert.equal(j.error, 0);
    assert.equal(j.read.io_bytes, scratch.size);
  }
  assert.ok(!logs.some((l) => l.startsWith('error')), logs.filter((l) => l.startsWith('error')).join('\n'));
});

test('QEMU with reconnect-delay carries on across a server restart on the same port', T, async () => {
  const first = new NbdServer({ exports: [ro], log: () => {} });
  const p = (await first.listen({ port: 0 })).port!;
  const [hs] = ro.layout.holes[0]!;
  // qemu-io reads, sleeps while the server is replaced, and reads again on the new one.
  const opts = `driver=raw,file.driver=nbd,file.server.type=inet,file.server.host=127.0.0.1,file.server.port=${p},file.export=ro,file.reconnect-delay=20`;
  const io = run('qemu-io', ['-r', '--image-opts', opts, '-c', `read -P 0 ${hs} 4096`, '-c', 'sleep 1000', '-c', `read -P 0 ${hs} 4096`, '-c', 'read 0 4096']);
  await new Promise((r) => setTimeout(r, 400));
  await first.close({ drainMs: 2000 });
  await new Promise((r) => setTimeout(r, 300));
  const second = new NbdServer({ exports: [ro], log: () => {} });
  await second.listen({ port: p });
  try {
    const r = await io;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/^read 4096\/4096 bytes/gm)?.length, 3, r.stdout + r.stderr);
    assert.ok(second.stats.requests >= 2, 'the last reads were served by the new server');
  } finally {
    await second.close();
  }
});
