/**
 * The HTML report in a real browser (headless Chromium through playwright-core): open the file,
 * read the summary, click a result filter, expand a failure. Skips only when /usr/bin/chromium is
 * absent outside CI; in CI (process.env.CI) a missing browser fails the test.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../testing/fixtures.ts';
import { fixedReport } from './fixed-report.ts';
import { renderHtml } from './html.ts';
import { renderSpecHtml } from './spec-html.ts';
import { REPO_ROOT } from '../case-loader.ts';
import { renderJunit } from './junit.ts';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const mustRun = available || !!process.env.CI;
if (!mustRun) {
  // eslint-disable-next-line no-console
  console.warn(`html.browser.test: SKIPPED — ${CHROMIUM} is not installed (apt-get install -y chromium); it runs in CI`);
}

describe.skipIf(!mustRun)('report.html in headless Chromium', () => {
  let browser: Browser;
  let url: string;
  beforeAll(async () => {
    const file = join(tempDir(), 'report.html');
    writeFileSync(file, renderHtml(fixedReport));
    url = pathToFileURL(file).href;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('shows the summary, filters by result and expands a failure', async () => {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await expect(page.title()).resolves.toBe('ioasid conformance: pyfake 0.3.1');
    await expect(page.locator('#total').textContent()).resolves.toBe('9');
    await expect(page.locator('#counts tr[data-result="fail"] .count').textContent()).resolves.toBe('1');
    await expect(page.locator('#counts tr[data-result="expected-fail"] .count').textContent()).resolves.toBe('1');
    await expect(page.locator('#matrix tr[data-area="ioas"] td').allTextContents()).resolves.toEqual(['ioas', '2', '1', '', '', '', '1', '1', '']);
    await expect(page.locator('#shown').textContent()).resolves.toBe('9');
    await expect(page.locator('details.case:visible').count()).resolves.toBe(9);

    await page.click('#filters button[data-result="fail"]');
    await expect(page.locator('#shown').textContent()).resolves.toBe('1');
    const visible = page.locator('details.case:visible');
    await expect(visible.count()).resolves.toBe(1);
    await expect(visible.getAttribute('data-id')).resolves.toBe('ioas/map/fixed-iova-overlap');
    await expect(page.locator('#filters button[data-result="fail"]').getAttribute('aria-pressed')).resolves.toBe('true');

    const failure = page.locator('details.case[data-id="ioas/map/fixed-iova-overlap"]');
    await expect(failure.locator('pre.expected').isVisible()).resolves.toBe(false);
    await failure.locator('summary').click();
    await expect(failure.getAttribute('open')).resolves.not.toBeNull();
    await expect(failure.locator('pre.expected').isVisible()).resolves.toBe(true);
    expect(JSON.parse((await failure.locator('pre.expected').textContent())!)).toEqual({ errno: 'EEXIST' });
    expect(JSON.parse((await failure.locator('pre.actual').textContent())!)).toEqual({ errno: 'EINVAL' });
    await expect(failure.locator('.step').textContent()).resolves.toBe('step 3 (second-map) IOMMU_IOAS_MAP');

    await page.click('#filters button[data-result="all"]');
    await expect(page.locator('details.case:visible').count()).resolves.toBe(9);
    const embedded = JSON.parse((await page.locator('#report-data').textContent())!);
    expect(embedded).toEqual(fixedReport);
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('searches, combines result filters, puts failures first, keeps the state in a permalink, links clauses to the spec', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'report.html'), renderHtml(fixedReport));
    writeFileSync(join(dir, 'spec.html'), renderSpecHtml(join(REPO_ROOT, 'spec')));
    const base = pathToFileURL(join(dir, 'report.html')).href;
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base);
    // Failures first: fail and unexpected pass, then error/crash/timeout, …, passes last.
    const order = await page.locator('details.case').evaluateAll((ds) => ds.map((d) => (d as unknown as { dataset: { result: string } }).dataset.result));
    expect(order).toEqual(['fail', 'error', 'timeout', 'crash', 'expected-fail', 'unsupported', 'skipped', 'pass', 'pass']);
    // Two results at once.
    await page.click('#filters button[data-result="fail"]');
    await page.click('#filters button[data-result="crash"]');
    await expect(page.locator('#shown').textContent()).resolves.toBe('2');
    await expect(page.locator('details.case:visible').evaluateAll((ds) => ds.map((d) => (d as unknown as { dataset: { id: string } }).dataset.id))).resolves.toEqual(['ioas/map/fixed-iova-overlap', 'ioas/map/crash']);
    await expect(page.locator('#filters button[data-result="all"]').getAttribute('aria-pressed')).resolves.toBe('false');
    // The search narrows further; the URL keeps both.
    await page.fill('#search', 'overlap');
    await expect(page.locator('#shown').textContent()).resolves.toBe('1');
    expect(new URL(page.url()).hash).toBe('#r=fail%2Ccrash&q=overlap');
    // The permalink of a case carries the filters and opens the case in a fresh page.
    const failure = page.locator('details.case[data-id="ioas/map/fixed-iova-overlap"]');
    const href = await failure.locator('a.permalink').getAttribute('href');
    expect(href).toBe('#r=fail%2Ccrash&q=overlap&case=ioas%2Fmap%2Ffixed-iova-overlap');
    const other = await browser.newPage();
    await other.goto(base + href);
    await expect(other.locator('#shown').textContent()).resolves.toBe('1');
    await expect(other.locator('#search').inputValue()).resolves.toBe('overlap');
    await expect(other.locator('details.case[data-id="ioas/map/fixed-iova-overlap"]').getAttribute('open')).resolves.not.toBeNull();
    await expect(other.locator('#filters button[data-result="crash"]').getAttribute('aria-pressed')).resolves.toBe('true');
    // Expected and actual side by side, the differing line marked; the re-run command shown.
    const body = other.locator('details.case[data-id="ioas/map/fixed-iova-overlap"]');
    await expect(body.locator('pre.expected mark').allTextContents()).resolves.toEqual(['  "errno": "EEXIST"']);
    await expect(body.locator('pre.actual mark').allTextContents()).resolves.toEqual(['  "errno": "EINVAL"']);
    const boxes = await Promise.all([body.locator('pre.expected').boundingBox(), body.locator('pre.actual').boundingBox()]);
    expect(boxes[1]!.x).toBeGreaterThan(boxes[0]!.x + boxes[0]!.width - 1);
    expect(Math.abs(boxes[1]!.y - boxes[0]!.y)).toBeLessThan(2);
    await expect(body.locator('pre.rerun').textContent()).resolves.toBe(fixedReport.cases[6].rerun);
    // A clause id leads to its text in spec.html.
    const clause = body.locator('a.clause').first();
    await expect(clause.textContent()).resolves.toBe('IOAS-MAP-FIXED-2');
    await expect(clause.getAttribute('href')).resolves.toBe('spec.html#clause-IOAS-MAP-FIXED-2');
    await other.goto(base);
    await other.locator('details.case[data-id="ioas/unmap/all"] summary').click();
    await other.locator('details.case[data-id="ioas/unmap/all"] a.clause').click();
    await other.waitForURL(/spec\.html#clause-IOAS-UNMAP-1$/);
    await expect(other.locator('#clause-IOAS-UNMAP-1').textContent()).resolves.toMatch(/IOAS-UNMAP-1\./);
    expect(errors).toEqual([]);
    await page.close();
    await other.close();
  });

  it('JUnit XML is well-formed for a real XML parser', async () => {
    const page = await browser.newPage();
    const aborted = { ...fixedReport, completed: false, abort_reason: 'broken adapter: <open> & "x"' };
    for (const r of [fixedReport, aborted]) {
      const result = await page.evaluate((xml) => {
        // Runs in the page: DOMParser is the browser's (the test's tsconfig has no DOM types).
        type Doc = { querySelector(s: string): { textContent: string } | null; querySelectorAll(s: string): { length: number }; documentElement: { tagName: string } };
        const Parser = (globalThis as unknown as { DOMParser: new () => { parseFromString(x: string, t: string): Doc } }).DOMParser;
        const doc = new Parser().parseFromString(xml, 'application/xml');
        const err = doc.querySelector('parsererror');
        return err ? `error: ${err.textContent}` : `${doc.documentElement.tagName} ${doc.querySelectorAll('testcase').length}`;
      }, renderJunit(r));
      // 9 cases and 1 invalid case file, plus the run itself when it stopped early.
      expect(result).toBe(r.completed ? 'testsuites 10' : 'testsuites 11');
    }
    await page.close();
  });
});
