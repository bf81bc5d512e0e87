// walkRange reports the leaves walkTable finds, once each and whole, and the tables it reads.
import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../machine/physical-memory.ts';
import { IOMMU_READ, IOMMU_WRITE } from './format.ts';
import { PageTable } from './page-table.ts';
import { walkRange } from './walk-range.ts';
import { walkTable } from './walk.ts';

describe('walkRange', () => {
  it.each(['vtd-fs', 'arm-lpae-s1', 'amd-v1', 'riscv-sv'] as const)('%s: the leaves of a range are the ones walkTable finds', (name) => {
    const mem = new PhysicalMemory(0x400);
    const pt = PageTable.create(mem, name, {});
    const u = pt.unitLg2;
    const huge = pt.pageSizesLg2.find((s) => s > u)!;
    const hugeUnits = 2 ** (huge - u);
    pt.map(hugeUnits * 4, hugeUnits * 8, hugeUnits, IOMMU_READ | IOMMU_WRITE, { maxLeafLg2: huge });
    pt.map(hugeUnits * 5 + 3, 7, 2, IOMMU_READ);
    const seen: Array<[number, number, number]> = [];
    let tables = 0;
    walkRange(mem, pt.format, pt.rootPfn, hugeUnits * 4 + 1, hugeUnits * 5 + 5, { leaf: (iova, oa, size) => seen.push([iova, oa, size]), table: () => tables++ }, pt.levels);
    // The huge leaf is reported whole although the range starts inside it; the two pages follow.
    expect(seen).toEqual([
      [hugeUnits * 4, hugeUnits * 8, huge],
      [hugeUnits * 5 + 3, 7, u],
      [hugeUnits * 5 + 4, 8, u],
    ]);
    for (const [iova, oa] of seen) expect(walkTable(mem, pt.format, pt.rootPfn, iova, pt.levels)).toMatchObject({ ok: true, oaUnit: oa });
    expect(tables).toBeGreaterThanOrEqual(pt.levels);
  });

  it('reports a table pointer the stage-2 hook cannot translate as a fault', () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'vtd-fs', {});
    pt.map(0x10, 0x7, 1, IOMMU_READ);
    const faults: number[] = [];
    const leaves: number[] = [];
    walkRange(mem, pt.format, pt.rootPfn, 0, 0x100, { leaf: (iova) => leaves.push(iova), fault: (_p, level) => faults.push(level) }, 4, (f) => (f === pt.rootPfn ? f : null));
    expect(leaves).toEqual([]);
    expect(faults).toEqual([2]);
  });
});
