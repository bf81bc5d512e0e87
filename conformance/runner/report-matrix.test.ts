/** `ioasid report matrix`: implementations side by side, case by case, in Markdown and HTML (Chromium). */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import report from '../../cli/commands/report.ts';
import { fixedReport } from './reporters/fixed-report.ts';
import { tempDir } from './testing/fixtures.ts';
import type { Report } from './types.ts';

let out = '';
beforeEach(() => {
  out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
});

function second(): Report {
  const r = structuredClone(fixedReport);
  r.implementation = { name: 'cfake', version: '2.0' };
  r.cases = r.cases.filter((c) => c.id !== 'hwpt/alloc/slow').map((c) => (c.id === 'ioas/map/fixed-iova-overlap' ? { ...c, result: 'pass' as const } : c));
  return r;
}

describe('ioasid report matrix', () => {
  it('puts implementations side by side, marks rows that differ, and writes a page a browser can filter', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    writeFileSync(a, JSON.stringify(fixedReport));
    writeFileSync(b, JSON.stringify(second()));
    const html = join(dir, 'matrix.html');
    expect(await report.run(['matrix', a, b, '--html', html])).toBe(0);
    expect(out).toContain('| case | pyfake 0.3.1 | cfake 2.0 |');
    expect(out).toContain('| ≠ hwpt/alloc/slow | timeout | — |');
    expect(out).toContain('| ≠ ioas/map/fixed-iova-overlap | fail | pass |');
    expect(out).toContain('| ioas/alloc/basic | pass | pass |');
    expect(out).toContain('9 case(s), 2 with differing results (≠).');
    expect(existsSync(html)).toBe(true);
    if (!existsSync('/usr/bin/chromium') && !process.env.CI) return;
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(html).href);
      await expect(page.locator('#matrix tbody tr:visible').count()).resolves.toBe(9);
      await page.check('#only-diff');
      await expect(page.locator('#matrix tbody tr:visible').evaluateAll((rs) => rs.map((r) => (r as unknown as { dataset: { id: string } }).dataset.id))).resolves.toEqual(['hwpt/alloc/slow', 'ioas/map/fixed-iova-overlap']);
      await expect(page.locator('tr[data-id="ioas/map/fixed-iova-overlap"] td.fail').textContent()).resolves.toBe('fail');
    } finally {
      await browser.close();
    }
    expect(readFileSync(html, 'utf8')).not.toMatch(/<script src|<link /);
  });
});
