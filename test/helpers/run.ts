// Running real programs from tests: the smr CLI as users run it, and peers
// such as e2fsck, mount and qemu-img.
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './fixtures.js';

export const SMR = join(REPO_ROOT, 'bin', 'smr');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: SpawnOptions & { input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // No stdin unless there is input: a program that exits without reading
    // it would fail our write with EPIPE.
    const stdin = opts.input === undefined ? 'ignore' : 'pipe';
    // In the temporary directory unless told: what a program leaves in its
    // working directory (fio's verify state, say) must not land in the tree.
    const child = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'], cwd: tmpdir(), ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

export function smr(args: string[], opts: SpawnOptions = {}): Promise<RunResult> {
  return run(process.execPath, [SMR, ...args], opts);
}

/** smr that must succeed: its stderr is the failure message otherwise. */
export async function smrOk(args: string[]): Promise<RunResult> {
  const r = await smr(args);
  if (r.code !== 0) throw new Error(`smr ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

export function haveCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
