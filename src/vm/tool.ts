// Running the host tools the VM module needs (apt-get, dpkg-deb, xz, qemu):
// collected output, and a one-line error naming the package to install when
// the tool itself is missing.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { SmrError } from '../util/errors.js';
import { ARCH } from './guest-arch.js';

/** Debian package providing each tool, for the "missing" message. */
const PACKAGE_OF: Record<string, string> = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  xz: 'xz-utils',
  zstd: 'zstd',
  ...Object.fromEntries(Object.values(ARCH).map((a) => [a.qemu, a.qemuPackage])),
};

export function missingTool(tool: string): SmrError {
  const pkg = PACKAGE_OF[tool];
  return new SmrError('TOOL_MISSING', `${tool} is not installed${pkg ? ` (apt-get install ${pkg})` : ''}`);
}

export interface ToolResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs TOOL to completion; rejects with missingTool() when it cannot be found. */
export function runTool(tool: string, args: string[], opts: { cwd?: string; input?: Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { cwd: opts.cwd, env: opts.env, stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? missingTool(tool) : e));
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    if (opts.input) {
      child.stdin!.on('error', () => {}); // the tool may exit before reading it all
      child.stdin!.end(opts.input);
    }
  });
}

/** runTool, failing with the tool's last stderr line unless it exits 0. */
export async function runToolOk(tool: string, args: string[], opts: { cwd?: string; input?: Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<Buffer> {
  const r = await runTool(tool, args, opts);
  if (r.code !== 0) {
    const last = r.stderr.trim().split('\n').filter((l) => !/^W: /.test(l)).pop() ?? '';
    throw new SmrError('TOOL_FAILED', `${tool} ${args.join(' ')} failed (exit ${r.code})${last ? `: ${last}` : ''}`);
  }
  return r.stdout;
}

/** Whether TOOL is an executable on PATH. */
export function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => {
    try {
      accessSync(join(d || '.', tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
