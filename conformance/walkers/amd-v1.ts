/**
 * AMD-Vi host (v1) page-table walker, from the AMD IOMMU spec's PDE/PTE layout, also serving
 * the iommufd selftest mock format (the same layout with a 2 KiB granule, where the address
 * field bits 51:12 hold the address in granule units). Level n (1 = leaf table) indexes 9 IOVA
 * bits above granule + 9(n − 1); the top of a 6-level table has 7 bits. PR (b0) present;
 * NextLevel (b11:9): 0 = leaf of the level's size, 7 = leaf whose size is encoded in the
 * address (size = 2 × 2^(first zero bit of the address field), in granule units), 1..n−1 =
 * next table at that level — skipped levels' IOVA bits must be zero (AMD spec §2.2.3, from memory:
 * not re-checked against the PDF); NextLevel ≥ the current
 * level is an error. IR (b61) / IW (b62) are ANDed over the whole walk. IOVA bits above the
 * top level must be zero.
 */
import { bit, bits, cfgNumber, leaf, mask, type DumpMemory, type WalkResult } from './walk-result.ts';

function ffz(v: bigint): number {
  let n = 0;
  while ((v >> BigInt(n)) & 1n) n++;
  return n;
}

export function walkAmdV1Like(mem: DumpMemory, iova: bigint, granuleLg2: number): WalkResult {
  const levels = cfgNumber(mem.config, 'levels');
  const shiftOf = (n: number) => granuleLg2 + 9 * (n - 1);
  const topBits = shiftOf(levels) + 9;
  if (topBits < 64 && iova >> BigInt(topBits) !== 0n) return { fault: 'input-range' };
  let table = mem.root;
  let level = levels;
  let r = true;
  let w = true;
  for (;;) {
    const shift = shiftOf(level);
    const e = mem.read64(table + 8n * bits(iova, Math.min(shift + 8, 63), shift));
    if (!bit(e, 0)) return { fault: 'not-present' };
    r &&= bit(e, 61);
    w &&= bit(e, 62);
    const field = bits(e, 51, 12);
    const next = Number(bits(e, 11, 9));
    if (next === 0) return leaf(field << BigInt(granuleLg2), shift, iova, r, w);
    if (next === 7) {
      const sizeLg2 = granuleLg2 + ffz(field) + 1;
      return leaf((field << BigInt(granuleLg2)) & ~mask(sizeLg2), sizeLg2, iova, r, w);
    }
    if (next >= level) return { fault: 'bad-next-level' };
    // Skipped levels: their IOVA index bits must be zero.
    if (next < level - 1 && bits(iova, shift - 1, shiftOf(next + 1)) !== 0n) return { fault: 'skipped-level-bits' };
    table = field << BigInt(granuleLg2);
    level = next;
  }
}

export const walkAmdV1 = (mem: DumpMemory, iova: bigint): WalkResult => walkAmdV1Like(mem, iova, 12);
/** The selftest mock: AMDv1 with a 2 KiB granule. */
export const walkMock = (mem: DumpMemory, iova: bigint): WalkResult => walkAmdV1Like(mem, iova, Math.log2(cfgNumber(mem.config, 'granule', 2048)));
