// smr: the command-line entry point. Dispatches to one file per command and
// turns user-facing errors into one line on stderr and a non-zero exit.
import { isSmrError } from '../util/errors.js';
import type { Command } from './args.js';
import { buildCommand } from './build.js';

const commands: Command[] = [buildCommand];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: smr COMMAND [options]

stream-my-root: OCI images as deterministic, deduplicated ext4 block images,
served lazily over NBD.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'smr COMMAND --help' for the options of a command.`;
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    process.exitCode = name === undefined ? 2 : 0;
    return;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write('stream-my-root 0.1.0\n');
    return;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`smr: unknown command '${name}'\n\n${usage()}\n`);
    process.exitCode = 2;
    return;
  }
  try {
    process.exitCode = await cmd.run(rest);
  } catch (e) {
    if (isSmrError(e)) {
      process.stderr.write(`smr ${name}: ${e.message}\n`);
      process.exitCode = e.code === 'USAGE' ? 2 : 1;
    } else {
      // A bug, not a user mistake: keep the stack for the report.
      process.stderr.write(`smr ${name}: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 70;
    }
  }
}
