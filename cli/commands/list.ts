/** `ioasid list`: the golden cases as JSON (id, title, clauses, requires, topology, file); no run. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, checkCasePaths, parseFlags, type Command } from '../command.ts';
import { DEFAULT_CASES_DIR, loadCases } from '../../conformance/runner/case-loader.ts';
import { selectCases } from '../../conformance/runner/select.ts';

const usage = `usage: ioasid list [<case id | id prefix/ | glob>…] [--cases <path>]… [--clause <id>]… [--filter <glob>]… [--json <file>]

Print the golden cases as a JSON array (id, title, clauses, requires — including the
capabilities of the test hooks the steps use —, topology, steps, source, file) without running
anything. Invalid case files are named on stderr with the failing rule, and make the exit
status 1.

  --cases <path>    a case folder or file; repeatable (default conformance/cases)
  --clause <id>     only cases citing this spec clause (repeatable, globs allowed)
  --filter <glob>   only matching case ids (repeatable)
  --json <file>     write the list to this file instead of stdout
  --help            this text
`;

async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags('list', usage, { args: argv, allowPositionals: true, options: { cases: { type: 'string', multiple: true }, clause: { type: 'string', multiple: true }, filter: { type: 'string', multiple: true }, json: { type: 'string' } } });
  if (parsed === null) return EXIT_USAGE;
  const o = parsed.values;
  try {
    const paths = o.cases && o.cases.length ? o.cases : [DEFAULT_CASES_DIR];
    checkCasePaths(paths);
    const { cases, invalid } = loadCases(paths);
    for (const i of invalid) process.stderr.write(`invalid case ${i.path}${i.pointer ? ` at ${i.pointer}` : ''}: ${i.message} [${i.rule}]\n`);
    const selected = selectCases(cases, { select: parsed.positionals, clauses: o.clause, filter: o.filter });
    const out = selected.map((lc) => ({
      id: lc.case.id,
      title: lc.case.title,
      clauses: lc.case.clauses,
      requires: lc.effectiveRequires,
      topology: typeof lc.case.topology === 'string' ? lc.case.topology : lc.case.topology ? 'inline' : null,
      steps: lc.case.steps.length,
      ...(lc.case.source ? { source: lc.case.source } : {}),
      file: lc.path,
    }));
    const text = `${JSON.stringify(out, null, 2)}\n`;
    if (o.json) {
      mkdirSync(dirname(o.json), { recursive: true });
      writeFileSync(o.json, text);
    } else process.stdout.write(text);
    return invalid.length > 0 ? EXIT_FAILED : EXIT_OK;
  } catch (e) {
    process.stderr.write(`ioasid list: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
}

const list: Command = { name: 'list', summary: 'list the golden cases as JSON without running them', usage, run };
export default list;
