/**
 * `ioasid report diff <old> <new>`: what changed between two reports, case by case, following
 * conformance/renames.json so that a renamed case is compared with its former self rather than
 * shown as removed and new. A regression is a case that did not fail before and fails now (fail,
 * error, timeout, crash, unexpected pass); a fix the reverse; everything else that changed
 * result is `changed`.
 */
import { FAILING_RESULTS, type CaseResultName } from './results.ts';
import { currentId, type Renames } from './renames.ts';
import type { Report } from './types.ts';

export interface DiffEntry {
  id: string;
  old_id?: string;
  from?: CaseResultName;
  to?: CaseResultName;
  message?: string;
}

export interface ReportDiff {
  old: { implementation: string; suite: string };
  new: { implementation: string; suite: string };
  regressions: DiffEntry[];
  fixes: DiffEntry[];
  changed: DiffEntry[];
  new_cases: DiffEntry[];
  removed: DiffEntry[];
  unchanged: number;
}

function label(r: Report): { implementation: string; suite: string } {
  return {
    implementation: r.implementation ? `${r.implementation.name} ${r.implementation.version}` : 'unknown',
    suite: `${r.run.suite.version}${r.run.suite.commit ? ` (${r.run.suite.commit.slice(0, 12)})` : ''}`,
  };
}

export function diffReports(oldR: Report, newR: Report, renames: Renames): ReportDiff {
  const olds = new Map<string, { id: string; result: CaseResultName }>();
  for (const c of oldR.cases) olds.set(currentId(renames, c.id), { id: c.id, result: c.result });
  const d: ReportDiff = { old: label(oldR), new: label(newR), regressions: [], fixes: [], changed: [], new_cases: [], removed: [], unchanged: 0 };
  const seen = new Set<string>();
  for (const c of newR.cases) {
    const id = currentId(renames, c.id);
    seen.add(id);
    const o = olds.get(id);
    if (!o) {
      d.new_cases.push({ id: c.id, to: c.result, ...(c.message ? { message: c.message } : {}) });
      continue;
    }
    const e: DiffEntry = { id: c.id, from: o.result, to: c.result };
    if (o.id !== c.id) e.old_id = o.id;
    if (c.message) e.message = c.message;
    const wasBad = FAILING_RESULTS.has(o.result);
    const isBad = FAILING_RESULTS.has(c.result);
    if (o.result === c.result) d.unchanged++;
    else if (!wasBad && isBad) d.regressions.push(e);
    else if (wasBad && !isBad) d.fixes.push(e);
    else d.changed.push(e);
  }
  for (const [id, o] of olds) if (!seen.has(id)) d.removed.push({ id: o.id, from: o.result });
  return d;
}

export function renderDiff(d: ReportDiff): string {
  const out = [
    `# ioasid report diff`,
    '',
    `old: ${d.old.implementation}, suite ${d.old.suite}`,
    `new: ${d.new.implementation}, suite ${d.new.suite}`,
    '',
    `${d.regressions.length} regression(s), ${d.fixes.length} fix(es), ${d.changed.length} other change(s), ${d.new_cases.length} new, ${d.removed.length} removed, ${d.unchanged} unchanged`,
  ];
  const section = (title: string, list: DiffEntry[]) => {
    if (list.length === 0) return;
    out.push('', `## ${title}`, '');
    for (const e of list) {
      out.push(`- ${e.id}${e.old_id ? ` (was ${e.old_id})` : ''}: ${e.from ?? '—'} → ${e.to ?? '—'}${e.message && e.to && FAILING_RESULTS.has(e.to) ? ` — ${e.message}` : ''}`);
    }
  };
  section('Regressions', d.regressions);
  section('Fixes', d.fixes);
  section('Other changes', d.changed);
  section('New cases', d.new_cases);
  section('Removed cases', d.removed);
  return out.join('\n') + '\n';
}
