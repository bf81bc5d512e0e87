/** Summary counts of a report, recomputed from its cases (used by the run, merge and tests). */
import { RESULTS, areaOf, emptyCounts } from './results.ts';
import type { CaseReport, Report } from './types.ts';

export function summarize(cases: CaseReport[], total: number, invalidCases: number): Report['summary'] {
  const byResult = emptyCounts();
  const byArea: Report['summary']['by_area'] = {};
  for (const c of cases) {
    byResult[c.result]++;
    const area = c.area || areaOf(c.id);
    (byArea[area] ??= emptyCounts())[c.result]++;
  }
  const sortedAreas = Object.fromEntries(Object.entries(byArea).sort(([a], [b]) => a.localeCompare(b)));
  return { total, not_run: Math.max(0, total - cases.length), invalid_cases: invalidCases, by_result: byResult, by_area: sortedAreas };
}

export { RESULTS };
