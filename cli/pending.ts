/**
 * A sub-command whose capability is still being built: it says which issue brings it and
 * exits with the usage status, so that no script mistakes it for a success.
 */
import type { Command } from './command.ts';
import { EXIT_USAGE } from './command.ts';

export function pendingCommand(name: string, summary: string, usage: string, issue: number): Command {
  return {
    name,
    summary,
    usage,
    async run() {
      process.stderr.write(`ioasid ${name}: not available yet (issue #${issue})\n`);
      return EXIT_USAGE;
    },
  };
}
