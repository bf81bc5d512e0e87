/**
 * `ioasid conform`: runs the golden cases against an implementation through an adapter and
 * writes the reports. Exit 0 only when every selected case ran and none failed (fail, error,
 * timeout, crash, unexpected pass) and every case file was valid; 1 when something failed;
 * 2 on a usage error, an unusable adapter or a filter that selects nothing.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseFlags, type Command } from '../command.ts';
import { parseAdapterSpec } from '../../conformance/runner/adapter-spec.ts';
import { inProcessFactory } from '../../conformance/runner/in-process.ts';
import { getMutant, listMutants } from '../../conformance/mutants/registry.ts';
import { mutantAdapterFactory, withMutant } from '../../conformance/mutants/run-mutant.ts';
import { DEFAULT_CASES_DIR, loadCases } from '../../conformance/runner/case-loader.ts';
import { loadCatalog } from '../../conformance/runner/catalog-source.ts';
import { loadExpectations } from '../../conformance/runner/expectations.ts';
import { createProgress } from '../../conformance/runner/progress.ts';
import { loadRenames } from '../../conformance/runner/renames.ts';
import { renderJsonReport } from '../../conformance/runner/render-json.ts';
import { runFailed, runSuite } from '../../conformance/runner/run.ts';
import { parseShard, selectCases } from '../../conformance/runner/select.ts';
import { parseFormats, writeReport } from '../../conformance/runner/write-report.ts';

const usage = `usage: ioasid conform [options]

Run the golden cases against an implementation and write reports.

  --adapter <spec>        reference (default) | stdio:'<command>' | module:<path>
  --cases <path>          a case folder or file; repeatable (default conformance/cases)
  --report <dir>          where the reports go (default reports/<implementation>/,
                          reports/reference/ for the reference)
  --json <file>           also write report.json here
  --format <list>         json,md,html,junit,ktap (default: all)
  --expectations <file>   known failures/skips: '<id or glob> fail|skip [reason]' per line
  --filter <glob>         run only matching case ids (repeatable; must select something)
  --requires <cap>        run only cases needing this capability (repeatable, or a,b)
  --skip-feature <cap>    leave out cases needing this capability (repeatable, or a,b)
  --shard <i/n>           run the i-th of n disjoint shards
  --timeout <ms>          time limit per case (default 30000)
  --hello-timeout <ms>    time limit for the adapter's hello (default 30000)
  --restart-budget <n>    adapter restarts allowed after crashes/timeouts (default 10)
  --deadline <s>          time budget of the whole run in seconds (default 7200; 0: none); the
                          cases left when it passes are not run, and the run counts as stopped
  --bail                  stop after the first failing case
  --mutant <name>         run the embedded reference with one seeded bug (conformance/mutants/)
  --check-invariants      debug mode of the embedded reference: after every call, check that its
                          areas, domain tables, pins, accounting and frames agree
                          (reference/invariants.ts); a broken invariant makes that case an error
  --help                  this text

Exit status: 0 nothing failed; 1 a case failed or the run stopped early; 2 usage or adapter error.
`;

function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** Two hours: the whole suite takes about a minute on the reference, and a slow adapter whose every case times out would otherwise run for about 8 hours. */
const DEFAULT_DEADLINE_S = 7200;

function positiveInt(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} ${text}: expected a non-negative integer`);
  return n;
}

export function slugify(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'implementation';
}

/** What conform needs from outside; tests give a small catalog instead of the full one. */
export interface ConformDeps {
  loadCatalog: () => Promise<UapiCatalog>;
}

function mutantNamed(name: string, adapterKind: string) {
  if (adapterKind !== 'reference') throw new Error('--mutant: seeded bugs exist only for the embedded reference (--adapter reference)');
  try {
    return getMutant(name);
  } catch {
    throw new Error(`--mutant: unknown mutant '${name}' (known: ${listMutants().map((m) => m.name).join(', ')})`);
  }
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
      filter: { type: 'string', multiple: true },
      requires: { type: 'string', multiple: true },
      'skip-feature': { type: 'string', multiple: true },
      shard: { type: 'string' },
      timeout: { type: 'string' },
      'hello-timeout': { type: 'string' },
      'restart-budget': { type: 'string' },
      deadline: { type: 'string' },
      bail: { type: 'boolean', default: false },
      mutant: { type: 'string' },
      'check-invariants': { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  if (parsed === null) return EXIT_USAGE;
  const opts = parsed.values;
  try {
    const formats = parseFormats(opts.format ?? 'json,md,html,junit,ktap');
    const caseTimeoutMs = positiveInt(opts.timeout, '--timeout', 30_000);
    const helloTimeoutMs = positiveInt(opts['hello-timeout'], '--hello-timeout', 30_000);
    const restartBudget = positiveInt(opts['restart-budget'], '--restart-budget', 10);
    const deadlineMs = positiveInt(opts.deadline, '--deadline', DEFAULT_DEADLINE_S) * 1000;
    const shard = opts.shard ? parseShard(opts.shard) : undefined;
    const casePaths = opts.cases && opts.cases.length > 0 ? opts.cases : [DEFAULT_CASES_DIR];
    const expectations = opts.expectations ? loadExpectations(opts.expectations) : undefined;
    const { cases, invalid } = loadCases(casePaths);
    for (const i of invalid) process.stderr.write(`invalid case ${i.path}${i.pointer ? ` at ${i.pointer}` : ''}: ${i.message} [${i.rule}]\n`);
    const selected = selectCases(cases, {
      filter: opts.filter,
      requires: list(opts.requires),
      skipFeatures: list(opts['skip-feature']),
      shard,
    });
    const catalog = await deps.loadCatalog();
    const adapter = await parseAdapterSpec(opts.adapter!, catalog, { checkInvariants: opts['check-invariants'] === true });
    // --mutant: the embedded reference with one seeded bug, to see which cases catch it.
    const mutant = opts.mutant === undefined ? null : mutantNamed(opts.mutant, adapter.config.kind);
    const factory = mutant ? inProcessFactory(mutantAdapterFactory(mutant, catalog)) : adapter.factory;
    const progress = createProgress();
    let started = false;
    const report = await withMutant(mutant, () => runSuite({
      factory,
      adapter: adapter.config,
      catalog,
      cases: selected,
      invalid,
      expectations,
      renames: loadRenames(),
      caseTimeoutMs,
      helloTimeoutMs,
      restartBudget,
      deadlineMs,
      bail: opts.bail!,
      config: {
        command_line: ['conform', ...argv],
        cases: casePaths,
        filter: opts.filter,
        shard,
        expectations: opts.expectations,
        requires: list(opts.requires),
        skip_features: list(opts['skip-feature']),
      },
      onSmoke: (s) => {
        progress.smoke(s);
      },
      onCase: (r, done, total) => {
        if (!started) {
          progress.start(total);
          started = true;
        }
        progress.caseDone(r, done, total);
      },
    }));
    progress.stop();
    // The embedded reference reports to reports/reference/ (as the README says); any other
    // implementation to a folder named after what it said in hello.
    const dir = opts.report ?? join('reports', mutant ? `reference-mutant-${mutant.name}` : adapter.config.kind === 'reference' ? 'reference' : slugify(report.implementation?.name ?? adapter.config.kind));
    const written = writeReport(report, dir, formats);
    if (opts.json) {
      mkdirSync(dirname(opts.json), { recursive: true });
      writeFileSync(opts.json, renderJsonReport(report));
      written.push(opts.json);
    }
    const s = report.summary.by_result;
    process.stderr.write(
      `${report.implementation ? `${report.implementation.name} ${report.implementation.version}` : 'adapter'}: ` +
        `${s.pass} pass, ${s.fail} fail, ${s.error} error, ${s.timeout} timeout, ${s.crash} crash, ${s.unsupported} unsupported, ` +
        `${s['expected fail']} expected fail, ${s['unexpected pass']} unexpected pass, ${s.skipped} skipped` +
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
