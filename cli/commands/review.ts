/**
 * `ioasid review <base> [<head>]`: one Markdown summary of a change for a reviewer to paste — the
 * spec diff (uAPI changes classified, clauses, impacted cases; cli/commands/spec-diff.ts) and the
 * `report diff` of the suite on the reference at both sides. The head defaults to the work tree,
 * whose suite runs in this process; a revision runs its own `ioasid conform` in a temporary
 * worktree (conformance/runner/suite-at-revision.ts). Exit 0 when the review was made, whatever
 * it found; 2 when it cannot run, naming the bad argument.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EXIT_OK, EXIT_USAGE, parseFlags, type Command } from '../command.ts';
import { runConform } from './conform.ts';
import { specDiffOf } from './spec-diff.ts';
import { REPO_ROOT } from '../../conformance/runner/case-loader.ts';
import { diffReports, renderDiff, type ReportDiff } from '../../conformance/runner/report-diff.ts';
import { DEFAULT_RENAMES, loadRenames, type Renames } from '../../conformance/runner/renames.ts';
import { isSpecFolder, resolveCommit, sameFolder } from '../../conformance/runner/spec-snapshot.ts';
import { readReportLeniently, runSuiteAtRevision, type SuiteRun } from '../../conformance/runner/suite-at-revision.ts';
import type { Report } from '../../conformance/runner/types.ts';

const usage = `usage: ioasid review <base> [<head>] [--filter <glob>]… [--no-suite] [--json <file>] [--report <dir>]

A reviewer's summary of a change, in Markdown: the spec diff (every uAPI change classified as
breaking, compatible or source-only by the rules of spec/REVIEWING.md; spec clauses added,
removed and changed; the golden cases citing them) and the report diff of the conformance
suite run on the reference at <base> and at <head> (regressions, fixes, new and removed cases).

  <base>           a git revision (or a folder holding schemas/ and spec/)
  <head>           the same; default the work tree, whose suite runs in this process. A past
                   revision runs its own 'ioasid conform' in a temporary git worktree
                   (git worktree add --detach; this checkout's node_modules linked)
  --filter <glob>  run only matching cases on both sides (repeatable), for a quicker review
  --no-suite       the spec diff alone
  --json <file>    write {spec_diff, report_diff, problems} as JSON
  --report <dir>   write review.md, spec-diff.json and the two report.json files there
  --help           this text

Exit status: 0 the review was made (whatever it found); 2 a bad argument or nothing to compare.
`;

interface Side {
  arg: string;
  /** The work tree itself: its suite runs in process. */
  workTree: boolean;
  commit?: string;
  folder?: string;
}

function sideOf(arg: string): Side {
  if (isSpecFolder(arg)) return sameFolder(arg, REPO_ROOT) ? { arg, workTree: true } : { arg, workTree: false, folder: resolve(arg) };
  const commit = resolveCommit(REPO_ROOT, arg);
  if (commit === undefined) throw new Error(`argument '${arg}': ${existsSync(arg) ? 'a folder without schemas/ and spec/' : `neither a folder nor a revision of ${REPO_ROOT}`}`);
  return { arg, workTree: false, commit };
}

async function suiteOf(side: Side, filters: string[], scratch: string, name: string): Promise<SuiteRun> {
  const args = filters.flatMap((f) => ['--filter', f]);
  if (side.commit) return runSuiteAtRevision(REPO_ROOT, side.commit, join(REPO_ROOT, 'node_modules'), args);
  const dir = join(scratch, name);
  const problems: string[] = [];
  if (side.workTree) {
    // In process: the code this command runs is the work tree's.
    await runConform(['--report', dir, '--format', 'json', ...args]);
  } else {
    if (!existsSync(join(side.folder!, 'bin', 'ioasid.mjs'))) return { problems: [`${side.arg}: a spec folder without bin/ioasid.mjs: its suite cannot run`] };
    spawnSync(process.execPath, ['bin/ioasid.mjs', 'conform', '--report', dir, ...args], { cwd: side.folder, encoding: 'utf8', maxBuffer: 1 << 28 });
  }
  const path = join(dir, 'report.json');
  if (!existsSync(path)) return { problems: [`${side.arg}: conform wrote no report`] };
  const report = readReportLeniently(path, problems);
  const renamesPath = side.workTree ? DEFAULT_RENAMES : join(side.folder!, 'conformance', 'renames.json');
  const renames = existsSync(renamesPath) ? (JSON.parse(readFileSync(renamesPath, 'utf8')) as Record<string, string>) : undefined;
  return { ...(report ? { report } : {}), problems, ...(renames ? { renames } : {}) };
}

function summaryLine(r: Report): string {
  const s = r.summary?.by_result;
  if (!s) return `${r.cases.length} case(s)`;
  return `${r.cases.length} case(s): ${s.pass} pass, ${s.fail} fail, ${s.error} error, ${s.timeout} timeout, ${s.crash} crash, ${s.unsupported} unsupported`;
}

/** The report diff as a section of the review: its title dropped, headings one level down. */
function diffSection(d: ReportDiff): string[] {
  return renderDiff(d).split('\n').slice(1).map((l) => (l.startsWith('#') ? `#${l}` : l));
}

function writeFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags('review', usage, {
    args: argv,
    allowPositionals: true,
    options: { filter: { type: 'string', multiple: true }, 'no-suite': { type: 'boolean' }, json: { type: 'string' }, report: { type: 'string' } },
  });
  if (parsed === null) return EXIT_USAGE;
  const [baseArg, headArg = REPO_ROOT, ...extra] = parsed.positionals;
  const o = parsed.values;
  if (baseArg === undefined || extra.length > 0) {
    process.stderr.write(`ioasid review: expected <base> [<head>]${extra.length ? `, got an extra argument '${extra[0]}'` : ''}\n\n${usage}`);
    return EXIT_USAGE;
  }
  let base: Side;
  let head: Side;
  let spec: ReturnType<typeof specDiffOf>;
  try {
    base = sideOf(baseArg);
    head = sideOf(headArg);
    spec = specDiffOf(baseArg, headArg, REPO_ROOT, 2);
  } catch (e) {
    process.stderr.write(`ioasid review: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  const headLabel = head.workTree ? 'the work tree' : spec.diff.new.label;
  const out = [`# Review: ${spec.diff.old.label} → ${headLabel}`, '', spec.markdown.replace(/^## Spec diff: .*\n\n/, '## Spec diff\n\n').trimEnd()];
  const problems: string[] = [];
  let reportDiff: ReportDiff | undefined;
  let reports: [Report | undefined, Report | undefined] = [undefined, undefined];
  if (!o['no-suite']) {
    const scratch = mkdtempSync(join(tmpdir(), 'ioasid-review-'));
    try {
      const filters = o.filter ?? [];
      process.stderr.write(`running the suite at ${spec.diff.old.label}…\n`);
      const b = await suiteOf(base, filters, scratch, 'base');
      process.stderr.write(`running the suite at ${headLabel}…\n`);
      const h = await suiteOf(head, filters, scratch, 'head');
      problems.push(...b.problems.map((p) => `base: ${p}`), ...h.problems.map((p) => `head: ${p}`));
      reports = [b.report, h.report];
      out.push('', `## Suite on the reference${filters.length ? ` (cases matching ${filters.join(', ')})` : ''}`, '');
      if (b.report && h.report) {
        const renames: Renames = h.renames ? new Map(Object.entries(h.renames)) : loadRenames();
        reportDiff = diffReports(b.report, h.report, renames);
        out.push(`- base: ${summaryLine(b.report)}`, `- head: ${summaryLine(h.report)}`, ...diffSection(reportDiff));
      } else {
        out.push('No report diff: the suite did not run on both sides (see problems).');
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  if (problems.length > 0) out.push('', '## Problems', '', ...problems.map((p) => `- ${p}`));
  const markdown = `${out.join('\n').trimEnd()}\n`;
  const json = { spec_diff: spec.diff, ...(reportDiff ? { report_diff: reportDiff } : {}), problems };
  if (o.report) {
    writeFile(join(o.report, 'review.md'), markdown);
    writeFile(join(o.report, 'spec-diff.json'), `${JSON.stringify(spec.diff, null, 2)}\n`);
    if (reports[0]) writeFile(join(o.report, 'base', 'report.json'), `${JSON.stringify(reports[0], null, 2)}\n`);
    if (reports[1]) writeFile(join(o.report, 'head', 'report.json'), `${JSON.stringify(reports[1], null, 2)}\n`);
    process.stderr.write(`wrote ${join(o.report, 'review.md')}\n`);
  } else process.stdout.write(markdown);
  if (o.json) writeFile(o.json, `${JSON.stringify(json, null, 2)}\n`);
  return EXIT_OK;
}

const review: Command = { name: 'review', summary: 'review a change: spec diff plus the suite\'s report diff between two revisions', usage, run };
export default review;
