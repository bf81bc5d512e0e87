/**
 * `ioasid spec coverage`: per spec clause, the cases that cite it; fails on gaps and unknown citations.
 * `ioasid spec selftests`: the kernel selftest ledger (conformance/selftests.json) against the
 * cases' `source` fields: counts per fixture and the not-ported list; fails when they disagree.
 * `ioasid spec diff`: the review of a specification change (cli/commands/spec-diff.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseFlags, type Command } from '../command.ts';
import { DEFAULT_CASES_DIR, REPO_ROOT, loadCases } from '../../conformance/runner/case-loader.ts';
import { coverage, coverageFailed, loadClauses, renderCoverage } from '../../conformance/runner/spec-coverage.ts';
import { DEFAULT_LEDGER_PATH, loadLedger, renderLedger, summarizeLedger } from '../../conformance/selftests-ledger.ts';
import { runSpecDiff, specDiffUsage } from './spec-diff.ts';

const usage = `usage: ioasid spec coverage [--spec <dir>] [--cases <path>]… [--json <file>] [--report <dir>]
       ioasid spec selftests [--ledger <file>] [--cases <path>]… [--json <file>]
       ioasid spec diff <old> <new> [--json <file>] [--report <dir>] [--repo <dir>]

coverage:

For every clause of the specification (spec/*.md: a paragraph opening with its bold id and a
period, e.g. **IOAS-MAP-3.**), the cases that cite it. Exit 1 when a clause has no case, a case
cites a clause that does not exist, a clause id is defined twice, or a case file is invalid.

  --spec <dir>     the specification folder (default spec/)
  --cases <path>   a case folder or file; repeatable (default conformance/cases)
  --json <file>    write the coverage as JSON
  --report <dir>   write coverage.md there

selftests:
Every instance (fixture.variant.test) of the kernel's iommufd selftests with its status in the
ledger: ported (a case cites it in source), pending (being ported) or not-ported (with a reason).
Prints the counts per fixture and the not-ported list. Exit 1 when the ledger and the cases
disagree: a ported instance no case cites, a not-ported one a case cites, a case source missing
from the ledger, or an instance list that is not the fixtures' expansion.

  --ledger <file>  the ledger (default conformance/selftests.json)
  --cases <path>   a case folder or file; repeatable (default conformance/cases)
  --json <file>    write the counts, lists and problems as JSON

diff:
${specDiffUsage.slice(specDiffUsage.indexOf('\n\n') + 2)}`;

async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'diff') return runSpecDiff(argv.slice(1));
  const parsed = parseFlags('spec', usage, {
    args: argv,
    allowPositionals: true,
    options: {
      spec: { type: 'string' },
      ledger: { type: 'string' },
      cases: { type: 'string', multiple: true },
      json: { type: 'string' },
      report: { type: 'string' },
    },
  });
  if (parsed === null) return EXIT_USAGE;
  const sub = parsed.positionals[0];
  if ((sub !== 'coverage' && sub !== 'selftests') || parsed.positionals.length !== 1) {
    process.stderr.write(`ioasid spec: expected 'coverage', 'selftests' or 'diff'\n\n${usage}`);
    return EXIT_USAGE;
  }
  const o = parsed.values;
  const own = sub === 'coverage' ? ['spec', 'report'] : ['ledger'];
  const foreign = ['spec', 'report', 'ledger'].filter((k) => !own.includes(k) && o[k as keyof typeof o] !== undefined);
  if (foreign.length > 0) {
    process.stderr.write(`ioasid spec ${sub}: --${foreign[0]} belongs to another sub-command\n\n${usage}`);
    return EXIT_USAGE;
  }
  return sub === 'coverage' ? runCoverage(o) : runSelftests(o);
}

type Options = { spec?: string; ledger?: string; cases?: string[]; json?: string; report?: string };

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

function runSelftests(o: Options): number {
  try {
    const ledger = loadLedger(o.ledger ?? DEFAULT_LEDGER_PATH);
    const { cases, invalid } = loadCases(o.cases && o.cases.length ? o.cases : [DEFAULT_CASES_DIR]);
    for (const i of invalid) process.stderr.write(`invalid case ${i.path}${i.pointer ? ` at ${i.pointer}` : ''}: ${i.message} [${i.rule}]\n`);
    const summary = summarizeLedger(ledger, cases.map((c) => ({ id: c.case.id, source: c.case.source })));
    process.stdout.write(renderLedger(summary));
    if (o.json) writeJson(o.json, summary);
    return summary.problems.length > 0 || invalid.length > 0 ? EXIT_FAILED : EXIT_OK;
  } catch (e) {
    process.stderr.write(`ioasid spec selftests: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
}

function runCoverage(o: Options): number {
  try {
    const clauses = loadClauses(o.spec ?? join(REPO_ROOT, 'spec'));
    const { cases, invalid } = loadCases(o.cases && o.cases.length ? o.cases : [DEFAULT_CASES_DIR]);
    for (const i of invalid) process.stderr.write(`invalid case ${i.path}${i.pointer ? ` at ${i.pointer}` : ''}: ${i.message} [${i.rule}]\n`);
    const cov = coverage(clauses, cases);
    const text = renderCoverage(cov);
    process.stdout.write(text);
    if (o.json) writeJson(o.json, cov);
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

const spec: Command = { name: 'spec', summary: 'spec clauses and their case coverage; the kernel selftest ledger; diff two spec versions', usage, run };
export default spec;
