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
