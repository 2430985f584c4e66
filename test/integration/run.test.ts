// `smr run` as users run it: the fixture images (OCI layouts) converted on
// first use into a run cache of this test's own, served in-process and
// booted under real QEMU with Debian's kernel. Output and exit status are
// the command's; the image config applies as docker run applies it; the
// guest's writes stay in a per-run overlay; a second run converts nothing;
// Ctrl-C mid-boot leaves nothing behind; bad input is one line.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { haveCommand, isRoot, run, SMR } from '../helpers/run.js';
import { archive, entry } from '../helpers/tar-build.js';
import { VM_CACHE } from '../helpers/vm.js';

const skip = skipWithoutFixtures() || (!isRoot() ? 'needs root' : !haveCommand('qemu-system-x86_64') ? 'qemu-system-x86 missing' : false);

/** The process ids whose parent is PID and whose name starts with NAME. */
async function childrenOf(pid: number, name: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid && stat.slice(stat.indexOf('(') + 1).startsWith(name)) out.push(Number(e));
  }
  return out;
}

const alive = (pid: number) => readFile(`/proc/${pid}/stat`).then(() => true, () => false);

describe('smr run', { skip }, () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  const oci = (name: string) => `oci:${fixtureLayout(name)}`;
  const smrRun = (args: string[], opts: { input?: string } = {}) => run(process.execPath, [SMR, 'run', ...args], { env, ...opts });
  const chunkFiles = async () => (await readdir(join(work, 'cache', 'stream-my-root', 'chunks'), { recursive: true })).sort();

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-run-test-'));
    await mkdir(join(work, 'tmp'));
    // The run cache is this test's own; the guest kernel cache is CI's.
    env = { ...process.env, XDG_CACHE_HOME: join(work, 'cache'), SMR_VM_CACHE: VM_CACHE, TMPDIR: join(work, 'tmp') };
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('static (no program in it), two first runs at once: one converts, the other reuses it; a command the image lacks exits 127, as in a shell', async () => {
    const runs = await Promise.all([0, 1].map(() => smrRun([oci('static'), '--', '/bin/sh', '-c', 'true'])));
    for (const r of runs) {
      assert.equal(r.code, 127, r.stderr);
      assert.match(r.stdout, /can't execute '\/bin\/sh': No such file or directory/);
    }
    const converted = runs.filter((r) => /smr run: converting oci:.*static/.test(r.stderr) && /smr run: converted: /.test(r.stderr));
    assert.equal(converted.length, 1, runs.map((r) => r.stderr).join('\n---\n'));
    const recipes = await readdir(join(work, 'cache', 'stream-my-root', 'recipes'));
    assert.equal(recipes.length, 1, `one recipe, no lock file left: ${recipes.join(' ')}`);
    assert.match(recipes[0]!, /\.recipe$/);
  });

  let afterFirst: string[];
  it('python3, first run with --net: converted (sharing static\'s base chunks), the guest writes through its overlay and reaches the host, output streams to stdout', async () => {
    const host = createServer((_req, res) => res.end('from the host'));
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    const port = (host.address() as AddressInfo).port;
    const script = `import urllib.request; open("/etc/written", "w").write("x"); print("hello from python3"); print(urllib.request.urlopen("http://10.0.2.2:${port}/").read().decode()); print(open("/etc/resolv.conf").read().strip())`;
    const r = await smrRun([oci('python3'), '--net', '--timing', '--', '-c', script]).finally(() => host.close());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from python3\nfrom the host\nnameserver 10.0.2.3\n');
    const converted = /converted: (\d+) chunks \((\d+) zero\), (\d+) new in the store .*, (\d+) already there/.exec(r.stderr);
    assert.ok(converted, r.stderr);
    assert.ok(Number(converted[4]) > 0, 'chunks of the base layer static shares were in the store already');
    assert.match(r.stderr, /accel (tcg|kvm): resolve\/convert .* vm start .* kernel->init .* init->command .* command /);
    assert.match(r.stderr, /chunks: \d+ from the store \(/);
    afterFirst = await chunkFiles();
  });

  it('python3, second run: nothing converted, the first run\'s write is gone, Env/WorkingDir/User of the image config apply, no network', async () => {
    const r = await smrRun([oci('python3'), '--', '-c', 'import os; print(os.path.exists("/etc/written"), os.environ["SSL_CERT_FILE"], os.getcwd(), os.getuid(), os.listdir("/sys/class/net"))']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "False /etc/ssl/certs/ca-certificates.crt / 0 ['lo']\n");
    assert.doesNotMatch(r.stderr, /convert/);
    assert.deepEqual(await chunkFiles(), afterFirst, 'the guest\'s write did not reach the store');
    assert.deepEqual(await readdir(join(work, 'tmp')), [], 'no temporary files left');
  });

  it('debian-python, two runs at once: the image Cmd with -i stdin; and -e, -w, -u, --hostname overriding with exit status 7', async () => {
    const script = 'echo "$FOO|$(pwd)|$(id -u):$(id -g)|$HOME|$(hostname)"; test -e /etc/mine && echo seen; exit 7';
    const [a, b] = await Promise.all([
      smrRun(['-i', oci('debian-python'), '--keep-overlay', join(work, 'overlay')], { input: 'open("/etc/mine", "w").write("a")\nprint(6 * 7)\n' }),
      smrRun([oci('debian-python'), '-e', 'FOO=a b', '-w', '/usr/lib', '-u', 'nobody', '--hostname', 'guest1', '--', '/bin/sh', '-c', script]),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, '42\n');
    assert.equal(b.code, 7, b.stderr);
    assert.equal(b.stdout, 'a b|/usr/lib|65534:65534|/nonexistent|guest1\n');
    assert.ok((await readdir(join(work, 'overlay'))).length > 0, '--keep-overlay kept the writes');
  });

  it('-i carries any bytes: binary stdin through cat comes back unchanged, its end an end of file', async () => {
    // Every byte value (NUL, ^C, ^D, CR, ...) and then random ones, beyond one 64 KiB socket buffer.
    const input = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(200_000)]);
    await writeFile(join(work, 'in.bin'), input);
    const script = `"$1" "$2" run -i ${oci('debian-python')} -- cat <"$3" >"$4"`;
    const r = await run('sh', ['-c', script, 'sh', process.execPath, SMR, join(work, 'in.bin'), join(work, 'out.bin')], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readFile(join(work, 'out.bin'))).equals(input), 'the bytes came back unchanged');
  });

  it('Ctrl-C mid-boot stops the VM (status 130) and leaves no process, socket, overlay or temporary file', async () => {
    const child = spawn(process.execPath, [SMR, 'run', oci('debian-python'), '--', 'sleep', '600'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    let qemu: number | undefined;
    while (qemu === undefined) {
      qemu = (await childrenOf(child.pid!, 'qemu-system'))[0];
      if (qemu === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.equal(await alive(qemu), false, 'qemu is gone');
    assert.deepEqual(await readdir(join(work, 'tmp')), [], 'no socket, overlay or temporary file left');
  });

  it('bad input: one line each, a non-zero exit', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['oci:' + join(work, 'no-such-layout')], /does not exist/],
      [[oci('static-arm64')], /linux\/arm64.*linux\/amd64 guests on this machine \(--platform linux\/arm64\/v8 runs it emulated, slowly\)/],
      [['--platform', 'linux/riscv64', oci('static-multiarch')], /guests are linux\/amd64 or linux\/arm64, not linux\/riscv64/],
      [[oci('static')], /no Cmd or Entrypoint: give the command after --/],
    ];
    for (const [args, message] of cases) {
      const r = await smrRun(args);
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    // No QEMU on PATH, or no kernel and no apt-get to fetch one: what to install.
    const bin = join(work, 'bin');
    await mkdir(bin);
    const noQemu = await run(process.execPath, [SMR, 'run', oci('python3')], { env: { ...env, PATH: bin } });
    assert.equal(noQemu.stderr, 'smr run: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)\n');
    await symlink((await run('sh', ['-c', 'command -v qemu-system-x86_64'])).stdout.trim(), join(bin, 'qemu-system-x86_64'));
    const noArmQemu = await run(process.execPath, [SMR, 'run', '--platform', 'linux/arm64', oci('static-arm64')], { env: { ...env, PATH: bin } });
    assert.equal(noArmQemu.stderr, 'smr run: qemu-system-aarch64 is not installed (apt-get install qemu-system-arm)\n');
    assert.equal(noArmQemu.code, 125);
    const noKernel = await run(process.execPath, [SMR, 'run', oci('python3')], { env: { ...env, PATH: bin, SMR_VM_CACHE: join(work, 'empty-vm-cache') } });
    assert.equal(noKernel.code, 125);
    assert.match(noKernel.stderr, /^smr run: no guest kernel in .*apt-(get|cache) is not installed \(apt-get install apt\)/);
    assert.equal(noKernel.stderr.trim().split('\n').length, 1, noKernel.stderr);
  });
});

// An arm64 image on this x86-64 machine: QEMU's virt machine, emulated
// (TCG), with Debian's arm64 kernel and busybox fetched into the VM cache's
// arm64/ on first use (scripts/setup does not: only this test needs them).
// The fixture static-arm64 has no program, so the image here is one layer
// holding that arm64 busybox.
describe('smr run --platform linux/arm64 (emulated)', { skip: skip || (!haveCommand('qemu-system-aarch64') ? 'qemu-system-arm missing' : false) }, () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smr-run-arm64-test-'));
    env = { ...process.env, XDG_CACHE_HOME: join(work, 'cache'), SMR_VM_CACHE: VM_CACHE };
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('an arm64 busybox image: the guest is aarch64 on QEMU virt, its output and exit status come through', async () => {
    const prepared = await run(process.execPath, [SMR, 'boot', '--prepare', '--arch', 'arm64'], { env });
    assert.equal(prepared.code, 0, prepared.stderr);
    const busybox = await readFile(join(VM_CACHE, 'arm64', 'busybox', 'busybox'));
    const layout = join(work, 'arm64-busybox');
    const tar = archive(entry({ name: 'bin/', typeflag: '5', mode: 0o755 }), entry({ name: 'bin/busybox', mode: 0o755, size: busybox.length }, busybox));
    await writeOciLayout(layout, [tar], { architecture: 'arm64', config: { Entrypoint: ['/bin/busybox'] } });

    const r = await run(process.execPath, [SMR, 'run', '--platform', 'linux/arm64', `oci:${layout}`, '--timing', '--', 'sh', '-c', 'echo "$(busybox uname -m) says hello"; exit 7'], { env });
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'aarch64 says hello\n');
    assert.match(r.stderr, /^smr run: a linux\/arm64 guest on this amd64 machine runs emulated \(QEMU TCG\): slow$/m);
    assert.match(r.stderr, /status 7 \(exited\), arm64 guest on QEMU virt \(emulated\), accel tcg: resolve\/convert /);
  });
});
