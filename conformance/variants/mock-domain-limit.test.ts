/**
 * The `.mock-domain-limit` cases are generated (mock-domain-limit.ts): each must be exactly the
 * derivation of its `.mock-domain` sibling, and none may exist without one.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CaseJson } from './mock-domain-limit.ts';
import { caseFiles, deriveMockDomainLimit, derivedFiles, MOCK_DOMAIN_LIMIT_BYTES } from './mock-domain-limit.ts';

const casesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'cases');

describe('mock_domain_limit variant', () => {
  const derived = derivedFiles(casesDir);

  it('every .mock-domain-limit case is the derivation of its .mock-domain case (run mock-domain-limit.ts to refresh)', () => {
    expect(derived.size).toBeGreaterThan(90);
    const stale = [...derived].filter(([path, text]) => {
      try {
        return readFileSync(path, 'utf8') !== text;
      } catch {
        return true;
      }
    });
    expect(stale.map(([p]) => p)).toEqual([]);
  });

  it('no .mock-domain-limit case lacks its source', () => {
    const orphans = caseFiles(casesDir).filter((p) => p.endsWith('.mock-domain-limit.json') && !derived.has(p));
    expect(orphans).toEqual([]);
  });

  it('sets the limit right after the IOAS is allocated, as the fixture does', () => {
    const c: CaseJson = {
      id: 'x/y.mock-domain', title: 't', clauses: ['A-1'], source: 'iommufd_ioas.mock_domain.t',
      steps: [{ op: 'MMAP' }, { op: 'IOMMU_IOAS_ALLOC' }, { op: 'VFIO_DEVICE_BIND_IOMMUFD' }],
    };
    const d = deriveMockDomainLimit(c);
    expect(d.id).toBe('x/y.mock-domain-limit');
    expect(d.source).toBe('iommufd_ioas.mock_domain_limit.t');
    expect(d.steps.map((s) => s.op)).toEqual(['MMAP', 'IOMMU_IOAS_ALLOC', 'SET_TEMP_MEMORY_LIMIT', 'VFIO_DEVICE_BIND_IOMMUFD']);
    expect(d.steps[2]).toEqual({ op: 'SET_TEMP_MEMORY_LIMIT', arg: { limit: MOCK_DOMAIN_LIMIT_BYTES } });
    expect(d.requires).toContain('test:temp-memory-limit');
    expect(() => deriveMockDomainLimit({ ...c, id: 'x/y.no-domain' })).toThrow(/not a .mock-domain port/);
  });
});
