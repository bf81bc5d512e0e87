/**
 * The kernel check's comparison with its committed report (reports/linux-<v>/): a case whose
 * result changed is a problem, and so is any case that neither passed nor was unsupported and
 * whose id the report's README.md does not name in backquotes (`ioas/map/x`) — every difference between the real kernel and
 * the reference must be explained there (a version difference, a reference fix, an adapter
 * limitation). A case new since the report is a problem only when it does not pass and is not
 * unsupported. With a selection (`partial`), cases not run are not missed.
 */

export interface ResultRow {
  id: string;
  result: string;
}

const ACCEPTED = new Set(['pass', 'unsupported']);

/** One line per problem; none when the run matches the committed report. */
export function compareWithBaseline(baseline: ResultRow[], now: ResultRow[], readme: string, partial: boolean): string[] {
  const before = new Map(baseline.map((r) => [r.id, r.result]));
  const after = new Map(now.map((r) => [r.id, r.result]));
  const problems: string[] = [];
  for (const [id, was] of before) {
    const is = after.get(id);
    if (is === undefined) {
      if (!partial) problems.push(`${id}: ${was} in the committed report, not run now`);
    } else if (is !== was) {
      problems.push(`${id}: ${was} in the committed report, ${is} now`);
    }
  }
  for (const [id, is] of after) {
    if (!before.has(id) && !ACCEPTED.has(is)) problems.push(`${id}: ${is}, and not in the committed report`);
    if (!ACCEPTED.has(is) && !readme.includes(`\`${id}\``)) problems.push(`${id}: ${is}, and the report's README.md does not explain it`);
  }
  return problems;
}
