/**
 * The one interface of a report format: a name (as --format spells it), the file it is written
 * to inside the report folder, and a pure rendering of a Report. Adding a format is one file
 * here and a line in index.ts.
 */
import type { Report } from '../types.ts';

export interface Reporter {
  format: string;
  fileName: string;
  render(report: Report): string;
}

/** A failing case's one-line reason, shared by every format. */
export function reasonOf(c: Report['cases'][number]): string {
  return c.message ?? c.failure?.message ?? '';
}
