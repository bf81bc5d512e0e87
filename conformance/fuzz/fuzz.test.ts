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
import { runDifferential } from './differential.ts';
import { fuzz } from './fuzz.ts';
import type { Command } from './sequence.ts';

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

  /** The minimal sequences of the differences the fuzzer found, each fixed on the side Linux proved wrong. */
  const FOUND: Record<string, Command[]> = {
    // seed 100: ACCESS_RW over an area whose user memory is unmapped, then a gap: Linux copies the
    // area first (EFAULT) before the walk ends short (ENOENT); the reference said ENOENT.
    'access rw faults before the gap': [
      { k: 'ioas_alloc' },
      { k: 'create_access', ioas: { kind: 'ioas', idx: 0 }, flags: 0 },
      { k: 'map', ioas: { kind: 'ioas', idx: 0 }, buf: 0, offPages: 0, offBytes: 0, len: 4, iova: 1, flags: 7 },
      { k: 'access_rw', access: { kind: 'access', idx: 0 }, iova: 4, lenBytes: 0x1800, write: false },
    ],
    // seed 102: two areas over one user page, then a domain: 2 distinct frames are pinned (one
    // twice); the Python adapter's STATE counted 3.
    'pinned frames are distinct frames': [
      { k: 'mmap', pages: 2 },
      { k: 'ioas_alloc' },
      { k: 'map', ioas: { kind: 'ioas', idx: 0 }, buf: 0, offPages: 0, offBytes: 0, len: 1, iova: 0, flags: 7 },
      { k: 'bind', dev: 0 },
      { k: 'map', ioas: { kind: 'ioas', idx: 0 }, buf: 0, offPages: 0, offBytes: 0, len: 2, iova: 10, flags: 7 },
      { k: 'hwpt_alloc', dev: { kind: 'device', idx: 0 }, pt: { kind: 'ioas', idx: 0 } },
      { k: 'check_refs', buf: 0 },
    ],
  };

  it.skipIf(!hasPython)('the differences found so far stay fixed on both sides', async () => {
    const py = startStdio(PYTHON);
    try {
      await py.hello({ protocol: 1 } as never);
      const ref = createReferenceAdapter(catalog, { checkInvariants: true });
      for (const [what, commands] of Object.entries(FOUND)) {
        const r = await runDifferential(commands, [{ name: 'reference', adapter: ref }, { name: 'python', adapter: py }], catalog);
        expect(r.finding?.message ?? null, what).toBeNull();
        expect(r.steps, what).toBe(commands.length);
      }
    } finally {
      await py.dispose();
    }
  }, 30_000);

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
