// Running the system tools the builder drives (apt, dpkg-deb, debootstrap,
// chroot, mount): output goes to the build log, a failure throws one line
// plus the end of that log.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';

let logFile: string | undefined;
let verbose = false;
let interrupted: string | undefined;

/**
 * SIGINT/SIGTERM stop the build at the next command, through the normal
 * error path, so chroot mounts are undone and the work tree removed.
 */
export function stopOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void (interrupted = sig));
}

export function setLog(path: string, showOutput: boolean): void {
  logFile = path;
  verbose = showOutput;
}

const started = Date.now();

export function note(message: string): void {
  const line = `==> [${String(Math.round((Date.now() - started) / 1000)).padStart(4)}s] ${message}\n`;
  process.stderr.write(line);
  if (logFile) appendFileSync(logFile, line);
}

/** Runs cmd; returns its stdout. Throws when it exits non-zero. */
export function sh(cmd: string, args: string[], opts: SpawnSyncOptions & { capture?: boolean } = {}): string {
  if (interrupted) throw new Error(`stopped by ${interrupted}`);
  const r = spawnSync(cmd, args, { maxBuffer: 512 << 20, encoding: 'latin1', ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  if (interrupted) throw new Error(`stopped by ${interrupted}`);
  const out = String(r.stdout ?? '');
  const err = String(r.stderr ?? '');
  if (logFile && (!opts.capture || r.status !== 0)) appendFileSync(logFile, `$ ${cmd} ${args.join(' ')}\n${opts.capture ? '' : out}${err}`);
  if (verbose) process.stderr.write(err);
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = logFile ? readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : err;
    throw new Error(`${cmd} ${args.slice(0, 6).join(' ')} failed (exit ${r.status})\n${tail}`);
  }
  return out;
}

/** Like sh, but a non-zero exit is an answer, not an error. */
export function trySh(cmd: string, args: string[], opts: SpawnSyncOptions = {}): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { maxBuffer: 512 << 20, encoding: 'latin1', ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  return { ok: r.status === 0, out: String(r.stdout ?? '') };
}
