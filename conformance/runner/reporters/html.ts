/**
 * report.html: one self-contained page (inline style and script, no external resource, works
 * from file://): the summary, the matrix of areas × results, buttons that filter the case list
 * by result, and every case as an expandable entry whose body shows the failing step, the
 * expected and the actual values. The report itself is embedded as JSON for tools.
 */
import { definedEntries } from '../../../schemas/lib/defined-entries.ts';
import { RESULTS } from '../results.ts';
import type { Report } from '../types.ts';
import { reasonOf, type Reporter } from './reporter.ts';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function slug(result: string): string {
  return result.replace(/ /g, '-');
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d1d1f;max-width:75rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
td:first-child,th:first-child,#invalid td,#invalid th{text-align:left}
.r-pass{color:#176f2c}.r-fail,.r-unexpected-pass,.r-error,.r-crash,.r-timeout{color:#b00020}
.r-unsupported,.r-skipped,.r-expected-fail{color:#6b6b6b}
#filters button{margin:0 .3rem .3rem 0;padding:.2rem .6rem;border:1px solid #888;border-radius:.3rem;background:#fff;cursor:pointer}
#filters button[aria-pressed=true]{background:#1d1d1f;color:#fff}
details.case{border-bottom:1px solid #eee;padding:.15rem 0}details.case>summary{cursor:pointer}
details.case .body{margin:.3rem 0 .6rem 1.2rem}
pre{background:#f6f6f6;padding:.4rem;overflow:auto;white-space:pre-wrap}
.muted{color:#6b6b6b}
`;

const SCRIPT = `
(function(){
  var buttons=document.querySelectorAll('#filters button');
  function apply(result){
    buttons.forEach(function(b){b.setAttribute('aria-pressed', String(b.dataset.result===result));});
    var shown=0;
    document.querySelectorAll('details.case').forEach(function(d){
      var on=result==='all'||d.dataset.result===result;
      d.hidden=!on; if(on) shown++;
    });
    document.getElementById('shown').textContent=String(shown);
  }
  buttons.forEach(function(b){b.addEventListener('click',function(){apply(b.dataset.result);});});
  apply('all');
})();
`;

function caseBody(c: Report['cases'][number]): string {
  const rows: string[] = [];
  rows.push(`<div>${esc(c.title)}</div>`);
  rows.push(`<div class="muted">clauses: ${esc(c.clauses.join(', '))}${c.requires.length ? ` · requires: ${esc(c.requires.join(', '))}` : ''}${c.path ? ` · ${esc(c.path)}` : ''} · ${c.duration_ms} ms</div>`);
  const why = reasonOf(c);
  if (why) rows.push(`<div class="why">${esc(why)}</div>`);
  if (c.failure) {
    if (c.failure.step) rows.push(`<div class="step">step ${c.failure.step.index}${c.failure.step.label ? ` (${esc(c.failure.step.label)})` : ''} <code>${esc(c.failure.step.op)}</code>${c.failure.step.fail_nth ? ` fail_nth=${c.failure.step.fail_nth}` : ''}${c.failure.field ? ` field <code>${esc(c.failure.field)}</code>` : ''}</div>`);
    if ('expected' in c.failure) rows.push(`<div>expected</div><pre class="expected">${esc(JSON.stringify(c.failure.expected, null, 2) ?? 'null')}</pre>`);
    if ('actual' in c.failure) rows.push(`<div>actual</div><pre class="actual">${esc(JSON.stringify(c.failure.actual, null, 2) ?? 'null')}</pre>`);
  }
  if (c.diagnostics) rows.push(`<div>adapter stderr</div><pre>${esc(c.diagnostics)}</pre>`);
  return rows.join('\n');
}

export function renderHtml(r: Report): string {
  const impl = r.implementation ? `${r.implementation.name} ${r.implementation.version}` : 'unknown implementation';
  const used = RESULTS.filter((k) => (r.summary.by_result[k] ?? 0) > 0);
  const h: string[] = [];
  h.push('<!doctype html>', '<html lang="en"><head><meta charset="utf-8">', `<title>ioasid conformance: ${esc(impl)}</title>`);
  h.push(`<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head><body>`);
  h.push(`<h1>ioasid conformance report: ${esc(impl)}</h1>`);
  h.push('<section id="summary">');
  h.push(`<p>Suite ioasid ${esc(r.run.suite.version)}${r.run.suite.commit ? ` (${esc(r.run.suite.commit.slice(0, 12))})` : ''} · protocol ${r.protocol ?? '—'} · adapter ${esc(r.run.adapter.kind)} <code>${esc(r.run.adapter.spec)}</code> · ${esc(r.run.started_at)} · ${r.run.duration_ms} ms</p>`);
  h.push(`<p id="smoke" class="${r.smoke.ok ? 'r-pass' : 'r-fail'}">Smoke check: ${esc(r.smoke.message)}</p>`);
  h.push(`<p id="completed">${r.completed ? 'The run completed.' : `The run stopped early: ${esc(r.abort_reason ?? '')}`}</p>`);
  h.push(`<p><span id="total">${r.summary.total}</span> cases selected · ${r.summary.not_run} not run · ${r.summary.invalid_cases} invalid case files</p>`);
  h.push('<table id="counts"><tr><th>result</th><th>cases</th></tr>');
  for (const k of used) h.push(`<tr data-result="${slug(k)}"><td class="r-${slug(k)}">${k}</td><td class="count">${r.summary.by_result[k]}</td></tr>`);
  h.push('</table></section>');
  h.push('<section id="matrix"><h2>Areas × results</h2><table><tr><th>area</th>' + used.map((k) => `<th class="r-${slug(k)}">${k}</th>`).join('') + '</tr>');
  for (const [area, counts] of definedEntries(r.summary.by_area)) {
    h.push(`<tr data-area="${esc(area)}"><td>${esc(area)}</td>${used.map((k) => `<td>${counts[k] || ''}</td>`).join('')}</tr>`);
  }
  h.push('</table></section>');
  h.push('<section id="cases"><h2>Cases (<span id="shown"></span> shown)</h2><div id="filters">');
  h.push(`<button type="button" data-result="all" aria-pressed="true">all (${r.cases.length})</button>`);
  for (const k of used) h.push(`<button type="button" data-result="${slug(k)}" aria-pressed="false">${k} (${r.summary.by_result[k]})</button>`);
  h.push('</div>');
  for (const c of r.cases) {
    h.push(`<details class="case" data-result="${slug(c.result)}" data-id="${esc(c.id)}"><summary><span class="r-${slug(c.result)}">${esc(c.result)}</span> ${esc(c.id)}</summary><div class="body">${caseBody(c)}</div></details>`);
  }
  h.push('</section>');
  if (r.invalid_cases.length > 0) {
    h.push('<section id="invalid"><h2>Invalid case files</h2><table><tr><th>file</th><th>where</th><th>rule</th><th>problem</th></tr>');
    for (const i of r.invalid_cases) h.push(`<tr><td>${esc(i.path)}</td><td>${esc(i.pointer ?? '')}</td><td>${esc(i.rule)}</td><td>${esc(i.message)}</td></tr>`);
    h.push('</table></section>');
  }
  h.push(`<script type="application/json" id="report-data">${JSON.stringify(r).replace(/</g, '\\u003c')}</script>`);
  h.push(`<script>${SCRIPT}</script>`, '</body></html>', '');
  return h.join('\n');
}

export const htmlReporter: Reporter = { format: 'html', fileName: 'report.html', render: renderHtml };
