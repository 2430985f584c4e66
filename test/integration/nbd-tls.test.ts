// smr serve over TLS with real clients: libnbd (nbdinfo, nbdcopy with nbds://
// URIs) and QEMU (qemu-img with tls-creds-x509 and tls-creds-psk objects),
// each with a right and a wrong credential; TLS required against a plaintext
// client; --allow hiding an export from one identity and refusing it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { C, RawClient } from '../helpers/nbd-client.js';
import { randomBytes } from '../helpers/nbd-exports.js';
import { until } from '../helpers/nbd-harness.js';
import { ensurePeers, peer, peerFails } from '../helpers/nbd-peers.js';
import { ensureCommand } from '../helpers/registry.js';
import { smr } from '../helpers/run.js';
import { startServe, type Served } from '../helpers/smr-serve.js';
import { issue, makeCa, writePsk } from '../helpers/tls-certs.js';

const skip = ensurePeers(['nbdinfo', 'nbdcopy', 'qemu-img']) || (ensureCommand('openssl', 'openssl') ? false : 'openssl is not installed');

const IMAGE_SIZE = 3 << 20;
const ALICE_KEY = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const BOB_KEY = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';

/** Whether the server's log shows `re` soon: its stderr may arrive after the client has exited. */
const logged = (s: Served, re: RegExp) => until(() => re.test(s.stderr()), 5000);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Export names nbdinfo --list --json shows. */
async function listed(uri: string): Promise<string[]> {
  const out = await peer('nbdinfo', ['--list', '--json', uri]);
  return (JSON.parse(out).exports as Array<{ 'export-name': string }>).map((e) => e['export-name']).sort();
}

describe('smr serve over TLS with real clients', { skip }, () => {
  let work: string;
  let image: Buffer;
  let baseArgs: string[];
  /** Directories laid out as qemu and libnbd want them. */
  const dirs = { alice: '', mallory: '', server: '', psk: '', wrongPsk: '' };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-tls-'));
    image = randomBytes('tls', IMAGE_SIZE);
    await writeFile(join(work, 'disk.img'), image);
    const store = join(work, 'store');
    const r = await smr(['chunk', join(work, 'disk.img'), '--store', store, '-o', join(work, 'disk.recipe'), '-q']);
    assert.equal(r.code, 0, r.stderr);
    baseArgs = ['--export', `pub=${join(work, 'disk.recipe')}`, '--export', `secret=${join(work, 'disk.recipe')}`, '--store', store];

    const ca = await makeCa(join(work, 'ca'), 'smr test CA');
    const otherCa = await makeCa(join(work, 'other-ca'), 'someone else');
    dirs.server = join(work, 'server');
    await issue(ca, dirs.server, 'server', 'localhost');
    await chmod(join(dirs.server, 'server-key.pem'), 0o600);
    dirs.alice = join(work, 'alice');
    await issue(ca, dirs.alice, 'client', 'alice');
    await copyFile(ca.cert, join(dirs.alice, 'ca-cert.pem'));
    // Mallory trusts our server but holds a certificate from another CA.
    dirs.mallory = join(work, 'mallory');
    await issue(otherCa, dirs.mallory, 'client', 'alice');
    await copyFile(ca.cert, join(dirs.mallory, 'ca-cert.pem'));
    // qemu's tls-creds-psk reads DIR/keys.psk.
    dirs.psk = join(work, 'psk');
    await mkdir(dirs.psk);
    await writePsk(join(dirs.psk, 'keys.psk'), { alice: ALICE_KEY, bob: BOB_KEY });
    dirs.wrongPsk = join(work, 'wrong-psk');
    await mkdir(dirs.wrongPsk);
    await writePsk(join(dirs.wrongPsk, 'keys.psk'), { alice: BOB_KEY });
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  describe('X.509, TLS required, client certificates checked', () => {
    let served: Served;
    before(async () => {
      served = await startServe([
        ...baseArgs,
        '--tls', 'require',
        '--tls-cert', join(dirs.server, 'server-cert.pem'),
        '--tls-key', join(dirs.server, 'server-key.pem'),
        '--tls-ca', join(work, 'ca', 'ca-cert.pem'),
        '--tls-verify-peer',
        '--allow', 'secret=bob',
      ]);
    });
    after(() => served?.stop());
    const uri = (name: string, dir: string) => `nbds://127.0.0.1:${served.port}/${name}?tls-certificates=${dir}`;
    const x509 = (dir: string) => `tls-creds-x509,id=tls0,endpoint=client,dir=${dir}`;
    const nbd = (name: string) => `driver=nbd,host=127.0.0.1,port=${served.port},export=${name},tls-creds=tls0`;

    it('libnbd with a good certificate lists only what alice may see, and reads it byte for byte', async () => {
      assert.deepEqual(await listed(uri('', dirs.alice)), ['pub']);
      const out = join(work, 'x509-nbdcopy.img');
      await peer('nbdcopy', [uri('pub', dirs.alice), out]);
      assert.equal(sha(await readFile(out)), sha(image));
      assert.ok(await logged(served, /\(alice\): TLSv1\.[23] started/), served.stderr());
    });

    it('libnbd with a certificate from another CA is refused in the TLS handshake', async () => {
      await peerFails('nbdinfo', [uri('pub', dirs.mallory)]);
      assert.ok(await logged(served, /TLS handshake failed/));
    });

    it('qemu-img with tls-creds-x509 reads the export; with the wrong certificate it cannot', async () => {
      const out = join(work, 'x509-qemu.img');
      await peer('qemu-img', ['convert', '--object', x509(dirs.alice), '--image-opts', nbd('pub'), '-O', 'raw', out]);
      assert.equal(sha(await readFile(out)), sha(image));
      await peerFails('qemu-img', ['info', '--object', x509(dirs.mallory), '--image-opts', nbd('pub')]);
    });

    it('an export not allowed to alice is refused with POLICY, and the log names her', async () => {
      const r = await peerFails('qemu-img', ['info', '--object', x509(dirs.alice), '--image-opts', nbd('secret')]);
      assert.match(r.stderr, /Denied by server|not allowed/);
      assert.ok(await logged(served, /export "secret" refused to identity "alice"/), served.stderr());
    });

    it('a plaintext client gets TLS_REQD for everything but STARTTLS/ABORT and sees no export list', async () => {
      // libnbd reports TLS_REQD to LIST as "Operation not supported".
      await peerFails('nbdinfo', ['--list', `nbd://127.0.0.1:${served.port}`]);
      await peerFails('qemu-img', ['info', `nbd://127.0.0.1:${served.port}/pub`]);
      const c = await RawClient.connect({ port: served.port });
      await c.greet();
      for (const o of [C.OPT_LIST, C.OPT_STRUCTURED_REPLY, C.OPT_INFO, C.OPT_GO, C.OPT_LIST_META_CONTEXT]) {
        c.sendOption(o);
        const replies = await c.optionReplies();
        assert.deepEqual(replies.map((x) => x.type), [C.REP_ERR_TLS_REQD], `option ${o}`);
      }
      c.sendOption(C.OPT_EXPORT_NAME, Buffer.from('pub'));
      assert.ok(await c.closedWithin(5000), 'EXPORT_NAME without TLS hangs up');
    });
  });

  describe('PSK, TLS optional', () => {
    let served: Served;
    before(async () => {
      served = await startServe([...baseArgs, '--tls', 'on', '--tls-psk', join(dirs.psk, 'keys.psk'), '--allow', 'secret=bob']);
    });
    after(() => served?.stop());
    const uri = (user: string, name: string, dir: string) => `nbds://${user}@127.0.0.1:${served.port}/${name}?tls-psk-file=${join(dir, 'keys.psk')}`;
    const psk = (dir: string, user: string, priority?: string) =>
      `tls-creds-psk,id=tls0,endpoint=client,dir=${dir},username=${user}${priority ? `,priority=${priority}` : ''}`;
    const nbd = (name: string) => `driver=nbd,host=127.0.0.1,port=${served.port},export=${name},tls-creds=tls0`;

    it('libnbd: alice sees pub only, bob sees both and reads secret byte for byte', async () => {
      assert.deepEqual(await listed(uri('alice', '', dirs.psk)), ['pub']);
      assert.deepEqual(await listed(uri('bob', '', dirs.psk)), ['pub', 'secret']);
      const out = join(work, 'psk-nbdcopy.img');
      await peer('nbdcopy', [uri('bob', 'secret', dirs.psk), out]);
      assert.equal(sha(await readFile(out)), sha(image));
    });

    it('libnbd: alice opening secret is refused and logged; a wrong key fails the handshake', async () => {
      await peerFails('nbdcopy', [uri('alice', 'secret', dirs.psk), join(work, 'never.img')]);
      assert.ok(await logged(served, /export "secret" refused to identity "alice"/), served.stderr());
      await peerFails('nbdinfo', [uri('alice', 'pub', dirs.wrongPsk)]);
      await peerFails('nbdinfo', [uri('eve', 'pub', dirs.psk)]);
    });

    it('qemu-img with tls-creds-psk, in TLS 1.3 and in TLS 1.2; a wrong key is refused', async () => {
      const out = join(work, 'psk-qemu.img');
      await peer('qemu-img', ['convert', '--object', psk(dirs.psk, 'alice'), '--image-opts', nbd('pub'), '-O', 'raw', out]);
      assert.equal(sha(await readFile(out)), sha(image));
      assert.ok(await logged(served, /\(alice\): TLSv1\.3 started/), served.stderr());
      const tls12 = await peer('qemu-img', ['info', '--object', psk(dirs.psk, 'bob', 'NORMAL:-VERS-TLS1.3:+ECDHE-PSK:+DHE-PSK:+PSK'), '--image-opts', nbd('secret')]);
      assert.match(tls12, /virtual size: 3 MiB/);
      assert.ok(await logged(served, /\(bob\): TLSv1\.2 started/), served.stderr());
      await peerFails('qemu-img', ['info', '--object', psk(dirs.wrongPsk, 'alice'), '--image-opts', nbd('pub')]);
      await peerFails('qemu-img', ['info', '--object', psk(dirs.psk, 'alice'), '--image-opts', nbd('secret')]);
    });

    it('a plaintext client may use what is open to everyone, and nothing else', async () => {
      assert.deepEqual(await listed(`nbd://127.0.0.1:${served.port}`), ['pub']);
      const out = join(work, 'plain.img');
      await peer('nbdcopy', [`nbd://127.0.0.1:${served.port}/pub`, out]);
      assert.equal(sha(await readFile(out)), sha(image));
      await peerFails('nbdinfo', [`nbd://127.0.0.1:${served.port}/secret`]);
      assert.ok(await logged(served, /export "secret" refused to a client without identity/), served.stderr());
    });
  });

  it('smr serve passes the connection limits and the handshake deadline to the server', async () => {
    const served = await startServe([...baseArgs, '--max-connections-per-client', '1', '--handshake-timeout', '1']);
    try {
      const held = await RawClient.connect({ port: served.port });
      await held.greet();
      const second = await RawClient.connect({ port: served.port });
      assert.ok(await second.closedWithin(5000), 'second connection from 127.0.0.1 refused');
      assert.ok(await held.closedWithin(10_000), 'dropped at the 1 s handshake deadline');
      assert.ok(await logged(served, /1 connections open from this address/), served.stderr());
      assert.ok(await logged(served, /handshake timed out/), served.stderr());
    } finally {
      await served.stop();
    }
  });

  describe('bad settings are one-line errors', () => {
    const fails = async (args: string[], pattern: RegExp) => {
      const r = await smr(['serve', '--listen', '127.0.0.1:0', ...baseArgs, ...args]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    };

    it('keys readable by others, missing partners, unknown exports, and unusable certificates', async () => {
      const loose = join(work, 'loose.psk');
      await writeFile(loose, `alice:${ALICE_KEY}\n`, { mode: 0o644 });
      await chmod(loose, 0o644);
      await fails(['--tls', 'on', '--tls-psk', loose], /accessible by others.*chmod 600/);
      await fails(['--tls-psk', join(dirs.psk, 'keys.psk')], /needs --tls on/);
      await fails(['--tls', 'require'], /needs --tls-cert/);
      await fails(['--tls', 'on', '--tls-psk', join(dirs.psk, 'keys.psk'), '--tls-cert', join(dirs.server, 'server-cert.pem'), '--tls-key', join(dirs.server, 'server-key.pem')], /cannot be combined/);
      await fails(['--tls', 'on', '--tls-psk', join(dirs.psk, 'keys.psk'), '--allow', 'nosuch=alice'], /no export named 'nosuch'/);
      await fails(['--tls', 'on', '--tls-cert', join(dirs.alice, 'ca-cert.pem'), '--tls-key', join(dirs.server, 'server-key.pem')], /cannot use the TLS certificate or key/);
      const r = await smr(['serve', '--listen', '127.0.0.1:0', ...baseArgs, '--tls', 'on', '--tls-psk', loose]);
      assert.doesNotMatch(r.stderr, new RegExp(ALICE_KEY), 'the key is never printed');
    });
  });
});
