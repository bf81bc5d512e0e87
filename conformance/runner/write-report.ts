/**
 * Writes a report in the chosen formats into a folder, after checking it against its schema.
 * With the HTML format, spec.html (the spec rendered, so that clause ids link to their text)
 * goes next to report.html.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reporterFor } from './reporters/index.ts';
import { renderSpecHtml } from './reporters/spec-html.ts';
import { REPO_ROOT } from './case-loader.ts';
import { validateReport } from './schemas.ts';
import type { Report } from './types.ts';

export class FormatError extends Error {}

const SPEC_DIR = join(REPO_ROOT, 'spec');

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
  if (formats.includes('html')) {
    const p = join(dir, 'spec.html');
    writeFileSync(p, renderSpecHtml(SPEC_DIR));
    written.push(p);
  }
  return written;
}
