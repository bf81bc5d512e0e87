/**
 * Expectations that stay honest: a line matching no case is reported, an error is never an
 * expected fail, and `ioasid expectations update` rewrites the file from a report.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runConform } from './conform.ts';
import expectations from './expectations.ts';
import { mkCase, tempDir, writeCases } from '../../conformance/runner/testing/fixtures.ts';
import { toyCatalog } from '../../conformance/runner/testing/toy-catalog.ts';
import { updateExpectations } from '../../conformance/runner/expectations-update.ts';
import { fixedReport } from '../../conformance/runner/reporters/fixed-report.ts';

let err = '';
beforeEach(() => {
  err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
});
afterEach(() => {
  vi.restoreAllMocks();
});

const deps = { loadCatalog: async () => toyCatalog };
const adapter = 'module:conformance/runner/testing/toy-adapter.ts';

describe('expectations', () => {
  it('reports a line that matches no case, and update rewrites the file until the run is green', async () => {
    const dir = tempDir();
    const cases = writeCases([
      mkCase('a/alloc', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }]),
      mkCase('a/wrong', [{ op: 'IOMMU_DESTROY', arg: { id: 9 }, errno: 'EBUSY' }]),
    ], dir);
    const file = join(dir, 'known.txt');
    writeFileSync(file, '# known problems\na/alloc fail it used to fail\na/allocc fail typo\na/skipme skip later\n');
    const run = (out: string) => runConform(['--adapter', adapter, '--cases', cases, '--report', join(dir, out), '--format', 'json', '--expectations', file, '--quiet'], deps);
    expect(await run('r1')).toBe(1);
    expect(err).toContain(`${file}:3: 'a/allocc' matches no case (did you mean a/alloc?)`);
    expect(err).toContain(`${file}:4: 'a/skipme' matches no case`);
    const r1 = JSON.parse(readFileSync(join(dir, 'r1', 'report.json'), 'utf8'));
    expect(r1.run.expectations_unmatched).toEqual([{ line: 3, pattern: 'a/allocc' }, { line: 4, pattern: 'a/skipme' }]);
    expect(r1.cases.map((c: { result: string }) => c.result)).toEqual(['unexpected pass', 'fail']);

    expect(await expectations.run(['update', join(dir, 'r1', 'report.json')])).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('# known problems\na/allocc fail typo\na/skipme skip later\na/wrong fail fail: step 0 IOMMU_DESTROY: expected EBUSY, got ENOENT\n');
    expect(err).toContain('removed (passes now): a/alloc fail it used to fail');
    expect(await run('r2')).toBe(0);
  });

  it('never lists an error or an invalid case', () => {
    const u = updateExpectations('', fixedReport);
    expect(u.added).toEqual([
      'hwpt/alloc/slow fail timeout: no answer to ioctl within 30000 ms',
      'ioas/map/crash fail crash: adapter killed by SIGSEGV (while waiting for ioctl)',
      'ioas/map/fixed-iova-overlap fail fail: step 3 (second-map) IOMMU_IOAS_MAP: expected EEXIST, got EINVAL',
    ]);
    expect(u.notListable).toEqual([{ id: 'hwpt/alloc/no-device', result: 'error' }]);
  });
});
