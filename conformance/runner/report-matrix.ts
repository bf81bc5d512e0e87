/**
 * `ioasid report matrix`: several implementations side by side, case by case — one column per
 * report (its implementation's name and version, the file name when two are alike), one row
 * per case id of any of them, the result in each cell (`—` where a report has no such case),
 * rows whose results differ marked. Markdown for an issue, and a self-contained HTML page.
 */
import { basename } from 'node:path';
import { RESULTS } from './results.ts';
import { esc } from './reporters/html-escape.ts';
import type { Report } from './types.ts';

export interface Matrix {
  columns: string[];
  rows: { id: string; results: (string | null)[]; differs: boolean }[];
  totals: Record<string, number>[];
}

export function buildMatrix(reports: { file: string; report: Report }[]): Matrix {
  const names = reports.map(({ report }) => (report.implementation ? `${report.implementation.name} ${report.implementation.version}` : 'unknown'));
  const columns = names.map((n, i) => (names.indexOf(n) !== names.lastIndexOf(n) ? `${n} (${basename(reports[i].file)})` : n));
  const byReport = reports.map(({ report }) => new Map(report.cases.map((c) => [c.id, c.result as string])));
  const ids = [...new Set(reports.flatMap(({ report }) => report.cases.map((c) => c.id)))].sort();
  const rows = ids.map((id) => {
    const results = byReport.map((m) => m.get(id) ?? null);
    return { id, results, differs: new Set(results).size > 1 };
  });
  const totals = reports.map(({ report }) => {
    const t: Record<string, number> = {};
    for (const c of report.cases) t[c.result] = (t[c.result] ?? 0) + 1;
    return t;
  });
  return { columns, rows, totals };
}

function totalsLine(t: Record<string, number>): string {
  return RESULTS.filter((r) => t[r]).map((r) => `${t[r]} ${r}`).join(', ') || 'no case';
}

export function renderMatrixMarkdown(m: Matrix): string {
  const out = ['# ioasid conformance matrix', ''];
  out.push(`| case | ${m.columns.join(' | ')} |`, `|---|${m.columns.map(() => '---').join('|')}|`);
  out.push(`| **totals** | ${m.totals.map(totalsLine).join(' | ')} |`);
  for (const r of m.rows) out.push(`| ${r.differs ? '≠ ' : ''}${r.id} | ${r.results.map((x) => x ?? '—').join(' | ')} |`);
  out.push('', `${m.rows.length} case(s), ${m.rows.filter((r) => r.differs).length} with differing results (≠).`, '');
  return out.join('\n');
}

export function renderMatrixHtml(m: Matrix): string {
  const cls = (x: string | null) => (x === null ? 'none' : x.replace(/ /g, '-'));
  const h = ['<!doctype html>', '<html lang="en"><head><meta charset="utf-8"><title>ioasid conformance matrix</title>'];
  h.push('<meta name="viewport" content="width=device-width,initial-scale=1"><style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d1d1f}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}.pass{color:#176f2c}.fail,.unexpected-pass,.error,.crash,.timeout,.invalid{color:#b00020;font-weight:600}.unsupported,.skipped,.expected-fail,.none{color:#6b6b6b}.flaky{color:#a15c00}tr.differs td:first-child::before{content:"≠ ";color:#b00020}label{margin-left:1rem}</style></head><body>');
  h.push('<h1>ioasid conformance matrix</h1>');
  h.push(`<p>${m.rows.length} case(s), <span id="differing">${m.rows.filter((r) => r.differs).length}</span> with differing results <label><input type="checkbox" id="only-diff"> only those</label></p>`);
  h.push(`<table id="matrix"><thead><tr><th>case</th>${m.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`);
  h.push(`<tr class="totals"><th>totals</th>${m.totals.map((t) => `<td>${esc(totalsLine(t))}</td>`).join('')}</tr></thead><tbody>`);
  for (const r of m.rows) h.push(`<tr data-id="${esc(r.id)}"${r.differs ? ' class="differs"' : ''}><td>${esc(r.id)}</td>${r.results.map((x) => `<td class="${cls(x)}">${esc(x ?? '—')}</td>`).join('')}</tr>`);
  h.push('</tbody></table>');
  h.push(`<script>document.getElementById('only-diff').addEventListener('change',function(e){var on=e.target.checked;document.querySelectorAll('#matrix tbody tr').forEach(function(tr){tr.hidden=on&&!tr.classList.contains('differs');});});</script>`);
  h.push('</body></html>', '');
  return h.join('\n');
}
