// The host ends of the command's stdin and stdout when they are raw
// virtio-serial ports (request.ts, stdin 'ports'): two unix sockets that
// QEMU connects to as it starts. Host stdin is copied into one and its end
// closes that connection, which the guest reads as an end of file; what
// comes out of the other is the command's stdout, complete once QEMU has
// exited and so closed it. No console line discipline on the way: any
// bytes pass, as through a pipe.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

export interface HostPipes {
  paths: { stdin: string; stdout: string };
  /** Once QEMU is gone: waits for the rest of stdout, stops reading stdin, closes the sockets. */
  close(): Promise<void>;
}

function listen(path: string, onConnection: (s: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: false }, (s) => {
      s.on('error', () => {}); // QEMU gone: its end of either socket simply closes
      server.close(); // one connection: QEMU's
      onConnection(s);
    });
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

/** Listens in DIR; INPUT goes to the command's stdin, its stdout to ONSTDOUT. */
export async function openPipes(dir: string, input: NodeJS.ReadableStream | undefined, onStdout: (d: Buffer) => void): Promise<HostPipes> {
  const paths = { stdin: join(dir, 'stdin.sock'), stdout: join(dir, 'stdout.sock') };
  let stdinSocket: Socket | undefined;
  let stdoutClosed: Promise<void> | undefined;
  const servers = await Promise.all([
    listen(paths.stdin, (s) => {
      stdinSocket = s;
      if (input) input.pipe(s);
      else s.end();
    }),
    listen(paths.stdout, (s) => {
      stdoutClosed = new Promise((resolve) => s.on('close', () => resolve()));
      s.on('data', onStdout);
    }),
  ]);
  return {
    paths,
    async close() {
      await stdoutClosed;
      if (input && stdinSocket) input.unpipe(stdinSocket);
      // A terminal's stdin must not keep this process alive once the VM is gone.
      input?.pause();
      stdinSocket?.destroy();
      for (const s of servers) s.close();
    },
  };
}
