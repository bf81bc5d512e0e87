/**
 * `ioasid conform`: runs the golden cases against an implementation through an adapter and
 * writes the reports. Exit 0 only when every selected case ran and none failed (fail, error,
 * timeout, crash, unexpected pass) and every case file was valid; 1 when something failed;
 * 2 on a usage error, an unusable adapter or a filter that selects nothing.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, checkCasePaths, nonNegativeInt, parseFlags, type Command } from '../command.ts';
import { parseAdapterSpec } from '../../conformance/runner/adapter-spec.ts';
import { inProcessFactory } from '../../conformance/runner/in-process.ts';
import type { Mutant } from '../../conformance/mutants/mutant.ts';
import { DEFAULT_CASES_DIR, loadCases } from '../../conformance/runner/case-loader.ts';
import { loadCatalog } from '../../conformance/runner/catalog-source.ts';
import { loadExpectations, unmatchedExpectations } from '../../conformance/runner/expectations.ts';
import { failedIds, foldRerun, keepGoodReport, previousReport } from '../../conformance/runner/last-failed.ts';
import { defaultReportDir, rerunCommand } from '../../conformance/runner/report-dir.ts';
import { suggest } from '../../conformance/runner/suggest.ts';
import { createProgress } from '../../conformance/runner/progress.ts';
import { loadRenames, oldIdsOf } from '../../conformance/runner/renames.ts';
import { renderJsonReport } from '../../conformance/runner/render-json.ts';
import { failNthSummary } from '../../conformance/runner/fail-nth-mode.ts';
import { runFailed, runSuite } from '../../conformance/runner/run.ts';
import { parseShard, selectCases } from '../../conformance/runner/select.ts';
import { parseFormats, writeReport } from '../../conformance/runner/write-report.ts';

const usage = `usage: ioasid conform [options] [<case id | id prefix/ | glob>…]

Run the golden cases against an implementation and write reports. Positional arguments select
cases by id, id prefix (hwpt/nested/) or glob (ioas/map/*, **/fail-nth-*); each must select
something.

  --adapter <spec>        reference (default) | stdio:'<command>' | module:<path>
  --cases <path>          a case folder or file; repeatable (default conformance/cases); a path
                          that does not exist is a usage error
  --report <dir>          where the reports go (default reports/reference/ for the reference,
                          reports/<adapter program>-<hash of --adapter>/ otherwise, so runs of
                          different adapters never share a folder)
  --json <file>           also write report.json here
  --format <list>         json,md,html,junit,ktap (default: all)
  --expectations <file>   known failures/skips: '<id or glob> fail|skip [reason]' per line
  --clause <id>           run only cases citing this spec clause (repeatable, globs allowed)
  --last-failed           re-run only what failed (or was flaky) in the report folder's last
                          run, and fold the new results into that report
  --filter <glob>         run only matching case ids (repeatable; must select something)
  --requires <cap>        run only cases needing this capability (repeatable, or a,b)
  --skip-feature <cap>    leave out cases needing this capability (repeatable, or a,b)
  --shard <i/n>           run the i-th of n disjoint shards
  --repeat <n>            run every case n times; passed some times only → flaky
  --retries <n>           try a case that did not pass up to n more times; passed later → flaky
  --workers <n>           run cases on n adapter instances at once (default 1)
  --transcript            write every request and response of each case as JSON lines in
                          <report>/transcripts/<case id>.jsonl
  --timeout <ms>          time limit per case (default 30000)
  --hello-timeout <ms>    time limit for the adapter's hello (default 30000)
  --restart-budget <n>    adapter restarts allowed after crashes/timeouts (default 10)
  --deadline <s>          time budget of the whole run in seconds (default 7200; 0: none); the
                          cases left when it passes are not run, and the run counts as stopped
  --bail                  stop after the first failing case
  --fail-nth              sweep every ioctl step and every kernel-call hook step of every case
                          as iommufd_fail_nth.c does (n = 1, 2, … until the call succeeds; each
                          injected failure must give an injection point's errno (ENOMEM,
                          ENOENT, EINVAL, EFAULT) or the step's and leave STATE unchanged);
                          needs test:fail-nth. Prints the points swept
  --mutant <name>         run the embedded reference with one seeded bug (conformance/mutants/)
  --quiet                 print only the final summary and errors
  --verbose               one line per case (the default shows a progress bar on a terminal
                          and nothing per case otherwise)
  --check-invariants      debug mode of the embedded reference: after every call, check that its
                          areas, domain tables, pins, accounting and frames agree
                          (reference/invariants.ts); a broken invariant makes that case an error
  --help                  this text

Every case that does not pass carries in each report the command that re-runs it alone
(ioasid repro <case-id> --adapter …).

Exit status: 0 nothing failed; 1 a case failed or the run stopped early; 2 usage or adapter error.
`;

function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** Two hours: the whole suite takes about a minute on the reference, and a slow adapter whose every case times out would otherwise run for about 8 hours. */
const DEFAULT_DEADLINE_S = 7200;

/** What conform needs from outside; tests give a small catalog instead of the full one. */
export interface ConformDeps {
  loadCatalog: () => Promise<UapiCatalog>;
}

/** --mutant's seeded bug and its runner, loaded only then: the mutants import the whole reference. */
async function mutantNamed(name: string, adapterKind: string): Promise<{ mutant: Mutant; run: typeof import('../../conformance/mutants/run-mutant.ts') }> {
  if (adapterKind !== 'reference') throw new Error('--mutant: seeded bugs exist only for the embedded reference (--adapter reference)');
  const { getMutant, listMutants } = await import('../../conformance/mutants/registry.ts');
  let mutant: Mutant;
  try {
    mutant = getMutant(name);
  } catch {
    throw new Error(`--mutant: unknown mutant '${name}' (known: ${listMutants().map((m) => m.name).join(', ')})`);
  }
  return { mutant, run: await import('../../conformance/mutants/run-mutant.ts') };
}

export async function runConform(argv: string[], deps: ConformDeps = { loadCatalog }): Promise<number> {
  const parsed = parseFlags('conform', usage, {
    args: argv,
    options: {
      adapter: { type: 'string', default: 'reference' },
      cases: { type: 'string', multiple: true },
      report: { type: 'string' },
      json: { type: 'string' },
      format: { type: 'string' },
      expectations: { type: 'string' },
      clause: { type: 'string', multiple: true },
      'last-failed': { type: 'boolean', default: false },
      filter: { type: 'string', multiple: true },
      requires: { type: 'string', multiple: true },
      'skip-feature': { type: 'string', multiple: true },
      shard: { type: 'string' },
      repeat: { type: 'string' },
      retries: { type: 'string' },
      workers: { type: 'string' },
      transcript: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      'hello-timeout': { type: 'string' },
      'restart-budget': { type: 'string' },
      deadline: { type: 'string' },
      bail: { type: 'boolean', default: false },
      'fail-nth': { type: 'boolean', default: false },
      mutant: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      'check-invariants': { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (parsed === null) return EXIT_USAGE;
  const opts = parsed.values;
  const say = (line: string) => {
    if (!opts.quiet) process.stderr.write(`${line}\n`);
  };
  try {
    const formats = parseFormats(opts.format ?? 'json,md,html,junit,ktap');
    const caseTimeoutMs = nonNegativeInt(opts.timeout, '--timeout', 30_000);
    const helloTimeoutMs = nonNegativeInt(opts['hello-timeout'], '--hello-timeout', 30_000);
    const restartBudget = nonNegativeInt(opts['restart-budget'], '--restart-budget', 10);
    const deadlineMs = nonNegativeInt(opts.deadline, '--deadline', DEFAULT_DEADLINE_S) * 1000;
    const repeat = nonNegativeInt(opts.repeat, '--repeat', 1);
    const retries = nonNegativeInt(opts.retries, '--retries', 0);
    const workers = nonNegativeInt(opts.workers, '--workers', 1);
    if (repeat < 1) throw new Error('--repeat 0: expected at least 1');
    if (workers < 1) throw new Error('--workers 0: expected at least 1');
    const shard = opts.shard ? parseShard(opts.shard) : undefined;
    const givenCases = opts.cases && opts.cases.length > 0 ? opts.cases : undefined;
    const casePaths = givenCases ?? [DEFAULT_CASES_DIR];
    checkCasePaths(casePaths);
    const expectations = opts.expectations ? loadExpectations(opts.expectations) : undefined;
    const dir = opts.report ?? defaultReportDir(opts.adapter!, opts.mutant);
    // --last-failed reads the folder's last report before anything runs or is written.
    const previous = opts['last-failed'] ? previousReport(dir) : null;
    if (opts['last-failed'] && !previous) throw new Error(`--last-failed: no report.json in ${dir} (run once without it, or give --report)`);
    if (previous && previous.report.cases.length === 0) throw new Error(`--last-failed: the last run in ${dir} ran no case${previous.report.abort_reason ? ` (${previous.report.abort_reason})` : ''}; run it whole again`);
    const only = previous ? failedIds(previous.report) : undefined;
    if (previous && only!.size === 0) {
      say(`--last-failed: nothing failed in ${previous.path}; nothing to run, nothing written`);
      return EXIT_OK;
    }
    const { cases, invalid } = loadCases(casePaths);
    for (const i of invalid) process.stderr.write(`invalid case ${i.path}${i.pointer ? ` at ${i.pointer}` : ''}: ${i.message} [${i.rule}]\n`);
    const renames = loadRenames();
    const unmatched = expectations ? unmatchedExpectations(expectations, cases.map((c) => c.case.id), (id) => oldIdsOf(renames, id)) : [];
    for (const e of unmatched) process.stderr.write(`${opts.expectations}:${e.line}: '${e.pattern}' matches no case${suggest(e.pattern, cases.map((c) => c.case.id))}\n`);
    const selected = selectCases(cases, {
      select: parsed.positionals,
      clauses: opts.clause,
      only,
      filter: opts.filter,
      requires: list(opts.requires),
      skipFeatures: list(opts['skip-feature']),
      shard,
    });
    if (previous) say(`--last-failed: ${selected.length} case(s) that failed in ${previous.path}`);
    const catalog = await deps.loadCatalog();
    const adapter = await parseAdapterSpec(opts.adapter!, catalog, { checkInvariants: opts['check-invariants'] === true });
    // --mutant: the embedded reference with one seeded bug, to see which cases catch it.
    const seeded = opts.mutant === undefined ? null : await mutantNamed(opts.mutant, adapter.config.kind);
    const factory = seeded ? inProcessFactory(seeded.run.mutantAdapterFactory(seeded.mutant, catalog)) : adapter.factory;
    const withMutant = <T>(fn: () => Promise<T>): Promise<T> => (seeded ? seeded.run.withMutant(seeded.mutant, fn) : fn());
    const progress = createProgress(process.stderr, { quiet: opts.quiet!, verbose: opts.verbose! });
    let started = false;
    // A slow adapter (a VM booting, a kernel module loading) gets a note instead of silence.
    const helloNote = setTimeout(() => say(`waiting for ${opts.adapter}'s hello (up to ${helloTimeoutMs} ms)…`), 1000);
    let report = await withMutant(() => runSuite({
      factory,
      adapter: adapter.config,
      catalog,
      cases: selected,
      invalid,
      expectations,
      renames,
      caseTimeoutMs,
      helloTimeoutMs,
      restartBudget,
      deadlineMs,
      bail: opts.bail!,
      failNthAll: opts['fail-nth']!,
      repeat,
      retries,
      workers,
      transcriptDir: opts.transcript ? dir : undefined,
      rerun: (id) => rerunCommand(id, { adapter: opts.adapter!, cases: givenCases, mutant: seeded?.mutant.name }),
      config: {
        command_line: ['conform', ...argv],
        cases: casePaths,
        filter: opts.filter,
        shard,
        expectations: opts.expectations,
        requires: list(opts.requires),
        skip_features: list(opts['skip-feature']),
        select: parsed.positionals,
        clauses: opts.clause,
        ...(previous ? { last_failed: previous.path } : {}),
        ...(repeat > 1 ? { repeat } : {}),
        ...(retries > 0 ? { retries } : {}),
        ...(workers > 1 ? { workers } : {}),
        ...(opts.transcript ? { transcripts: join(dir, 'transcripts') } : {}),
        ...(opts['fail-nth'] ? { fail_nth_all: true } : {}),
      },
      onSmoke: (s) => {
        clearTimeout(helloNote);
        progress.smoke(s);
      },
      onCase: (r, done, total) => {
        if (!started) {
          progress.start(total);
          started = true;
        }
        progress.caseDone(r, done, total);
      },
      onNote: say,
    })).finally(() => clearTimeout(helloNote));
    progress.stop();
    if (unmatched.length > 0) report.run.expectations_unmatched = unmatched.map((e) => ({ line: e.line, pattern: e.pattern }));
    if (previous) report = foldRerun(previous.report, report);
    const kept = keepGoodReport(dir, report);
    if (kept) say(`this run ran no case: the folder's previous report, which has results, is kept as ${kept}`);
    const written = writeReport(report, dir, formats);
    if (opts.json) {
      mkdirSync(dirname(opts.json), { recursive: true });
      writeFileSync(opts.json, renderJsonReport(report));
      written.push(opts.json);
    }
    const s = report.summary.by_result;
    const extra = (['flaky', 'invalid'] as const).filter((k) => (s[k] ?? 0) > 0).map((k) => `, ${s[k]} ${k}`).join('');
    if (opts['fail-nth']) process.stderr.write(`${failNthSummary(report)}\n`);
    process.stderr.write(
      `${report.implementation ? `${report.implementation.name} ${report.implementation.version}` : 'adapter'}: ` +
        `${s.pass} pass, ${s.fail} fail, ${s.error} error, ${s.timeout} timeout, ${s.crash} crash, ${s.unsupported} unsupported, ` +
        `${s['expected fail']} expected fail, ${s['unexpected pass']} unexpected pass, ${s.skipped} skipped${extra}` +
        `${report.summary.not_run ? `, ${report.summary.not_run} not run` : ''}${invalid.length ? `, ${invalid.length} invalid case file(s)` : ''}\n` +
        `${report.completed ? '' : `run stopped early: ${report.abort_reason}\n`}reports: ${written.join(', ')}\n`,
    );
    if (!report.smoke.ok && !report.completed) return EXIT_USAGE;
    return runFailed(report) ? EXIT_FAILED : EXIT_OK;
  } catch (e) {
    process.stderr.write(`ioasid conform: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
}

const conform: Command = { name: 'conform', summary: 'run the golden cases against an implementation and write reports', usage, run: (argv) => runConform(argv) };
export default conform;
