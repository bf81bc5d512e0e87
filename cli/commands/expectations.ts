/**
 * `ioasid expectations update <report.json>`: writes the expectations file from a report —
 * new failures listed, lines of cases that pass now removed. Exit 0 after writing; 2 on a
 * usage error.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { EXIT_OK, EXIT_USAGE, parseFlags, type Command } from '../command.ts';
import { updateExpectations } from '../../conformance/runner/expectations-update.ts';
import { readReport } from './report.ts';

const usage = `usage: ioasid expectations update <report.json> [--file <expectations file>]

Write the expectations file from a report: every case that failed (fail, timeout, crash)
without a line gets '<id> fail <message>'; the line of a case that passes now (unexpected pass)
is removed; comments, skips and other lines stay. error and invalid cases are never listed
(an expectations line cannot hide an adapter answering outside the protocol, nor a broken
case); they are named on stderr.

  --file <path>   the expectations file (default: the one the report's run used)
  --help          this text
`;

async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags('expectations', usage, { args: argv, allowPositionals: true, options: { file: { type: 'string' } } });
  if (parsed === null) return EXIT_USAGE;
  const [sub, reportFile, ...rest] = parsed.positionals;
  try {
    if (sub !== 'update' || !reportFile || rest.length > 0) throw new Error(`expected: update <report.json>\n\n${usage}`);
    const report = readReport(reportFile);
    const file = parsed.values.file ?? report.run.expectations;
    if (!file) throw new Error(`${reportFile} ran without --expectations: say which file to write with --file`);
    const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const u = updateExpectations(before, report, file);
    writeFileSync(file, u.text);
    for (const l of u.removed) process.stderr.write(`removed (passes now): ${l}\n`);
    for (const l of u.added) process.stderr.write(`added: ${l}\n`);
    for (const n of u.notListable) process.stderr.write(`not listed: ${n.id} is ${n.result}, which no expectations line may hide\n`);
    process.stderr.write(`wrote ${file}: ${u.added.length} added, ${u.removed.length} removed\n`);
    return EXIT_OK;
  } catch (e) {
    process.stderr.write(`ioasid expectations: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
}

const expectations: Command = { name: 'expectations', summary: 'update an expectations file from a report', usage, run };
export default expectations;
