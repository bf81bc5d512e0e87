// TableBuilder writes exactly the descriptors a change needs, frees the tables it empties, and
// builds tables the format's walker reads back.
import { describe, expect, it } from 'vitest';
import { IOMMU_READ, IOMMU_WRITE } from '../formats/format.ts';
import { createFormat } from '../formats/registry.ts';
import { walkTable } from '../formats/walk.ts';
import { TableBuilder } from './table-builder.ts';
import type { TableMemory } from './table-memory.ts';

/** A TableMemory over a plain array (no protocol): frames from 0x100 up. */
function memory(): TableMemory & { frames: number } {
  const words = new Map<number, number>();
  let next = 0x100;
  const free: number[] = [];
  const m = {
    frames: 0,
    read32: (a: number) => words.get(a) ?? 0,
    write64: (a: number, lo: number, hi: number) => {
      words.set(a, lo);
      words.set(a + 4, hi);
    },
    allocFrames: (n: number) => {
      m.frames += n;
      if (n === 1 && free.length > 0) return free.pop()!;
      const f = Math.ceil(next / n) * n;
      next = f + n;
      return f;
    },
    freeFrames: (f: number, n: number) => {
      m.frames -= n;
      if (n === 1) free.push(f);
    },
  };
  return m;
}

describe('TableBuilder', () => {
  it.each([
    ['vtd-fs', {}],
    ['arm-lpae-s1', { granule: 16384, ias: 47 }],
  ] as const)('%s: leaves read back through walkTable; clearing frees every table but the root', (name, config) => {
    const f = createFormat(name, config);
    const mem = memory();
    const b = new TableBuilder(f, mem);
    const attr = { lo: 0, hi: 0 };
    f.leafAttrs(IOMMU_READ | IOMMU_WRITE, attr);
    const big = f.itemLg2[1];
    const bigUnits = 2 ** (big - f.unitLg2);
    expect(b.setLeaf(bigUnits * 3, 1, bigUnits * 9, big, attr.lo, attr.hi)).toBe('new');
    expect(b.setLeaf(bigUnits * 4 + 5, 0, 77, f.unitLg2, attr.lo, attr.hi)).toBe('new');
    // The same leaf again writes nothing.
    const writes = b.pteWrites;
    expect(b.setLeaf(bigUnits * 4 + 5, 0, 77, f.unitLg2, attr.lo, attr.hi)).toBe('none');
    expect(b.pteWrites).toBe(writes);
    expect(b.setLeaf(bigUnits * 4 + 5, 0, 78, f.unitLg2, attr.lo, attr.hi)).toBe('replaced');
    expect(b.setLeaf(bigUnits * 4 + 5, 0, 77, f.unitLg2, attr.lo, attr.hi)).toBe('replaced');
    expect(walkTable(mem, f, b.rootFrame, bigUnits * 3 + 1)).toMatchObject({ ok: true, oaUnit: bigUnits * 9 + 1, sizeLg2: big });
    expect(walkTable(mem, f, b.rootFrame, bigUnits * 4 + 5)).toMatchObject({ ok: true, oaUnit: 77, level: 0 });
    // A leaf under the block, or a block over the page table, is refused.
    expect(() => b.setLeaf(bigUnits * 3 + 1, 0, 1, f.unitLg2, attr.lo, attr.hi)).toThrow(/covers/);
    expect(() => b.setLeaf(bigUnits * 4, 1, 0, big, attr.lo, attr.hi)).toThrow(/table sits/);
    expect(() => b.clearRange(bigUnits * 3 + 1, bigUnits * 5)).toThrow(/straddles/);
    const before = b.pteWrites;
    expect(b.clearRange(bigUnits * 3, bigUnits * 5)).toBe(2);
    // Two leaves, then the pointer to each table that went empty, up to the root.
    expect(b.pteWrites - before).toBe(2 + (f.levels - 1));
    expect(b.tableCount).toBe(1);
    expect(mem.frames).toBe(f.tableFrames[f.levels - 1]);
    expect(walkTable(mem, f, b.rootFrame, bigUnits * 4 + 5)).toMatchObject({ ok: false, fault: 'not-present' });
  });
});
