// smr: the command-line entry point. Dispatches to one file per command and
// turns user-facing errors into one line on stderr and a non-zero exit.
import { isSmrError } from '../util/errors.js';
import { HelpRequested, type Command } from './args.js';
import { packageVersion } from './version.js';

// Commands load on demand: a command starts without parsing the others, so
// their one-line summaries live here, in the only place that shows them.
interface Entry {
  name: string;
  summary: string;
  load: () => Promise<Command>;
}

const commands: Entry[] = [
  { name: 'build', summary: 'flatten an OCI image into a deterministic ext4 image', load: async () => (await import('./build.js')).buildCommand },
  { name: 'chunk', summary: 'cut a raw image into content-addressed chunks and write its recipe', load: async () => (await import('./chunk.js')).chunkCommand },
  { name: 'convert', summary: 'build and chunk an OCI image in one pass (no image file)', load: async () => (await import('./convert.js')).convertCommand },
  { name: 'diff', summary: 'compare two recipes: shared chunks, and what B adds to a store holding A', load: async () => (await import('./diff.js')).diffCommand },
  { name: 'verify', summary: "check a recipe's chunks (and compare with a raw image)", load: async () => (await import('./verify.js')).verifyCommand },
  { name: 'cat', summary: 'write the image a recipe describes (sparse where zero)', load: async () => (await import('./cat.js')).catCommand },
  { name: 'inspect', summary: 'summarise a recipe: source, size, chunks, stored bytes, encryption', load: async () => (await import('./inspect.js')).inspectCommand },
  { name: 'serve', summary: 'serve recipes as NBD block devices, fetching chunks lazily', load: async () => (await import('./serve.js')).serveCommand },
  { name: 'run', summary: 'run a container image in a micro-VM, fetching its blocks lazily', load: async () => (await import('./run.js')).runCommand },
  { name: 'boot', summary: 'boot a micro-VM from an NBD export and run one command in it', load: async () => (await import('./boot.js')).bootCommand },
  { name: 'copy', summary: "copy a recipe's chunks to another store (only what it lacks)", load: async () => (await import('./copy.js')).copyCommand },
  { name: 'gc', summary: 'delete chunks that no kept recipe references, safely', load: async () => (await import('./gc.js')).gcCommand },
];

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
    process.stdout.write(`stream-my-root ${packageVersion()}\n`);
    return;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`smr: unknown command '${name}'\n\n${usage()}\n`);
    process.exitCode = 2;
    return;
  }
  const cmd = await entry.load();
  try {
    process.exitCode = await cmd.run(rest);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(`${cmd.help}\n`);
      process.exitCode = 0;
    } else if (isSmrError(e)) {
      process.stderr.write(`smr ${name}: ${e.message}\n`);
      process.exitCode = e.code === 'USAGE' ? 2 : 1;
    } else {
      // A bug, not a user mistake: keep the stack for the report.
      process.stderr.write(`smr ${name}: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 70;
    }
  }
}
