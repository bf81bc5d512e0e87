/**
 * x86-64 4/5-level paging walker (VT-d first stage, AMD v2 guest table), from the Intel SDM
 * paging-structure layout: P (b0) present, R/W (b1) writable — ANDed across levels, PS (b7) in
 * a PDE (2 MiB) or PDPTE (1 GiB) makes a leaf, PML4E/PML5E never leaves; address bits 51:12,
 * with bit 12 of a large-page entry being PAT rather than address. Every present entry is
 * readable. The IOVA must be canonical (sign-extended from bit ias−1) where the format says so.
 */
import { bit, bits, cfgNumber, inputOutOfRange, leaf, mask, type DumpMemory, type WalkResult } from './walk-result.ts';

export function walkX86_64(mem: DumpMemory, iova: bigint, signExtend: boolean): WalkResult {
  const levels = cfgNumber(mem.config, 'levels');
  const ias = cfgNumber(mem.config, 'ias', 9 * levels + 12);
  if (inputOutOfRange(iova, ias, signExtend)) return { fault: 'non-canonical' };
  let table = mem.root;
  let w = true;
  for (let level = levels - 1; level >= 0; level--) {
    const shift = 12 + 9 * level;
    const e = mem.read64(table + 8n * bits(iova, shift + 8, shift));
    if (!bit(e, 0)) return { fault: 'not-present' };
    w &&= bit(e, 1);
    const isLeaf = level === 0 || ((level === 1 || level === 2) && bit(e, 7));
    if (isLeaf) return leaf(bits(e, 51, 12) << 12n & ~mask(shift), shift, iova, true, w);
    table = bits(e, 51, 12) << 12n;
  }
  return { fault: 'not-present' };
}

export const walkVtdFs = (mem: DumpMemory, iova: bigint): WalkResult => walkX86_64(mem, iova, true);
export const walkAmdV2 = (mem: DumpMemory, iova: bigint): WalkResult => walkX86_64(mem, iova, mem.config.sign_extend !== false);
