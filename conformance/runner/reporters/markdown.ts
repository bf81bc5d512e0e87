/**
 * report.md: a human summary for a pull request or an issue — who was tested with what, the
 * counts, the area matrix, then every case that did not pass with its step, expected and actual.
 */
import { definedEntries } from '../../../schemas/lib/defined-entries.ts';
import { RESULTS } from '../results.ts';
import type { Report } from '../types.ts';
import { reasonOf, type Reporter } from './reporter.ts';

const NOT_OK = new Set(['fail', 'error', 'timeout', 'crash', 'unexpected pass', 'invalid', 'flaky']);

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function code(v: unknown): string {
  return '`' + JSON.stringify(v ?? null).replace(/`/g, "'") + '`';
}

export function renderMarkdown(r: Report): string {
  const out: string[] = [];
  const impl = r.implementation ? `${r.implementation.name} ${r.implementation.version}${r.implementation.kernel ? ` on Linux ${r.implementation.kernel}` : ''}` : 'unknown implementation (hello failed)';
  out.push(`# ioasid conformance report: ${impl}`, '');
  out.push(`- Suite: ioasid ${r.run.suite.version}${r.run.suite.commit ? ` (${r.run.suite.commit.slice(0, 12)})` : ''}, protocol ${r.protocol ?? '—'}`);
  out.push(`- Adapter: ${r.run.adapter.kind} \`${r.run.adapter.spec}\``);
  out.push(`- Command: \`ioasid ${r.run.command_line.join(' ')}\``);
  out.push(`- Started ${r.run.started_at}, ${r.run.duration_ms} ms; case timeout ${r.run.timeouts.case_ms} ms; ${r.run.restarts} adapter restart(s) of ${r.run.restart_budget}`);
  out.push(`- Smoke check: ${r.smoke.message}`);
  out.push(`- Completed: ${r.completed ? 'yes' : `**no** — ${r.abort_reason ?? 'stopped early'}`}`);
  out.push(`- Capabilities: ${r.capabilities.length ? r.capabilities.join(', ') : '—'}`, '');
  out.push('## Summary', '');
  const used = RESULTS.filter((k) => (r.summary.by_result[k] ?? 0) > 0);
  out.push(`${r.summary.total} case(s) selected, ${r.cases.length} with a result, ${r.summary.not_run} not run, ${r.summary.invalid_cases} invalid case file(s).`, '');
  out.push(`| result | cases |`, `|---|---:|`);
  for (const k of used) out.push(`| ${k} | ${r.summary.by_result[k]} |`);
  out.push('');
  const areas = Object.keys(r.summary.by_area);
  if (areas.length > 0) {
    out.push('## By area', '');
    out.push(`| area | ${used.join(' | ')} |`, `|---|${used.map(() => '---:').join('|')}|`);
    for (const [a, counts] of definedEntries(r.summary.by_area)) out.push(`| ${a} | ${used.map((k) => counts[k]).join(' | ')} |`);
    out.push('');
  }
  const bad = r.cases.filter((c) => NOT_OK.has(c.result));
  if (bad.length > 0) {
    out.push('## Failures', '');
    for (const c of bad) {
      out.push(`### ${c.id} — ${c.result}`, '', `${c.title}`, '');
      out.push(`- Clauses: ${c.clauses.join(', ')}`);
      if (c.path) out.push(`- File: \`${c.path}\``);
      out.push(`- Why: ${cell(reasonOf(c))}`);
      if (c.attempts) out.push(`- Tries: ${c.attempts.join(', ')}`);
      if (c.failure) {
        if (c.failure.step) out.push(`- Step: ${c.failure.step.index}${c.failure.step.label ? ` (${c.failure.step.label})` : ''} \`${c.failure.step.op}\`${c.failure.step.fail_nth ? `, fail_nth=${c.failure.step.fail_nth}` : ''}`);
        if (c.failure.field) out.push(`- Field: \`${c.failure.field}\``);
        if ('expected' in c.failure) out.push(`- Expected: ${code(c.failure.expected)}`);
        if ('actual' in c.failure) out.push(`- Actual: ${code(c.failure.actual)}`);
      }
      if (c.rerun) out.push(`- Re-run: \`${c.rerun}\``);
      if (c.diagnostics) out.push('', '```', c.diagnostics.trimEnd(), '```');
      out.push('');
    }
  }
  const other = r.cases.filter((c) => c.result === 'unsupported' || c.result === 'skipped' || c.result === 'expected fail');
  if (other.length > 0) {
    out.push('## Not scored', '', '| case | result | why |', '|---|---|---|');
    for (const c of other) out.push(`| ${c.id} | ${c.result} | ${cell(reasonOf(c))} |`);
    out.push('');
  }
  if (r.invalid_cases.length > 0) {
    out.push('## Invalid case files', '', '| file | where | rule | problem |', '|---|---|---|---|');
    for (const i of r.invalid_cases) out.push(`| ${cell(i.path)} | ${cell(i.pointer ?? '')} | ${cell(i.rule)} | ${cell(i.message)} |`);
    out.push('');
  }
  return out.join('\n');
}

export const markdownReporter: Reporter = { format: 'md', fileName: 'report.md', render: renderMarkdown };
