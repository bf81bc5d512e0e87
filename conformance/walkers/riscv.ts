/**
 * RISC-V Sv39/48/57 (first stage) and Sv39x4/48x4/57x4 (G-stage) walker, from the RISC-V
 * privileged spec's PTE and the IOMMU spec: 9 index bits per level above bit 12 (the x4 root
 * has 11 bits, 2048 entries); V (b0); R/W/X (b1–3) — any set makes a leaf, W without R is
 * reserved; PPN bits 53:10 (address = PPN << 12); a superpage whose low PPN fields are not zero
 * is misaligned (page fault); A (b6) = 0 faults (no hardware A/D assumed); G-stage leaves need
 * U (b4). Svnapot: N (b63) on a level-0 leaf with PPN[3:0] = 1000b is a 64 KiB page. First-stage
 * inputs are sign-extended from bit ias−1, G-stage inputs zero-extended.
 */
import { bit, bits, cfgNumber, inputOutOfRange, leaf, mask, type DumpMemory, type WalkResult } from './walk-result.ts';

export function walkRiscv(mem: DumpMemory, iova: bigint, gStage: boolean): WalkResult {
  const levels = cfgNumber(mem.config, 'levels');
  const ias = cfgNumber(mem.config, 'ias', 9 * levels + 12 + (gStage ? 2 : 0));
  if (inputOutOfRange(iova, ias, !gStage)) return { fault: 'page-fault' };
  let table = mem.root;
  for (let level = levels - 1; level >= 0; level--) {
    const shift = 12 + 9 * level;
    const idxBits = gStage && level === levels - 1 ? 11 : 9;
    const e = mem.read64(table + 8n * bits(iova, shift + idxBits - 1, shift));
    if (!bit(e, 0)) return { fault: 'page-fault' };
    const r = bit(e, 1);
    const w = bit(e, 2);
    const x = bit(e, 3);
    const ppn = bits(e, 53, 10);
    if (!r && !w && !x) {
      if (level === 0) return { fault: 'page-fault' };
      table = ppn << 12n;
      continue;
    }
    if (w && !r) return { fault: 'page-fault' };
    if (!bit(e, 6)) return { fault: 'page-fault' };
    if (gStage && !bit(e, 4)) return { fault: 'page-fault' };
    if (bit(e, 63)) {
      if (level !== 0 || bits(ppn, 3, 0) !== 8n) return { fault: 'page-fault' };
      return leaf((ppn & ~0xfn) << 12n, 16, iova, r, w);
    }
    if ((ppn & mask(9 * level)) !== 0n) return { fault: 'misaligned-superpage' };
    return leaf(ppn << 12n, shift, iova, r, w);
  }
  return { fault: 'page-fault' };
}

export const walkRiscvSv = (mem: DumpMemory, iova: bigint): WalkResult => walkRiscv(mem, iova, false);
export const walkRiscvSvx4 = (mem: DumpMemory, iova: bigint): WalkResult => walkRiscv(mem, iova, true);
