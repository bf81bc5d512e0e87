/**
 * report.html: one self-contained page (inline style and script, no external resource, works
 * from file://): the summary, the matrix of areas × results, a search box and result buttons
 * that combine (several results at once), and every case — failures first — as an expandable
 * entry whose body shows the failing step, expected and actual side by side with the differing
 * lines marked, the command that re-runs it, and its clause ids linked to their text in
 * spec.html (written next to the report). The filter state and an open case live in the URL
 * (`#r=fail,error&q=map&case=<id>`), so a link shows what its sender saw; each case has a
 * permalink. The report itself is embedded as JSON for tools.
 */
import { definedEntries } from '../../../schemas/lib/defined-entries.ts';
import { RESULTS } from '../results.ts';
import type { Report } from '../types.ts';
import { esc } from './html-escape.ts';
import { sideBySide, type DiffLine } from './json-diff.ts';
import { reasonOf, type Reporter } from './reporter.ts';
import { clauseAnchor } from './spec-html.ts';

/** Case order on the page: what needs a look first, then what was not scored, then passes. */
const RANK: Record<string, number> = {
  fail: 0, 'unexpected pass': 0, error: 1, crash: 1, timeout: 1, invalid: 2, flaky: 3,
  'expected fail': 4, unsupported: 5, skipped: 5, pass: 6,
};

function slug(result: string): string {
  return result.replace(/ /g, '-');
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d1d1f;max-width:75rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
td:first-child,th:first-child,#invalid td,#invalid th{text-align:left}
.r-pass{color:#176f2c}.r-fail,.r-unexpected-pass,.r-error,.r-crash,.r-timeout,.r-invalid{color:#b00020}.r-flaky{color:#a15c00}
.r-unsupported,.r-skipped,.r-expected-fail{color:#6b6b6b}
#filters button{margin:0 .3rem .3rem 0;padding:.2rem .6rem;border:1px solid #888;border-radius:.3rem;background:#fff;cursor:pointer}
#filters button[aria-pressed=true]{background:#1d1d1f;color:#fff}
details.case{border-bottom:1px solid #eee;padding:.15rem 0}details.case>summary{cursor:pointer}
details.case .body{margin:.3rem 0 .6rem 1.2rem}
pre{background:#f6f6f6;padding:.4rem;overflow:auto;white-space:pre-wrap}
.muted{color:#6b6b6b}
#search{padding:.25rem .5rem;width:22rem;margin:0 0 .5rem 0}
.diff{display:grid;grid-template-columns:1fr 1fr;gap:.6rem}.diff pre{margin:.2rem 0}
mark{background:#ffd6d6}pre.actual mark{background:#ffe9a8}
a.permalink{color:#aaa;text-decoration:none;margin-left:.4rem}a.permalink:hover{color:#333}
pre.rerun{user-select:all}
`;

const SCRIPT = `
(function(){
  var buttons=Array.prototype.slice.call(document.querySelectorAll('#filters button'));
  var cases=Array.prototype.slice.call(document.querySelectorAll('details.case'));
  var search=document.getElementById('search');
  var chosen={}; var query='';
  function hashFor(id){
    var p=[]; var rs=Object.keys(chosen);
    if(rs.length) p.push('r='+encodeURIComponent(rs.join(',')));
    if(query) p.push('q='+encodeURIComponent(query));
    if(id) p.push('case='+encodeURIComponent(id));
    return '#'+p.join('&');
  }
  function save(id){
    try{history.replaceState(null,'',hashFor(id));}catch(e){location.replace(hashFor(id));}
  }
  function apply(){
    var none=Object.keys(chosen).length===0;
    buttons.forEach(function(b){b.setAttribute('aria-pressed', String(b.dataset.result==='all'?none:!!chosen[b.dataset.result]));});
    var q=query.toLowerCase(); var shown=0;
    cases.forEach(function(d){
      var on=(none||!!chosen[d.dataset.result])&&(!q||d.dataset.text.indexOf(q)>=0);
      d.hidden=!on; if(on) shown++;
      var a=d.querySelector('a.permalink'); if(a) a.setAttribute('href', hashFor(d.dataset.id));
    });
    document.getElementById('shown').textContent=String(shown);
  }
  buttons.forEach(function(b){b.addEventListener('click',function(){
    if(b.dataset.result==='all') chosen={};
    else if(chosen[b.dataset.result]) delete chosen[b.dataset.result];
    else chosen[b.dataset.result]=true;
    apply(); save();
  });});
  search.addEventListener('input',function(){query=search.value.trim(); apply(); save();});
  cases.forEach(function(d){
    var a=d.querySelector('a.permalink');
    if(a) a.addEventListener('click',function(e){e.preventDefault(); d.open=true; save(d.dataset.id);});
  });
  var params={};
  location.hash.replace(/^#/,'').split('&').forEach(function(kv){var i=kv.indexOf('='); if(i>0) params[kv.slice(0,i)]=decodeURIComponent(kv.slice(i+1));});
  (params.r||'').split(',').forEach(function(r){if(r) chosen[r]=true;});
  query=params.q||''; search.value=query;
  apply();
  if(params['case']){
    var target=cases.filter(function(d){return d.dataset.id===params['case'];})[0];
    if(target){target.hidden=false; target.open=true; target.scrollIntoView();}
  }
})();
`;

function lines(list: DiffLine[]): string {
  return list.map((l) => (l.changed ? `<mark>${esc(l.text)}</mark>` : esc(l.text))).join('\n');
}

function clauseLinks(ids: string[]): string {
  return ids.map((id) => `<a class="clause" href="spec.html#${esc(clauseAnchor(id))}">${esc(id)}</a>`).join(', ');
}

function caseBody(c: Report['cases'][number]): string {
  const rows: string[] = [];
  rows.push(`<div>${esc(c.title)}</div>`);
  rows.push(`<div class="muted">clauses: ${clauseLinks(c.clauses)}${c.requires.length ? ` · requires: ${esc(c.requires.join(', '))}` : ''}${c.path ? ` · ${esc(c.path)}` : ''} · ${c.duration_ms} ms</div>`);
  const why = reasonOf(c);
  if (why) rows.push(`<div class="why">${esc(why)}</div>`);
  if (c.attempts) rows.push(`<div class="attempts">tries: ${c.attempts.map((a) => `<span class="r-${slug(a)}">${esc(a)}</span>`).join(', ')}</div>`);
  if (c.failure) {
    if (c.failure.step) rows.push(`<div class="step">step ${c.failure.step.index}${c.failure.step.label ? ` (${esc(c.failure.step.label)})` : ''} <code>${esc(c.failure.step.op)}</code>${c.failure.step.fail_nth ? ` fail_nth=${c.failure.step.fail_nth}` : ''}${c.failure.field ? ` field <code>${esc(c.failure.field)}</code>` : ''}</div>`);
    if ('expected' in c.failure || 'actual' in c.failure) {
      const d = sideBySide(c.failure.expected ?? null, c.failure.actual ?? null);
      rows.push(`<div class="diff"><div><div>expected</div><pre class="expected">${lines(d.expected)}</pre></div><div><div>actual</div><pre class="actual">${lines(d.actual)}</pre></div></div>`);
    }
  }
  if (c.rerun) rows.push(`<div>re-run this case alone</div><pre class="rerun">${esc(c.rerun)}</pre>`);
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
  h.push('<section id="cases"><h2>Cases (<span id="shown"></span> shown)</h2>');
  h.push('<input id="search" type="search" placeholder="search ids, titles, clauses, messages" aria-label="search cases"><div id="filters">');
  h.push(`<button type="button" data-result="all" aria-pressed="true">all (${r.cases.length})</button>`);
  for (const k of used) h.push(`<button type="button" data-result="${slug(k)}" aria-pressed="false">${k} (${r.summary.by_result[k]})</button>`);
  h.push('</div>');
  const ordered = [...r.cases].sort((a, b) => (RANK[a.result] ?? 9) - (RANK[b.result] ?? 9) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const c of ordered) {
    const text = [c.id, c.title, c.result, ...c.clauses, reasonOf(c)].join(' ').toLowerCase();
    h.push(`<details class="case" id="case-${esc(c.id)}" data-result="${slug(c.result)}" data-id="${esc(c.id)}" data-text="${esc(text)}"><summary><span class="r-${slug(c.result)}">${esc(c.result)}</span> ${esc(c.id)}<a class="permalink" href="#case=${esc(encodeURIComponent(c.id))}" title="link to this case with the current filters">¶</a></summary><div class="body">${caseBody(c)}</div></details>`);
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
