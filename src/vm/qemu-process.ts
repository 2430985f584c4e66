// One QEMU process: spawned with the serial console on its stdout, killed
// on request (timeout, abort) or when this process exits, so that nothing
// is left behind.
import { spawn } from 'node:child_process';
import { missingTool } from './tool.js';

export interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** QEMU's own messages (e.g. "Failed to connect to ...: Connection refused"). */
  stderr: string;
  /** Why we killed it, if we did. */
  killed?: string;
}

export interface QemuProcess {
  /** Ends QEMU (SIGTERM, SIGKILL if it lingers); REASON is reported in the exit. */
  kill(reason: string): void;
  done: Promise<QemuExit>;
}

/** Starts QEMU (the system emulator BINARY, e.g. qemu-system-x86_64). */
export function startQemu(binary: string, args: string[], onSerial: (data: Buffer) => void): QemuProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let killed: string | undefined;
  let forceTimer: NodeJS.Timeout | undefined;
  const onExit = () => child.kill('SIGKILL');
  process.on('exit', onExit);
  child.stdout!.on('data', onSerial);
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<QemuExit>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      process.off('exit', onExit);
      reject(e.code === 'ENOENT' ? missingTool(binary) : e);
    });
    child.on('close', (code, signal) => {
      process.off('exit', onExit);
      if (forceTimer) clearTimeout(forceTimer);
      resolve({ code, signal, stderr, killed });
    });
  });
  return {
    done,
    kill(reason) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killed ??= reason;
      child.kill('SIGTERM');
      forceTimer ??= setTimeout(() => child.kill('SIGKILL'), 3000);
    },
  };
}
