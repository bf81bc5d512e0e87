/**
 * The shape every `ioasid` sub-command has. A command owns its own flags (parsed with
 * node:util parseArgs), prints its own --help, and returns the process exit status:
 * 0 success, 1 the checked thing failed (a non-conforming run, a failing check), 2 usage or
 * infrastructure error.
 */
import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  /** The word after `ioasid`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full --help text. */
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** Exit statuses shared by every command. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/**
 * A command's flags parsed with node:util parseArgs, or null after a flag error, which is then
 * written to stderr as `ioasid <name>: <why>` followed by the usage; the command returns
 * EXIT_USAGE on null.
 */
export function parseFlags<T extends ParseArgsConfig>(name: string, usage: string, config: T): ReturnType<typeof parseArgs<T>> | null {
  try {
    return parseArgs(config);
  } catch (e) {
    process.stderr.write(`ioasid ${name}: ${(e as Error).message}\n\n${usage}`);
    return null;
  }
}

/** True when argv asks for help, wherever the flag stands. */
export function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** A flag's non-negative integer value, or the fallback when the flag is absent. */
export function nonNegativeInt(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 0) throw new Error(`${flag} ${text}: expected a non-negative integer`);
  return n;
}

/** --cases paths must exist: a typo is a usage error that writes nothing, not an empty run. */
export function checkCasePaths(paths: readonly string[]): void {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`--cases ${missing.join(', ')}: no such file or folder`);
}
