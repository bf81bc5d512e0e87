/**
 * `ioasid` command-line dispatcher: finds the sub-command in the registry, loads only that
 * command's module, and hands it the remaining arguments. Every sub-command answers --help.
 */
import { commands } from './commands/index.ts';
import { EXIT_USAGE, wantsHelp } from './command.ts';

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'ioasid — specification, reference implementation and conformance suite of the Linux IOMMUFD uAPI',
    '',
    'usage: ioasid <command> [options]      ioasid <command> --help      ioasid --version',
    '',
    'commands:',
    ...lines,
    '',
  ].join('\n');
}

/** `ioasid <version> (<commit>)`: the package version, and the checkout's commit when it is one. */
async function version(): Promise<string> {
  const { suiteInfo, INTERPRETING_VERSION } = await import('../conformance/runner/suite-info.ts');
  const s = suiteInfo();
  return `ioasid ${s.version}${s.commit ? ` (${s.commit.slice(0, 12)})` : ''}, protocol 1, interpreting ${INTERPRETING_VERSION}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(await version());
    return 0;
  }
  if (name === undefined || name === 'help' || (wantsHelp([name]))) {
    process.stdout.write(overview());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`ioasid: unknown command '${name}'\n\n${overview()}`);
    return EXIT_USAGE;
  }
  const command = await entry.load();
  if (wantsHelp(rest)) {
    process.stdout.write(command.usage.endsWith('\n') ? command.usage : `${command.usage}\n`);
    return 0;
  }
  return command.run(rest);
}
