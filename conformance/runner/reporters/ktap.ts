/**
 * report.ktap: KTAP version 1 (Documentation/dev-tools/ktap.rst), flat: the plan first, one
 * result line per case named by its (unique) id, the reason in the directive's diagnostic.
 * Mapping: pass → ok; fail → not ok; unsupported and skipped → ok # SKIP; expected fail →
 * ok # XFAIL (not a failure); timeout → not ok # TIMEOUT; error and crash → not ok # ERROR;
 * unexpected pass → not ok, with a diagnostic line; flaky → ok with a diagnostic line; invalid →
 * not ok # ERROR. A case that did not pass has a `# re-run:` line with its command. A run that stopped early adds a final
 * `not ok` line for the run itself, so a parser cannot take it for a green run.
 */
import type { Report } from '../types.ts';
import { reasonOf, type Reporter } from './reporter.ts';

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').replace(/#/g, '%23').trim();
}

export function renderKtap(r: Report): string {
  const extra = r.completed ? 0 : 1;
  const out = ['KTAP version 1', `1..${r.cases.length + extra}`];
  const impl = r.implementation ? `${r.implementation.name} ${r.implementation.version}` : 'unknown implementation';
  out.push(`# ioasid conformance: ${oneLine(impl)}, suite ${r.run.suite.version}, protocol ${r.protocol ?? '-'}`);
  out.push(`# smoke: ${oneLine(r.smoke.message)}`);
  let n = 0;
  const totals = { pass: 0, fail: 0, xfail: 0, xpass: 0, skip: 0, error: 0 };
  for (const c of r.cases) {
    n++;
    const why = oneLine(reasonOf(c));
    const rerun = c.rerun ? [`# re-run: ${oneLine(c.rerun)}`] : [];
    switch (c.result) {
      case 'pass':
        totals.pass++;
        out.push(`ok ${n} ${c.id}`);
        break;
      case 'fail':
        totals.fail++;
        out.push(`not ok ${n} ${c.id}`, `# ${why}`, ...rerun);
        break;
      case 'unsupported':
      case 'skipped':
        totals.skip++;
        out.push(`ok ${n} ${c.id} # SKIP ${c.result}: ${why}`);
        break;
      case 'expected fail':
        totals.xfail++;
        out.push(`ok ${n} ${c.id} # XFAIL ${why}`);
        break;
      case 'timeout':
        totals.error++;
        out.push(`not ok ${n} ${c.id} # TIMEOUT ${why}`, ...rerun);
        break;
      case 'flaky':
        totals.pass++;
        out.push(`ok ${n} ${c.id}`, `# flaky: ${why}`, ...rerun);
        break;
      case 'invalid':
      case 'error':
      case 'crash':
        totals.error++;
        out.push(`not ok ${n} ${c.id} # ERROR ${c.result}: ${why}`, ...rerun);
        break;
      case 'unexpected pass':
        totals.xpass++;
        out.push(`not ok ${n} ${c.id}`, `# unexpected pass: ${why}`, ...rerun);
        break;
    }
  }
  if (!r.completed) {
    n++;
    totals.error++;
    out.push(`not ok ${n} run-completed # ERROR ${oneLine(r.abort_reason ?? 'the run stopped early')}`);
  }
  for (const i of r.invalid_cases) out.push(`# invalid case file ${oneLine(i.path)}: ${oneLine(i.rule)}: ${oneLine(i.message)}`);
  out.push(`# Totals: pass:${totals.pass} fail:${totals.fail} xfail:${totals.xfail} xpass:${totals.xpass} skip:${totals.skip} error:${totals.error}`, '');
  return out.join('\n');
}

export const ktapReporter: Reporter = { format: 'ktap', fileName: 'report.ktap', render: renderKtap };
