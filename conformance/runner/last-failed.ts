/**
 * --last-failed: which cases of a report folder's last run did not pass, and how a re-run of
 * those folds back into that report, so the folder keeps a report of the whole selection (the
 * cases that passed last time keep their result; the re-run ones get their new one) instead of
 * a report of a handful of cases that would hide everything else. Also the one other guard of
 * a folder's report: a run that ran no case (a broken adapter) does not bury a report that has
 * results — that one is kept as report.previous.json.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { FAILING_RESULTS } from './results.ts';
import { summarize } from './summary.ts';
import type { Report } from './types.ts';

export function previousReport(dir: string): { path: string; report: Report } | null {
  const path = join(dir, 'report.json');
  if (!existsSync(path)) return null;
  return { path, report: JSON.parse(readFileSync(path, 'utf8')) as Report };
}

/** The ids of the cases that failed or were flaky. */
export function failedIds(report: Report): Set<string> {
  return new Set(report.cases.filter((c) => FAILING_RESULTS.has(c.result) || c.result === 'flaky').map((c) => c.id));
}

/** The previous report with the re-run cases' results replaced (the run's own fields are the re-run's). */
export function foldRerun(previous: Report, rerun: Report): Report {
  const fresh = new Map(rerun.cases.map((c) => [c.id, c]));
  const cases = previous.cases.map((c) => fresh.get(c.id) ?? c);
  const merged: Report = {
    ...rerun,
    completed: rerun.completed && previous.completed,
    cases,
    summary: summarize(cases, previous.summary.total, rerun.invalid_cases.length),
  };
  if (!merged.completed) merged.abort_reason = rerun.abort_reason ?? previous.abort_reason;
  return merged;
}

/**
 * Before a run that ran no case writes into a folder whose report.json has results, that
 * report becomes report.previous.json (returned), so a broken adapter cannot erase it.
 */
export function keepGoodReport(dir: string, next: Report): string | null {
  if (next.cases.length > 0) return null;
  const prev = previousReport(dir);
  if (!prev || !Array.isArray(prev.report.cases) || prev.report.cases.length === 0) return null;
  const kept = join(dir, 'report.previous.json');
  renameSync(prev.path, kept);
  return kept;
}
