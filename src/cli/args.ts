// Command-line parsing shared by all commands: node's parseArgs with
// user-facing errors, --help on every command, and value parsers.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SmrError } from '../util/errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  name: string;
  /** Full help text: usage line, description, options. */
  help: string;
  run(argv: string[]): Promise<number>;
}

export class UsageError extends SmrError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Thrown by parse() for -h/--help: main prints the command's help and exits 0. */
export class HelpRequested extends Error {}

export function parse<O extends Options>(cmd: string, argv: string[], options: O) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/\. To specify.*$/s, '')} (see 'smr ${cmd} --help')`);
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequested();
  return parsed;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "4096", "512M", "2G", "1.5GiB" -> bytes. */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${what}: '${text}' is not a size (examples: 4096, 512M, 2G)`);
  const n = Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${what}: '${text}' is out of range`);
  return n;
}
