/** Writes a report in the chosen formats into a folder, after checking it against its schema. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reporterFor } from './reporters/index.ts';
import { validateReport } from './schemas.ts';
import type { Report } from './types.ts';

export class FormatError extends Error {}

export function parseFormats(text: string): string[] {
  const formats = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const f of formats) if (!reporterFor(f)) throw new FormatError(`--format ${f}: unknown format (json, md, html, junit, ktap)`);
  return formats;
}

export function writeReport(report: Report, dir: string, formats: string[]): string[] {
  const bad = validateReport(report);
  if (bad.length > 0) throw new Error(`internal: the report breaks report.schema.json at ${bad[0].pointer}: ${bad[0].message} [${bad[0].rule}]`);
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const f of formats) {
    const r = reporterFor(f)!;
    const p = join(dir, r.fileName);
    writeFileSync(p, r.render(report));
    written.push(p);
  }
  return written;
}
