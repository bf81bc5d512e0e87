/**
 * The bridge to C (conformance/adapters/c/): built with the machine's cc, then
 * - a C program of our own (tests/fake-smoke.c) runs unmodified against `ioasid serve` through
 *   the fake /dev/iommu (LD_PRELOAD), real C layouts and the caller's memory included;
 * - another (tests/selftest-cmd.c) drives IOMMU_TEST_CMD as the kernel's selftests do: stack
 *   and heap buffers, an access fd, a forked child's mapping, a fault fd read and written;
 * - the golden suite runs through C adapter → fake /dev/iommu → `ioasid serve`: every case
 *   whose requirements the chain declares passes (the in-process reference passes them all,
 *   adapter.test.ts and the suite tests), and the others are exactly the unsupported ones.
 * Skipped only when cc or make is missing (.ci/run installs them).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CASES_DIR, REPO_ROOT, loadCases } from '../../runner/case-loader.ts';
import { loadCatalog } from '../../runner/catalog-source.ts';
import { runSuite } from '../../runner/run.ts';
import { stdioFactory } from '../../runner/stdio.ts';
import { capabilities as referenceCapabilities } from '../../../reference/adapter.ts';
import { LAYOUTS_PATH, generateLayouts } from './layouts.ts';

const DIR = join(REPO_ROOT, 'conformance', 'adapters', 'c');
const SERVE = `node '${join(REPO_ROOT, 'bin', 'ioasid.mjs')}' serve`;
const hasCc = spawnSync('cc', ['--version']).status === 0 && spawnSync('make', ['--version']).status === 0;

/** The C adapter's own capabilities, and what it does not carry of the served adapter's (adapter.c). */
const OWN = ['ioas', 'hwpt', 'options', 'vfio-device', 'test:mem', 'x-raw-ioctl'];
const NOT_CARRIED = ['test:process', 'change-process', 'map-file', 'test:mmap-huge', 'test:mmap-private', 'test:mem-mirror', 'test:mem-batch'];

let out = '';

describe('uapi-layouts.h', () => {
  it('is what layouts.ts generates from the catalog (run `npx tsx conformance/adapters/c/layouts.ts` when this fails)', () => {
    expect(readFileSync(LAYOUTS_PATH, 'utf8')).toBe(generateLayouts());
  });
});

describe.skipIf(!hasCc)('the C bridge', () => {
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'ioasid-c-'));
    const make = spawnSync('make', ['-s', '-C', DIR, `OUT=${out}`], { encoding: 'utf8' });
    expect(make.stderr).toBe('');
    expect(make.status).toBe(0);
  });
  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('runs a C program of our own against ioasid serve through the fake /dev/iommu', () => {
    const r = spawnSync(join(out, 'fake-smoke'), [], {
      encoding: 'utf8',
      env: { ...process.env, LD_PRELOAD: join(out, 'libioasid-fake.so'), IOASID_ADAPTER: SERVE },
      timeout: 120_000,
    });
    expect(r.stdout).toContain('ok IOVA_RANGES wrote the caller\'s memory');
    expect(r.stdout).toContain('ok unknown request, NULL argp: ENOTTY');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('done');
    expect(r.status).toBe(0);
  });

  it('runs IOMMU_TEST_CMD flows of our own through the fake: stack and heap memory, access and fault fds, fork', () => {
    const r = spawnSync(join(out, 'selftest-cmd'), [], {
      encoding: 'utf8',
      env: { ...process.env, LD_PRELOAD: join(out, 'libioasid-fake.so'), IOASID_ADAPTER: SERVE },
      timeout: 120_000,
    });
    const lines = r.stdout.trim().split('\n');
    expect(lines.filter((l) => !l.startsWith('ok ') && l !== 'done')).toEqual([]);
    expect(lines).toContain('ok MD_CHECK_MAP: the mock IOPTEs give the stack pages');
    expect(lines).toContain('ok ACCESS_RW write: the stack pages hold exactly the bytes written');
    expect(lines).toContain('ok ACCESS_RW after the child exited: its pinned page holds its bytes');
    expect(lines).toContain('ok the page request names the device, group and address');
    expect(lines.at(-1)).toBe('done');
    expect(r.status).toBe(0);
  });

  it('passes every declared case through C adapter → fake /dev/iommu → ioasid serve', async () => {
    const command = `LD_PRELOAD='${join(out, 'libioasid-fake.so')}' IOASID_ADAPTER="${SERVE}" '${join(out, 'ioasid-c-adapter')}'`;
    const catalog = await loadCatalog();
    const { cases, invalid } = loadCases([DEFAULT_CASES_DIR]);
    const report = await runSuite({
      factory: stdioFactory(command),
      adapter: { kind: 'stdio', spec: `stdio:${command}`, command },
      catalog,
      cases,
      invalid,
      caseTimeoutMs: 60_000,
      helloTimeoutMs: 60_000,
      restartBudget: 3,
      bail: false,
      config: { command_line: ['conform', '--adapter', `stdio:${command}`], cases: [DEFAULT_CASES_DIR] },
    });
    expect(report.smoke.ok).toBe(true);
    expect(report.completed).toBe(true);
    const declared = new Set([...OWN, ...referenceCapabilities().filter((c) => !NOT_CARRIED.includes(c))]);
    expect(report.capabilities).toEqual([...declared].sort());
    expect(report.run.restarts).toBe(0);
    const wrong: string[] = [];
    for (const lc of cases) {
      const r = report.cases.find((c) => c.id === lc.case.id)!;
      const missing = lc.effectiveRequires.filter((c) => !declared.has(c));
      if (missing.length > 0) {
        if (r.result !== 'unsupported') wrong.push(`${r.id}: needs ${missing.join(', ')} but came out ${r.result}`);
      } else if (r.result !== 'pass') wrong.push(`${r.id}: ${r.result}: ${r.message}`);
    }
    expect(wrong).toEqual([]);
    // 1096 of 1171 when written; a drop means lost cases or a capability no longer carried.
    expect(report.summary.by_result.pass).toBeGreaterThanOrEqual(1080);
  }, 1_800_000);
});
