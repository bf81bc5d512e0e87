/** `ioasid spec coverage`: per spec clause, the cases that cite it; fails on gaps and unknown citations. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseFlags, type Command } from '../command.ts';
import { DEFAULT_CASES_DIR, REPO_ROOT, loadCases } from '../../conformance/runner/case-loader.ts';
import { coverage, coverageFailed, loadClauses, renderCoverage } from '../../conformance/runner/spec-coverage.ts';

const usage = `usage: ioasid spec coverage [--spec <dir>] [--cases <path>]… [--json <file>] [--report <dir>]

For every clause of the specification (spec/*.md: a paragraph opening with its bold id and a
period, e.g. **IOAS-MAP-3.**), the cases that cite it. Exit 1 when a clause has no case, a case
cites a clause that does not exist, a clause id is defined twice, or a case file is invalid.

  --spec <dir>     the specification folder (default spec/)
  --cases <path>   a case folder or file; repeatable (default conformance/cases)
  --json <file>    write the coverage as JSON
  --report <dir>   write coverage.md there
  --help           this text
`;

async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags('spec', usage, {
    args: argv,
    allowPositionals: true,
    options: { spec: { type: 'string' }, cases: { type: 'string', multiple: true }, json: { type: 'string' }, report: { type: 'string' } },
  });
  if (parsed === null) return EXIT_USAGE;
  if (parsed.positionals[0] !== 'coverage' || parsed.positionals.length !== 1) {
    process.stderr.write(`ioasid spec: expected 'coverage'\n\n${usage}`);
    return EXIT_USAGE;
  }
  const o = parsed.values;
  try {
    const clauses = loadClauses(o.spec ?? join(REPO_ROOT, 'spec'));
    const { cases, invalid } = loadCases(o.cases && o.cases.length ? o.cases : [DEFAULT_CASES_DIR]);
    for (const i of invalid) process.stderr.write(`invalid case ${i.path}${i.pointer ? ` at ${i.pointer}` : ''}: ${i.message} [${i.rule}]\n`);
    const cov = coverage(clauses, cases);
    const text = renderCoverage(cov);
    process.stdout.write(text);
    if (o.json) {
      mkdirSync(dirname(o.json), { recursive: true });
      writeFileSync(o.json, `${JSON.stringify(cov, null, 2)}\n`);
    }
    if (o.report) {
      mkdirSync(o.report, { recursive: true });
      writeFileSync(join(o.report, 'coverage.md'), text);
    }
    if (clauses.length === 0) {
      process.stderr.write('ioasid spec coverage: no clause found\n');
      return EXIT_FAILED;
    }
    return coverageFailed(cov) || invalid.length > 0 ? EXIT_FAILED : EXIT_OK;
  } catch (e) {
    process.stderr.write(`ioasid spec: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
}

const spec: Command = { name: 'spec', summary: 'show the specification clauses and their case coverage', usage, run };
export default spec;
