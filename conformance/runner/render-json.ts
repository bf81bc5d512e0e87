/** The JSON form of a report as written to --json files (same bytes as report.json). */
import { jsonReporter } from './reporters/json.ts';
import type { Report } from './types.ts';

export function renderJsonReport(report: Report): string {
  return jsonReporter.render(report);
}
