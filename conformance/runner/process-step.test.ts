import type { GoldenCase } from './types.ts';
import { describe, expect, it } from 'vitest';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { effectiveRequires } from './case-loader.ts';
import { compileStep } from './compiler.ts';
import { CaseError } from './expression.ts';

describe('a step run as another process (step.process → protocol pid)', () => {
  const caps = new Map<string, unknown>([['child', 101], ['ioas', 1]]);

  it('compiles into pid on ioctls and hooks, and leaves it out otherwise', () => {
    const ioctl = compileStep(getCatalog(), { op: 'IOMMU_IOAS_ALLOC', process: '$child' }, caps);
    expect(ioctl.pid).toBe(101);
    const hook = compileStep(getCatalog(), { op: 'ACCOUNTING', process: '$child' }, caps);
    expect(hook.pid).toBe(101);
    expect(compileStep(getCatalog(), { op: 'ACCOUNTING' }, caps).pid).toBeUndefined();
  });

  it('CLOSE takes no process; an uncaptured pid is a case error', () => {
    expect(() => compileStep(getCatalog(), { op: 'CLOSE', process: '$child' }, caps)).toThrow(CaseError);
    expect(() => compileStep(getCatalog(), { op: 'ACCOUNTING', process: '$nobody' }, caps)).toThrow(CaseError);
  });

  it('a case with such a step needs test:process', () => {
    const c: GoldenCase = { id: 'x/y', title: 't', clauses: ['A-1'], steps: [{ op: 'IOMMU_IOAS_ALLOC', process: '$child' }] };
    expect(effectiveRequires(c)).toContain('test:process');
    expect(effectiveRequires({ ...c, steps: [{ op: 'IOMMU_IOAS_ALLOC' }] })).not.toContain('test:process');
  });
});
