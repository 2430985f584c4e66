// What the guest is asked to run, and its encoding: a shell file,
// /smr/request, that the initramfs /init sources. It travels as a second
// cpio archive appended to the cached initramfs (the kernel unpacks
// concatenated archives in turn), so the command line has no length or
// quoting limit and the cached initramfs stays the same for every boot.
//
// The fields are what `docker run` applies to a container (issue 10, `smr
// run`, maps an image's config onto them).
import { randomBytes } from 'node:crypto';
import { SmrError } from '../util/errors.js';
import { writeCpio } from './cpio.js';

export interface GuestRequest {
  /** The command and its arguments (argv[0] looked up in PATH inside the image). */
  argv: string[];
  /** The complete environment as "K=V" (image Env plus -e). PATH and HOME get docker's defaults when absent. */
  env?: string[];
  /** Absolute working directory in the image (default "/"). */
  workingDir?: string;
  /** docker's --user: NAME|UID[:GROUP|GID], resolved in the image's /etc/passwd and /etc/group (default root). */
  user?: string;
  /** Guest hostname, also in /etc/hostname and /etc/hosts when the image has them (default "localhost"). */
  hostname?: string;
  /** Mount the root read-write (the disk must be writable); default read-only. */
  writable?: boolean;
  /** Kill the command after this many seconds (0 or absent: never). */
  timeoutSeconds?: number;
  /**
   * The command's stdin: nothing (default, like docker run without -i), or
   * 'ports': stdin and stdout are raw byte streams to the host, two
   * virtio-serial ports (PIPE_PORTS; no line discipline, so any bytes pass
   * and the host closing its end is the end of file); stderr stays on the
   * console.
   */
  stdin?: 'null' | 'ports';
}

/** The virtio-serial port names of the command's stdin and stdout in 'ports' mode (QEMU's virtserialport name=). */
export const PIPE_PORTS = { stdin: 'smr.stdin', stdout: 'smr.stdout' } as const;

/** Network setup the request carries: virtio-net modules (load order) for QEMU user-mode networking. */
export interface RequestNet {
  modules: Array<{ name: string; data: Buffer }>;
}

/** What the request carries besides the command: modules (load order) for --net and for stdin 'ports'. */
export interface RequestExtras {
  net?: RequestNet;
  /** virtio_console and what it needs, unless built in. */
  portModules?: Array<{ name: string; data: Buffer }>;
}

/**
 * Shell lines that load virtio_console, find the two ports by name (udev
 * is not there to make /dev/virtio-ports/NAME links) and run the command
 * with stdin and stdout on them. One open file each: a port can be open
 * only once.
 */
function pipeSetup(modules: string[], run: string): string[] {
  const find = (v: string, name: string) => `[ "$(/bin/busybox cat $smr_p/name 2>/dev/null)" = ${name} ] && ${v}=/dev/\${smr_p##*/}`;
  return [
    ...(modules.length ? [`for m in ${modules.join(' ')}; do /bin/busybox insmod /smr/mod/$m.ko 2>/dev/null; done`] : []),
    'smr_i=0 smr_in= smr_out=',
    'while { [ -z "$smr_in" ] || [ -z "$smr_out" ] || [ ! -c "$smr_in" ] || [ ! -c "$smr_out" ]; } && [ $smr_i -lt 1000 ]; do',
    '    for smr_p in /sys/class/virtio-ports/*; do',
    `        ${find('smr_in', PIPE_PORTS.stdin)}`,
    `        ${find('smr_out', PIPE_PORTS.stdout)}`,
    '    done',
    '    /bin/busybox sleep 0.01; smr_i=$((smr_i + 1))',
    'done',
    '[ -c "$smr_in" ] && [ -c "$smr_out" ] || { echo "smr: no virtio-serial ports for stdin and stdout" >&2; return 125; }',
    `${run} <"$smr_in" >"$smr_out"`,
  ];
}

/**
 * Shell lines that bring up eth0 as QEMU's user-mode network expects
 * (10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3) once init has loaded the
 * virtio transport, and give the image that resolv.conf. Silent: they run
 * after the command's output has begun.
 */
function netSetup(net: RequestNet): string[] {
  return [
    `for m in ${net.modules.map((m) => m.name).join(' ')}; do /bin/busybox insmod /smr/net/$m.ko 2>/dev/null; done`,
    'smr_i=0',
    'while [ ! -e /sys/class/net/eth0 ] && [ $smr_i -lt 500 ]; do /bin/busybox sleep 0.01; smr_i=$((smr_i + 1)); done',
    '{ /bin/busybox ip link set eth0 up && /bin/busybox ip addr add 10.0.2.15/24 dev eth0 && /bin/busybox ip route add default via 10.0.2.2; } 2>/dev/null || echo "smr: the network (eth0) could not be set up" >&2',
    "echo 'nameserver 10.0.2.3' >/run/smr/resolv.conf",
    // As docker does, the image gets a resolv.conf, bound over its own or written where it has none.
    'if [ -f $R/etc/resolv.conf ]; then /bin/busybox mount -o bind /run/smr/resolv.conf $R/etc/resolv.conf',
    'elif [ -d $R/etc ] && [ ! -L $R/etc/resolv.conf ] && [ "$SMR_WRITABLE" = 1 ]; then /bin/busybox cat /run/smr/resolv.conf >$R/etc/resolv.conf; fi',
  ];
}

export interface EncodedRequest {
  /** The per-boot nonce in every marker line: the command cannot forge them. */
  nonce: string;
  cpio: Buffer;
}

/** A word for a POSIX shell, single-quoted. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function check(req: GuestRequest): void {
  if (req.argv.length === 0 || req.argv[0] === '') throw new SmrError('USAGE', 'no command to run in the guest');
  const all = [...req.argv, ...(req.env ?? []), req.workingDir ?? '', req.user ?? '', req.hostname ?? ''];
  if (all.some((s) => s.includes('\0'))) throw new SmrError('USAGE', 'arguments, environment, user and working directory cannot contain NUL bytes');
  for (const e of req.env ?? []) if (e.indexOf('=') <= 0) throw new SmrError('USAGE', `environment entry '${e}' is not K=V`);
  if (req.workingDir !== undefined && !req.workingDir.startsWith('/')) throw new SmrError('USAGE', `working directory '${req.workingDir}' is not absolute`);
  if (req.hostname !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/.test(req.hostname)) throw new SmrError('USAGE', `hostname '${req.hostname}' is not a valid host name`);
  const t = req.timeoutSeconds ?? 0;
  if (!Number.isInteger(t) || t < 0) throw new SmrError('USAGE', `timeout ${t} is not a whole number of seconds`);
}

export interface BootSettings {
  mode: 'run' | 'probe';
  /** virtio transport: mmio (microvm) or pci (q35). */
  bus: 'mmio' | 'pci';
  verbose: boolean;
}

export function encodeRequest(req: GuestRequest, boot: BootSettings, extras: RequestExtras = {}): EncodedRequest {
  check(req);
  const { net, portModules = [] } = extras;
  const nonce = randomBytes(8).toString('hex');
  const vars: Array<[string, string]> = [
    ['SMR_NONCE', nonce],
    ['SMR_MODE', boot.mode],
    ['SMR_BUS', boot.bus],
    ['SMR_VERBOSE', boot.verbose ? '1' : '0'],
    ['SMR_CWD', req.workingDir ?? '/'],
    ['SMR_USER', req.user ?? ''],
    ['SMR_HOSTNAME', req.hostname ?? 'localhost'],
    ['SMR_WRITABLE', req.writable ? '1' : '0'],
    ['SMR_TIMEOUT', String(req.timeoutSeconds ?? 0)],
  ];
  // "$@" are init's defaults (PATH, HOSTNAME, HOME), placed first so that
  // the request's own entries override them (env applies them in order).
  const run = [
    '/bin/busybox env -i "$@"',
    ...(req.env ?? []).map(shellQuote),
    '/bin/busybox nsenter -F "-r$R" "-w$R$SMR_CWD" -S "$uid" -G "$gid" --',
    ...req.argv.map(shellQuote),
  ].join(' ');
  // As docker run -i (without -t), stdin is a pipe, not a terminal: a
  // program that asks isatty() does not turn interactive.
  const lines = req.stdin === 'ports' ? pipeSetup(portModules.map((m) => m.name), run) : [`exec ${run}`];
  if (net) lines.unshift(...netSetup(net));
  const text = `${vars.map(([k, v]) => `${k}=${shellQuote(v)}`).join('\n')}\nsmr_exec() {\n    ${lines.join('\n    ')}\n}\n`;
  const moduleFiles = (dir: string, modules: Array<{ name: string; data: Buffer }>) => [
    { type: 'dir' as const, name: dir },
    ...modules.map((m) => ({ type: 'file' as const, name: `${dir}/${m.name}.ko`, data: m.data })),
  ];
  const cpio = writeCpio(
    [
      { type: 'dir', name: 'smr' },
      { type: 'file', name: 'smr/request', data: Buffer.from(text, 'utf8') },
      ...(net ? moduleFiles('smr/net', net.modules) : []),
      ...(portModules.length ? moduleFiles('smr/mod', portModules) : []),
    ],
    { firstIno: 0x7000_0000 },
  );
  return { nonce, cpio };
}
