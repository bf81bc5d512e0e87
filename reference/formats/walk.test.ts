// walkTable agrees with PageTable.translate on every format, reports the faulting level, and
// walks a stage-1 table whose pointers are intermediate addresses through a stage-2 hook.
import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../machine/physical-memory.ts';
import { IOMMU_READ, IOMMU_WRITE, PERM_R, PERM_W } from './format.ts';
import { PageTable } from './page-table.ts';
import { formatNames } from './registry.ts';
import { walkTable } from './walk.ts';

const RW = IOMMU_READ | IOMMU_WRITE;

describe('walkTable', () => {
  it.each(formatNames())('%s: same answer as translate, faults at the right level', (name) => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, name, {});
    const small = 2 ** (pt.pageSizesLg2[0] - pt.unitLg2);
    const base = pt.iovaBaseUnit + 64 * small;
    pt.map(base, 128 * small, 8 * small, RW);
    for (const d of [0, small, 8 * small - 1]) {
      const t = pt.translate(base + d)!;
      const w = walkTable(mem, pt.format, pt.rootPfn, base + d, pt.levels);
      expect(w).toMatchObject({ ok: true, oaUnit: t.oaUnit, sizeLg2: t.sizeLg2, perm: t.perm, level: t.level, entryAddr: t.entryAddr });
    }
    expect(walkTable(mem, pt.format, pt.rootPfn, base + 8 * small, pt.levels)).toEqual({ ok: false, fault: 'not-present', level: 0 });
    pt.destroy();
  });

  it('nested: stage-1 (vtd-fs) pointers are GPAs, translated through a stage-2 (vtd-ss) table', () => {
    const mem = new PhysicalMemory(0x100);
    const s1 = PageTable.create(mem, 'vtd-fs', {});
    s1.map(0x10, 0x7, 1, RW); // IOVA 0x10000 → GPA 0x7000
    // Pretend the guest's frames sit at GPA frame = host frame + 0x1000; stage 2 undoes it.
    const s2 = PageTable.create(mem, 'vtd-ss', {});
    for (let f = 0x100; f < 0x110; f++) s2.map(f + 0x1000, f, 1, RW);
    // Rewrite the stage-1 table pointers as GPAs (what a guest would have written).
    const t = s1.translate(0x10)!;
    for (const w of s1.dump().words) {
      if (Number(BigInt(w.addr)) === t.entryAddr) continue;
      const v = BigInt(w.value) + (0x1000n << 12n);
      mem.write64(Number(BigInt(w.addr)), Number(v & 0xffffffffn), Number(v >> 32n));
    }
    const viaS2 = (gfn: number): number | null => s2.translate(gfn)?.oaUnit ?? null;
    const r = walkTable(mem, s1.format, s1.rootPfn + 0x1000, 0x10, 4, viaS2);
    expect(r).toMatchObject({ ok: true, oaUnit: 0x7, perm: PERM_R | PERM_W | 4, level: 0 });
    // A stage-2 hole under the stage-1 PDPT is a table-fetch fault at level 2.
    s2.unmap(0x101 + 0x1000, 1);
    expect(walkTable(mem, s1.format, s1.rootPfn + 0x1000, 0x10, 4, viaS2)).toEqual({ ok: false, fault: 'table-fetch', level: 2 });
  });
});

describe('walkTable visitor and per-entry stage-2 frames', () => {
  it('sees every present entry root first, and stops the walk where it says reserved', () => {
    const mem = new PhysicalMemory(0x100);
    const pt = PageTable.create(mem, 'vtd-fs', {});
    pt.map(0x10, 0x7, 1, RW);
    const seen: number[] = [];
    const ok = walkTable(mem, pt.format, pt.rootPfn, 0x10, 4, undefined, (level) => (seen.push(level), true));
    expect(ok.ok).toBe(true);
    expect(seen).toEqual([3, 2, 1, 0]);
    expect(walkTable(mem, pt.format, pt.rootPfn, 0x10, 4, undefined, (level) => level !== 1)).toEqual({ ok: false, fault: 'reserved', level: 1 });
  });

  it('an entry past the first 4 KiB of a larger table is read from its own stage-2 frame', () => {
    const mem = new PhysicalMemory(0x100);
    // ARM 64 KiB granule: a table is 16 frames; root index 600 lies in the root's second frame.
    const pt = PageTable.create(mem, 'arm-lpae-s1', { granule: 65536, ias: 42, levels: 2 });
    const unit = 600 * 2 ** 13;
    pt.map(unit, 0x55, 1, RW);
    // Stage 2 moves that one frame elsewhere: the walk must ask for it by its own number.
    const moved = mem.allocFrames(1);
    mem.copyFrame(pt.rootPfn + 1, moved);
    mem.write64((pt.rootPfn + 1) * 4096 + (600 * 8) % 4096, 0, 0);
    const hook = (gfn: number): number | null => (gfn === pt.rootPfn + 1 ? moved : gfn);
    expect(walkTable(mem, pt.format, pt.rootPfn, unit, pt.levels, hook)).toMatchObject({ ok: true, oaUnit: 0x55 });
    expect(walkTable(mem, pt.format, pt.rootPfn, unit, pt.levels)).toMatchObject({ ok: false, fault: 'not-present', level: 1 });
  });
});
