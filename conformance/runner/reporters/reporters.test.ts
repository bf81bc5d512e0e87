import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RESULTS } from '../results.ts';
import { resultNames, validateReport } from '../schemas.ts';
import { summarize } from '../summary.ts';
import { fixedReport } from './fixed-report.ts';
import { DEFAULT_FORMATS, reporterFor, reporters } from './index.ts';
import { renderJunit } from './junit.ts';
import { renderKtap } from './ktap.ts';
import { renderMarkdown } from './markdown.ts';
import { renderHtml } from './html.ts';

const golden = (name: string) => join(import.meta.dirname, '__golden__', name);

describe('reporters', () => {
  it('the fixed report is schema-valid, and its summary is what summarize() computes', () => {
    expect(validateReport(fixedReport)).toEqual([]);
    expect(summarize(fixedReport.cases, 9, 1)).toEqual(fixedReport.summary);
  });
  it('the result vocabulary in code and in report.schema.json agree', () => {
    expect(resultNames()).toEqual([...RESULTS]);
  });
  it('report.json round-trips and stays schema-valid', () => {
    const text = reporterFor('json')!.render(fixedReport);
    expect(JSON.parse(text)).toEqual(fixedReport);
    expect(validateReport(JSON.parse(text))).toEqual([]);
  });
  it('the schema rejects a report with an unknown result', () => {
    const bad = structuredClone(fixedReport) as unknown as { cases: { result: string }[] };
    bad.cases[0].result = 'maybe';
    expect(validateReport(bad).map((i) => i.pointer)).toContain('/cases/0/result');
  });
  it('every default format has a reporter with its own file', () => {
    expect(DEFAULT_FORMATS.map((f) => reporterFor(f)?.fileName)).toEqual(['report.json', 'report.md', 'report.html', 'report.junit.xml', 'report.ktap']);
    expect(new Set(reporters.map((r) => r.fileName)).size).toBe(reporters.length);
  });
  it('markdown golden rendering', async () => {
    await expect(renderMarkdown(fixedReport)).toMatchFileSnapshot(golden('report.md'));
  });
  it('JUnit golden rendering', async () => {
    const xml = renderJunit(fixedReport);
    await expect(xml).toMatchFileSnapshot(golden('report.junit.xml'));
    expect(xml).toContain('<testsuites name="ioasid conformance: pyfake 0.3.1" tests="10" failures="1" errors="4" skipped="3"'); // the invalid case file is an error
    expect(xml).toContain('Traceback: &lt;module&gt; &amp; &quot;quotes&quot;');
  });
  it('KTAP golden rendering', async () => {
    const ktap = renderKtap(fixedReport);
    await expect(ktap).toMatchFileSnapshot(golden('report.ktap'));
    const lines = ktap.split('\n');
    expect(lines.slice(0, 2)).toEqual(['KTAP version 1', '1..9']);
    expect(lines).toContain('not ok 3 hwpt/alloc/slow # TIMEOUT no answer to ioctl within 30000 ms');
    expect(lines).toContain('ok 8 ioas/map/known-bug # XFAIL step 1 IOMMU_IOAS_MAP: iova should be 4096: expected 4096, got 8192');
    expect(lines.at(-2)).toBe('# Totals: pass:2 fail:1 xfail:1 xpass:0 skip:2 error:3');
  });
  it('an aborted run is a failure in KTAP and JUnit too', () => {
    const aborted = { ...fixedReport, completed: false, abort_reason: 'broken adapter: open: timeout' };
    const ktap = renderKtap(aborted);
    expect(ktap).toContain('1..10');
    expect(ktap).toContain('not ok 10 run-completed # ERROR broken adapter: open: timeout');
    expect(renderJunit(aborted)).toContain('<error type="aborted" message="broken adapter: open: timeout"/>');
  });
  it('HTML is self-contained: no external resource', () => {
    const html = renderHtml(fixedReport);
    expect(html).not.toMatch(/<link|src=|href="http|@import|url\(/);
    expect(html).toContain('<script type="application/json" id="report-data">');
    expect(existsSync(golden('.'))).toBe(true);
  });
});
