/**
 * `ioasid report`: render a report.json in other formats, diff two reports (regressions, fixes,
 * new and removed cases, following conformance/renames.json), merge the reports of shards, and
 * show several implementations side by side (matrix).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseFlags, type Command } from '../command.ts';
import { DEFAULT_RENAMES, loadRenames } from '../../conformance/runner/renames.ts';
import { diffReports, renderDiff } from '../../conformance/runner/report-diff.ts';
import { mergeReports } from '../../conformance/runner/report-merge.ts';
import { buildMatrix, renderMatrixHtml, renderMatrixMarkdown } from '../../conformance/runner/report-matrix.ts';
import { renderJsonReport } from '../../conformance/runner/render-json.ts';
import { runFailed } from '../../conformance/runner/run.ts';
import { validateReport } from '../../conformance/runner/schemas.ts';
import type { Report } from '../../conformance/runner/types.ts';
import { parseFormats, writeReport } from '../../conformance/runner/write-report.ts';

const usage = `usage: ioasid report render <report.json> [--report <dir>] [--format <list>]
       ioasid report diff <old.json> <new.json> [--renames <file>] [--json <file>]
       ioasid report merge <a.json> <b.json>… --report <dir> [--format <list>] [--json <file>]
       ioasid report matrix <a.json> <b.json>… [--html <file>] [--md <file>]

  render   write the report in other formats (default: md,html,junit,ktap) into --report
           (default: the report's folder)
  diff     print regressions, fixes, other changes, new and removed cases; exit 1 on a regression
  merge    combine the reports of the shards of one run (--shard i/n); exit 1 when the merged
           run failed or a shard is missing
  matrix   several implementations side by side, case by case: Markdown on stdout (or
           --md <file>), and a self-contained page with --html <file>; rows whose results
           differ are marked ≠
  --renames <file>   old→new case ids (default conformance/renames.json)
  --json <file>      also write the diff / merged report as JSON
  --help             this text
`;

export function readReport(path: string): Report {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  const bad = validateReport(json);
  if (bad.length > 0) throw new Error(`${path}: not a report (report.schema.json): ${bad[0].pointer} ${bad[0].message} [${bad[0].rule}]`);
  return json as Report;
}

function writeJson(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags('report', usage, {
    args: argv,
    allowPositionals: true,
    options: { report: { type: 'string' }, format: { type: 'string' }, json: { type: 'string' }, renames: { type: 'string' }, html: { type: 'string' }, md: { type: 'string' } },
  });
  if (parsed === null) return EXIT_USAGE;
  const [sub, ...files] = parsed.positionals;
  const o = parsed.values;
  try {
    if (sub === 'render' && files.length === 1) {
      const r = readReport(files[0]);
      const written = writeReport(r, o.report ?? dirname(files[0]), parseFormats(o.format ?? 'md,html,junit,ktap'));
      process.stderr.write(`wrote ${written.join(', ')}\n`);
      return EXIT_OK;
    }
    if (sub === 'diff' && files.length === 2) {
      const [before, after] = [readReport(files[0]), readReport(files[1])];
      // A side that ran nothing (a broken adapter, a filter typo) makes every case look
      // removed or new: say so, or an empty diff reads as "no regression".
      for (const [file, r] of [[files[0], before], [files[1], after]] as const) {
        if (r.cases.length === 0) process.stderr.write(`ioasid report diff: warning: ${file} ran no case${r.completed ? '' : ` (${r.abort_reason ?? 'the run stopped early'})`}; the diff compares nothing with it\n`);
      }
      const d = diffReports(before, after, loadRenames(o.renames ?? DEFAULT_RENAMES));
      process.stdout.write(renderDiff(d));
      if (o.json) writeJson(o.json, `${JSON.stringify(d, null, 2)}\n`);
      return d.regressions.length > 0 ? EXIT_FAILED : EXIT_OK;
    }
    if (sub === 'matrix' && files.length >= 1) {
      const m = buildMatrix(files.map((file) => ({ file, report: readReport(file) })));
      const md = renderMatrixMarkdown(m);
      if (o.md) writeJson(o.md, md);
      else process.stdout.write(md);
      if (o.html) writeJson(o.html, renderMatrixHtml(m));
      return EXIT_OK;
    }
    if (sub === 'merge' && files.length >= 1) {
      if (!o.report && !o.json) throw new Error('merge needs --report <dir> or --json <file>');
      const merged = mergeReports(files.map(readReport), ['report', ...argv]);
      const written = o.report ? writeReport(merged, o.report, parseFormats(o.format ?? 'json,md,html,junit,ktap')) : [];
      if (o.json) {
        writeJson(o.json, renderJsonReport(merged));
        written.push(o.json);
      }
      process.stderr.write(`merged ${files.length} report(s), ${merged.cases.length} case(s)${merged.completed ? '' : ` — incomplete: ${merged.abort_reason}`}; wrote ${written.join(', ')}\n`);
      return runFailed(merged) ? EXIT_FAILED : EXIT_OK;
    }
  } catch (e) {
    process.stderr.write(`ioasid report: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(`ioasid report: expected render <file>, diff <old> <new>, merge <files…> or matrix <files…>\n\n${usage}`);
  return EXIT_USAGE;
}

const report: Command = { name: 'report', summary: 'render, diff, merge conformance reports; several side by side', usage, run };
export default report;
