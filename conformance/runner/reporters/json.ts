/** report.json: the report itself, schema-valid (schemas/report.schema.json), two-space indented. */
import type { Reporter } from './reporter.ts';

export const jsonReporter: Reporter = {
  format: 'json',
  fileName: 'report.json',
  render: (report) => `${JSON.stringify(report, null, 2)}\n`,
};
