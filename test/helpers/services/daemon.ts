// One server process for a test: started detached from our stdio with its
// output in a log file of its state directory, polled until it really
// answers, stopped by its own pid (never by name: other test runs share the
// machine).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Daemon {
  readonly child: ChildProcess;
  readonly log: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

export function startDaemon(cmd: string, args: string[], log: string, env?: NodeJS.ProcessEnv): Daemon {
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.on('error', () => {}); // reported by waitUntil through exitCode/log
  // A test process that exits without stopping its servers (a crash, a
  // timeout) takes them along rather than leave them running.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  void exited.then(() => process.off('exit', onExit));
  return {
    child,
    log,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Polls `answers` until true; fails with the log's tail when the daemon dies or time runs out. */
export async function waitUntil(what: string, answers: () => Promise<boolean>, opts: { daemon?: Daemon; timeoutMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const d = opts.daemon;
    if (d && (d.child.exitCode !== null || d.child.signalCode !== null)) {
      throw new Error(`${what}: the server exited (${d.child.exitCode ?? d.child.signalCode}); log:\n${tail(d.log)}`);
    }
    if (await answers().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: no answer in time${d ? `; log:\n${tail(d.log)}` : ''}`);
    await sleep(100);
  }
}

/** startDaemon, then waitUntil it answers; killed again when it never does. */
export async function startAnswering(what: string, cmd: string, args: string[], log: string, answers: () => Promise<boolean>): Promise<Daemon> {
  const daemon = startDaemon(cmd, args, log);
  try {
    await waitUntil(what, answers, { daemon });
  } catch (err) {
    await daemon.stop(0);
    throw err;
  }
  return daemon;
}
