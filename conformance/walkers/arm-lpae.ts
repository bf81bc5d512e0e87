/**
 * Arm VMSAv8-64 long-descriptor walker (SMMUv3 stage 1 and stage 2), from the Arm ARM
 * translation-table descriptor formats: granule g = log2(config.granule), g−3 index bits per
 * level, level shift = g + (3 − l)(g − 3), start level = 4 − levels. bits[1:0]: x0 invalid,
 * 11 table (levels < 3) or page (level 3), 01 block (levels 1–2; reserved at level 3 and at
 * level 0 without LPA2 → fault). Output address bits 47:g (52-bit OA packing not handled:
 * config.oas > 48 is refused). AF (b10) = 0 is an Access fault. Stage 1: AP[2] (b7) = read-only,
 * APTable[1] (b62) in a table removes write below it; with hardware dirty update (CD.HD = 1,
 * config.hd, which the reference puts in the dump) a DBM (b51) descriptor is writable even when
 * AP[2] = 1 ("writable-clean": the SMMU clears AP[2] on the write instead of faulting). Stage 2: S2AP b6 = read, b7 = write.
 * Stage 2 may start with config.concat concatenated tables: the start index then has
 * log2(concat) extra bits.
 */
import { bit, bits, cfgNumber, inputOutOfRange, leaf, type DumpMemory, type WalkResult } from './walk-result.ts';

export function walkArmLpae(mem: DumpMemory, iova: bigint, stage: 1 | 2): WalkResult {
  const granuleLg2 = Math.log2(cfgNumber(mem.config, 'granule'));
  const levels = cfgNumber(mem.config, 'levels');
  const ias = cfgNumber(mem.config, 'ias');
  const oas = cfgNumber(mem.config, 'oas');
  const concat = cfgNumber(mem.config, 'concat', 1);
  const hardwareDirty = mem.config.hd === true;
  if (oas > 48) throw new Error('arm-lpae walker: 52-bit output addresses not implemented');
  if (inputOutOfRange(iova, ias, false)) return { fault: 'translation' };
  const stride = granuleLg2 - 3;
  const shiftOf = (l: number) => granuleLg2 + (3 - l) * stride;
  const start = 4 - levels;
  let table = mem.root;
  let writeAllowed = true;
  for (let l = start; l <= 3; l++) {
    const shift = shiftOf(l);
    const idxBits = l === start ? ias - shift : stride;
    const maxIdxBits = l === start ? stride + Math.log2(concat) : stride;
    if (idxBits > maxIdxBits) throw new Error('arm-lpae walker: start table too small for ias');
    const e = mem.read64(table + 8n * bits(iova, shift + idxBits - 1, shift));
    if (!bit(e, 0)) return { fault: 'translation' };
    const oa = bits(e, 47, granuleLg2) << BigInt(granuleLg2);
    if (bit(e, 1) && l < 3) {
      if (stage === 1 && bit(e, 62)) writeAllowed = false;
      table = oa;
      continue;
    }
    if (!bit(e, 1) && (l === 3 || l === 0)) return { fault: 'translation' };
    if (!bit(e, 10)) return { fault: 'access-flag' };
    if (stage === 1) return leaf(oa, shift, iova, true, writeAllowed && (!bit(e, 7) || (hardwareDirty && bit(e, 51))));
    return leaf(oa, shift, iova, bit(e, 6), bit(e, 7));
  }
  return { fault: 'translation' };
}

export const walkArmLpaeS1 = (mem: DumpMemory, iova: bigint): WalkResult => walkArmLpae(mem, iova, 1);
export const walkArmLpaeS2 = (mem: DumpMemory, iova: bigint): WalkResult => walkArmLpae(mem, iova, 2);
