/**
 * PowerPC TCE table walker, from the IODA2 / PAPR TCE layout: one fixed page size per table
 * (config.granule), entries are big-endian 64-bit words (the dump gives them read as
 * little-endian, so we byte-swap), TCE = RPN·pagesize | W (b1) | R (b0), 0 = invalid. The index
 * is the IOVA's page number inside the window [0, 2^ias); with config.levels > 1 the index is
 * split into equal fields from the top, each level's table holding 2^(levelShift − 3) entries,
 * levelShift = max(ceil(entries_shift / levels) + 3, 12), and an intermediate TCE is the next
 * table's address | R | W. Output addresses up to bit 51.
 */
import { bit, cfgNumber, leaf, mask, type DumpMemory, type WalkResult } from './walk-result.ts';

export function byteSwap64(v: bigint): bigint {
  let out = 0n;
  for (let i = 0; i < 8; i++) out = (out << 8n) | ((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

export function walkPpcTce(mem: DumpMemory, iova: bigint): WalkResult {
  const pageLg2 = Math.log2(cfgNumber(mem.config, 'granule'));
  const levels = cfgNumber(mem.config, 'levels', 1);
  const ias = cfgNumber(mem.config, 'ias');
  const swap = mem.config.big_endian !== false;
  if (iova >> BigInt(ias) !== 0n) return { fault: 'out-of-window' };
  const entriesShift = ias - pageLg2;
  const levelBits = levels === 1 ? entriesShift : Math.max(Math.ceil(entriesShift / levels) + 3, 12) - 3;
  const index = iova >> BigInt(pageLg2);
  let table = mem.root;
  for (let level = levels - 1; level >= 0; level--) {
    const idx = (index >> BigInt(level * levelBits)) & mask(levelBits);
    const raw = mem.read64(table + 8n * idx);
    const tce = swap ? byteSwap64(raw) : raw;
    const r = bit(tce, 0);
    const w = bit(tce, 1);
    if (!r && !w) return { fault: 'invalid-tce' };
    const addr = tce & mask(52) & ~mask(pageLg2);
    if (level === 0) return leaf(addr, pageLg2, iova, r, w);
    table = tce & mask(52) & ~0xfffn;
  }
  return { fault: 'invalid-tce' };
}
