// Round-trip properties of the shared walker over every registered format: map → translate
// gives the same address, permissions and a leaf size that fits the mapping; unmap → not
// present; after unmapping everything only the root remains and destroy() returns every
// frame to PhysicalMemory.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../machine/physical-memory.ts';
import { IOMMU_READ, IOMMU_WRITE, PERM_R, PERM_W, type FormatConfig, type FormatName } from './format.ts';
import { PageTable } from './page-table.ts';
import { formatNames } from './registry.ts';

const RW = IOMMU_READ | IOMMU_WRITE;

/** Configs exercised per format (defaults plus the odd ones). */
const CONFIGS: Record<string, FormatConfig[]> = {
  'vtd-ss': [{}, { levels: 3 }, { levels: 5 }],
  'vtd-fs': [{}, { levels: 5 }],
  'amd-v1': [{}, { levels: 6 }, { levels: 1 }],
  'amd-v2': [{}],
  'arm-lpae-s1': [{}, { granule: 16384 }, { granule: 65536, ias: 52, oas: 52 }, { ias: 32 }],
  'arm-lpae-s2': [{}, { ias: 40, oas: 40 }, { granule: 16384, ias: 40, oas: 40 }, { granule: 65536 }],
  'riscv-sv': [{}, { levels: 4 }],
  'riscv-svx4': [{}, { levels: 4 }],
  'ppc-tce': [{}, { levels: 2, granule: 65536, ias: 40 }],
  mock: [{}],
};

function cases(): [FormatName, FormatConfig][] {
  const out: [FormatName, FormatConfig][] = [];
  for (const name of formatNames()) for (const cfg of CONFIGS[name] ?? [{}]) out.push([name, cfg]);
  return out;
}

describe.each(cases())('%s %j', (name, config) => {
  it.each([true, false])('map → translate → unmap round trip, no frame leaked (freeEmptyTables %s)', (freeEmptyTables) => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            slot: fc.integer({ min: 0, max: 63 }),
            offsetPages: fc.integer({ min: 0, max: 1100 }),
            lengthPages: fc.integer({ min: 1, max: 1100 }),
            oaPage: fc.integer({ min: 0, max: 1 << 20 }),
            cap: fc.constantFrom<number | undefined>(undefined, 0),
          }),
          { maxLength: 6 },
        ),
        (specs) => {
          const mem = new PhysicalMemory(0x100);
          const start = mem.framesInUse;
          const pt = PageTable.create(mem, name, config, { freeEmptyTables });
          const u = pt.unitLg2;
          const sizes = pt.pageSizesLg2;
          const small = sizes[0] - u; // smallest page, in units (log2)
          // Slots of 2^(small + 12) smallest pages keep mappings disjoint; the slot walks the
          // top of the IOVA space too when the range is wide enough.
          const ioUnitsLg2 = pt.format.iasLg2 - u;
          const slotLg2 = Math.min(small + 12, ioUnitsLg2);
          const nSlots = 2 ** Math.min(6, ioUnitsLg2 - slotLg2);
          const oaUnitsLg2 = pt.format.oasLg2 - u;
          const used = new Set<number>();
          const maps: { iova: number; oa: number; len: number }[] = [];
          for (const s of specs) {
            const slot = s.slot % nSlots;
            if (used.has(slot)) continue;
            used.add(slot);
            // the last slot sits at the very top of the IOVA space
            const slotBase = slot === nSlots - 1 ? 2 ** ioUnitsLg2 - 2 ** slotLg2 : slot * 2 ** slotLg2;
            const offset = (s.offsetPages * 2 ** small) % 2 ** slotLg2;
            const iova = slotBase + offset;
            const len = Math.min(s.lengthPages * 2 ** small, 2 ** slotLg2 - offset);
            // same low bits as the IOVA half of the time, so huge leaves get used
            const oaBase = (s.oaPage * 2 ** small) % 2 ** Math.min(oaUnitsLg2, 40);
            const oa = s.oaPage % 2 === 0 ? oaBase - (oaBase % 2 ** slotLg2) + (iova % 2 ** slotLg2) : oaBase;
            if (oa + len > 2 ** oaUnitsLg2) continue;
            pt.map(iova, oa, len, RW, s.cap === 0 ? { maxLeafLg2: sizes[0] } : {});
            maps.push({ iova, oa, len });
          }
          for (const m of maps) {
            for (const d of [0, m.len - 1, Math.floor(m.len / 2)]) {
              const t = pt.translate(m.iova + d);
              expect(t).not.toBeNull();
              expect(t!.oaUnit).toBe(m.oa + d);
              expect(t!.perm & (PERM_R | PERM_W)).toBe(PERM_R | PERM_W);
              expect(t!.leafIovaUnit).toBeGreaterThanOrEqual(m.iova);
              expect(t!.leafIovaUnit + 2 ** (t!.sizeLg2 - u)).toBeLessThanOrEqual(m.iova + m.len);
              expect(sizes).toContain(t!.sizeLg2);
            }
            expect(pt.translate(m.iova + m.len)).toBeNull();
          }
          for (const m of maps) {
            expect(pt.unmap(m.iova, m.len)).toBe(m.len);
            expect(pt.translate(m.iova)).toBeNull();
            expect(pt.translate(m.iova + m.len - 1)).toBeNull();
          }
          const grew = pt.levels !== (pt.format.startLevels ?? pt.format.levels);
          if (freeEmptyTables && !grew) {
            expect(pt.dump().words).toEqual([]);
            expect(pt.tableFrameCount).toBe(pt.format.tableFrames[pt.levels - 1]);
          } else {
            // generic_pt keeps tables the unmaps did not cover whole, and a grown top keeps the old
            // root linked at index 0: only table entries remain
            for (const w of pt.dump().words) expect(BigInt(w.value) === 0n).toBe(false);
            expect(mem.framesInUse - start).toBe(pt.tableFrameCount);
          }
          pt.destroy();
          expect(mem.framesInUse).toBe(start);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("'split' unmap of a sub-range keeps the rest translated", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 1, max: 64 }), (cutPage, cutLen) => {
        const mem = new PhysicalMemory(0x100);
        const pt = PageTable.create(mem, name, config);
        const u = pt.unitLg2;
        const small = pt.pageSizesLg2[0] - u;
        const big = Math.min(pt.pageSizesLg2[pt.pageSizesLg2.length - 1] - u, small + 12, pt.format.iasLg2 - u - 1);
        const len = 2 ** big;
        const iova = len; // aligned, not zero
        const oa = 3 * len;
        if (oa + len > 2 ** (pt.format.oasLg2 - u)) return;
        pt.map(iova, oa, len, RW);
        const cutStart = (cutPage * 2 ** small) % len;
        const cut = Math.min(cutLen * 2 ** small, len - cutStart);
        expect(pt.unmap(iova + cutStart, cut, { partial: 'split' })).toBe(cut);
        for (const d of [0, cutStart - 1, cutStart, cutStart + cut - 1, cutStart + cut, len - 1]) {
          if (d < 0 || d >= len) continue;
          const t = pt.translate(iova + d);
          if (d >= cutStart && d < cutStart + cut) expect(t).toBeNull();
          else expect(t?.oaUnit).toBe(oa + d);
        }
        pt.destroy();
        expect(mem.framesInUse).toBe(0);
      }),
      { numRuns: 15 },
    );
  });
});
