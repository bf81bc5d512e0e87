/**
 * report.junit.xml: the common subset of the Ant/Jenkins JUnit schema — one <testsuite> per
 * area, one <testcase> per case (classname ioasid.<area>, name = case id, unique). fail and
 * unexpected pass are <failure>; error, timeout and crash are <error> (type says which);
 * unsupported, skipped and expected fail are <skipped> with the reason; invalid is an <error>;
 * flaky passes with a <system-out> saying so. Each invalid case file is a <testcase> with an
 * <error> in the suite ioasid.invalid-cases, counted in the totals.
 */
import type { Report } from '../types.ts';
import { reasonOf, type Reporter } from './reporter.ts';

export function xmlEscape(s: string): string {
  // Characters XML 1.0 forbids are dropped; the rest escaped.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function detail(c: Report['cases'][number]): string {
  const lines = [reasonOf(c)];
  if (c.failure?.step) lines.push(`step ${c.failure.step.index}${c.failure.step.label ? ` (${c.failure.step.label})` : ''} ${c.failure.step.op}`);
  if (c.failure && 'expected' in c.failure) lines.push(`expected: ${JSON.stringify(c.failure.expected)}`);
  if (c.failure && 'actual' in c.failure) lines.push(`actual: ${JSON.stringify(c.failure.actual)}`);
  lines.push(`clauses: ${c.clauses.join(', ')}`);
  if (c.rerun) lines.push(`re-run: ${c.rerun}`);
  return lines.join('\n');
}

export function renderJunit(r: Report): string {
  const areas = new Map<string, Report['cases']>();
  for (const c of r.cases) (areas.get(c.area) ?? areas.set(c.area, []).get(c.area)!).push(c);
  const count = (cs: Report['cases'], kinds: string[]) => cs.filter((c) => kinds.includes(c.result)).length;
  const total = (cs: Report['cases']) => ({
    tests: cs.length,
    failures: count(cs, ['fail', 'unexpected pass']),
    errors: count(cs, ['error', 'timeout', 'crash', 'invalid']),
    skipped: count(cs, ['unsupported', 'skipped', 'expected fail']),
    time: seconds(cs.reduce((s, c) => s + c.duration_ms, 0)),
  });
  const t = total(r.cases);
  // Invalid case files are errors too: CI must not read a suite with broken cases as green.
  t.tests += r.invalid_cases.length;
  t.errors += r.invalid_cases.length;
  const impl = r.implementation ? `${r.implementation.name} ${r.implementation.version}` : 'unknown';
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(`<testsuites name="ioasid conformance: ${xmlEscape(impl)}" tests="${t.tests}" failures="${t.failures}" errors="${t.errors}" skipped="${t.skipped}" time="${t.time}">`);
  if (!r.completed) {
    // An infrastructure failure is a result too: a suite with one error, so CI cannot read
    // an aborted run as green.
    out.push(`  <testsuite name="ioasid.run" tests="1" failures="0" errors="1" skipped="0" time="0.000">`);
    out.push(`    <testcase classname="ioasid.run" name="run completed" time="0.000">`);
    out.push(`      <error type="aborted" message="${xmlEscape(r.abort_reason ?? 'the run stopped early')}"/>`);
    out.push('    </testcase>', '  </testsuite>');
  }
  for (const [area, cs] of areas) {
    const a = total(cs);
    out.push(`  <testsuite name="${xmlEscape(area)}" tests="${a.tests}" failures="${a.failures}" errors="${a.errors}" skipped="${a.skipped}" time="${a.time}" timestamp="${xmlEscape(r.run.started_at)}">`);
    for (const c of cs) {
      const head = `    <testcase classname="ioasid.${xmlEscape(area)}" name="${xmlEscape(c.id)}" time="${seconds(c.duration_ms)}"`;
      const msg = xmlEscape(`${c.result}: ${reasonOf(c)}`.slice(0, 500));
      if (c.result === 'flaky') {
        out.push(`${head}>`, `      <system-out>${xmlEscape(`flaky: ${detail(c)}`)}</system-out>`, '    </testcase>');
        continue;
      }
      if (c.result === 'pass') {
        out.push(`${head}/>`);
        continue;
      }
      out.push(`${head}>`);
      if (c.result === 'fail' || c.result === 'unexpected pass') out.push(`      <failure type="${c.result}" message="${msg}">${xmlEscape(detail(c))}</failure>`);
      else if (c.result === 'error' || c.result === 'timeout' || c.result === 'crash' || c.result === 'invalid') out.push(`      <error type="${c.result}" message="${msg}">${xmlEscape(detail(c))}</error>`);
      else out.push(`      <skipped message="${msg}"/>`);
      if (c.diagnostics) out.push(`      <system-err>${xmlEscape(c.diagnostics)}</system-err>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  if (r.invalid_cases.length > 0) {
    const n = r.invalid_cases.length;
    out.push(`  <testsuite name="ioasid.invalid-cases" tests="${n}" failures="0" errors="${n}" skipped="0" time="0.000">`);
    for (const i of r.invalid_cases) {
      out.push(`    <testcase classname="ioasid.invalid-cases" name="${xmlEscape(`${i.path}${i.pointer ? `#${i.pointer}` : ''}`)}" time="0.000">`);
      out.push(`      <error type="invalid case file" message="${xmlEscape(`${i.rule}: ${i.message}`.slice(0, 500))}"/>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}

export const junitReporter: Reporter = { format: 'junit', fileName: 'report.junit.xml', render: renderJunit };
