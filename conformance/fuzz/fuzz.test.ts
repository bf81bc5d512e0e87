/**
 * The differential fuzzer. With a seeded bug on one side it must find the difference, shrink it
 * to a minimal sequence and write a case file that loads, passes on the reference and fails on
 * the buggy side. Then the CI run proper: the reference (with its invariant checker) against
 * the independent Python adapter over stdio, a fixed seed and a ~15 s budget: no difference, no
 * invariant break, no leak. Longer runs: `npm run fuzz -- --seconds N`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Adapter, IoctlParams, IoctlResult } from '../../schemas/lib/adapter.ts';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { createReferenceAdapter } from '../../reference/adapter.ts';
import { REPO_ROOT } from '../runner/case-loader.ts';
import { startStdio } from '../runner/stdio.ts';
import { byId, runCases, tempDir } from '../runner/testing/fixtures.ts';
import type { GoldenCase } from '../runner/types.ts';
import { fuzz } from './fuzz.ts';

const catalog = getCatalog();
const hasPython = spawnSync('python3', ['--version']).status === 0;
const PYTHON = `python3 '${join(REPO_ROOT, 'conformance', 'adapters', 'python', 'ioas_adapter.py')}'`;

/** The reference with one seeded bug: IOMMU_IOAS_COPY of exactly 0x3000 bytes answers EINVAL. */
function buggyCopy(): Adapter {
  const ad = createReferenceAdapter();
  const ioctl = ad.ioctl.bind(ad);
  ad.ioctl = async (p: IoctlParams): Promise<IoctlResult> => {
    const len = (p.arg as { length?: number | string | bigint } | undefined)?.length;
    if (p.cmd === 'IOMMU_IOAS_COPY' && len !== undefined && BigInt(len) === 0x3000n) return { errno: 'EINVAL' } as IoctlResult;
    return ioctl(p);
  };
  return ad;
}

describe('differential fuzzing', () => {
  it('finds a seeded difference, shrinks it to one step and writes a case that tells the sides apart', async () => {
    const out = tempDir('ioasid-fuzz-');
    const figures = await fuzz({
      sides: [{ name: 'reference', adapter: createReferenceAdapter() }, { name: 'buggy', adapter: buggyCopy() }],
      catalog, seed: 7, budgetMs: 20_000, outDir: out, maxFindings: 1,
    });
    expect(figures.findings).toHaveLength(1);
    const f = figures.findings[0];
    expect(f.kind).toBe('errno');
    expect(f.message).toMatch(/IOMMU_IOAS_COPY: reference E[A-Z]+, buggy EINVAL/);
    // Nothing before the COPY is needed to tell the sides apart: the shrunk sequence is the COPY alone.
    expect(f.steps).toBe(1);
    const written = JSON.parse(readFileSync(f.file!, 'utf8')) as GoldenCase;
    expect(written.steps.map((s) => s.op)).toEqual(['IOMMU_IOAS_COPY']);
    expect(written.note).toMatch(/check them against Linux/);
    const onReference = await runCases([written], () => createReferenceAdapter(), { catalog });
    expect(byId(onReference, written.id).result).toBe('pass');
    const onBuggy = await runCases([written], buggyCopy, { catalog });
    expect(byId(onBuggy, written.id).result).toBe('fail');
  }, 40_000);

  it.skipIf(!hasPython)('the reference and the Python adapter agree on random sequences (fixed seed, ~15 s)', async () => {
    const py = startStdio(PYTHON);
    try {
      await py.hello({ protocol: 1 } as never);
      const ref = createReferenceAdapter(catalog, { checkInvariants: true });
      await ref.hello({ protocol: 1 } as never);
      const figures = await fuzz({ sides: [{ name: 'reference', adapter: ref }, { name: 'python', adapter: py }], catalog, seed: 20261204, budgetMs: 15_000 });
      expect(figures.findings.map((f) => f.message)).toEqual([]);
      // A run that tried almost nothing proves nothing (the machine is shared: a low bar).
      expect(figures.sequences).toBeGreaterThan(50);
      expect(figures.steps).toBeGreaterThan(500);
    } finally {
      await py.dispose();
    }
  }, 60_000);
});
