/**
 * Intel VT-d second-stage walker, from the VT-d spec's SS-paging-entry layout: 4 KiB tables
 * of 512 entries, 9 IOVA bits per level above bit 12; an entry is present iff R (b0) or W (b1)
 * is set (there is no P bit); PS (b7) makes a PDE (2 MiB) or PDPTE (1 GiB) a leaf; the address
 * is bits 51:12. R and W must hold at every level of the walk (access rights are the AND of the
 * levels). The input must lie below 2^ias (no sign extension for second stage).
 */
import { bit, bits, cfgNumber, inputOutOfRange, leaf, type Walker } from './walk-result.ts';

export const walkVtdSs: Walker = (mem, iova) => {
  const levels = cfgNumber(mem.config, 'levels');
  const ias = cfgNumber(mem.config, 'ias', 9 * levels + 12);
  if (inputOutOfRange(iova, ias, false)) return { fault: 'input-range' };
  let table = mem.root;
  let r = true;
  let w = true;
  for (let level = levels - 1; level >= 0; level--) {
    const shift = 12 + 9 * level;
    const e = mem.read64(table + 8n * bits(iova, shift + 8, shift));
    if (!bit(e, 0) && !bit(e, 1)) return { fault: 'not-present' };
    r &&= bit(e, 0);
    w &&= bit(e, 1);
    const addr = bits(e, 51, 12) << 12n;
    if (level === 0 || ((level === 1 || level === 2) && bit(e, 7))) return leaf(addr, shift, iova, r, w);
    table = addr;
  }
  return { fault: 'not-present' };
};
