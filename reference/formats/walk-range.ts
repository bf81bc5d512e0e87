/**
 * A range walk of a table that lies in memory someone else wrote (a guest's stage-1 table, a
 * VMM's shadow): every leaf overlapping [startUnit, endUnit) in ascending IOVA order, and every
 * table the walk reads, as a hardware walker would find them — walkTable's rules (the codec
 * decides empty/table/leaf; table pointers go through `tableFrame`, e.g. stage 2), once per
 * entry instead of once per IOVA. A leaf that straddles the range is reported whole.
 *
 * Invariants: reads only; IOVAs are units of 2^format.unitLg2 relative to format.iovaBaseUnit;
 * a table whose pointer does not translate is reported through `fault` and skipped.
 */

import { ENTRY_EMPTY, ENTRY_TABLE, type EntryWords, type PtFormat } from './format.ts';
import { readEntryWords, type WordReader } from './walk.ts';

const scratch: EntryWords = { lo: 0, hi: 0 };

export interface RangeVisitor {
  /** A leaf: its first IOVA unit, its OA unit, size, level, and the descriptor (logical halves) at `entryAddr`. */
  leaf(iovaUnit: number, oaUnit: number, sizeLg2: number, level: number, lo: number, hi: number, entryAddr: number): void;
  /**
   * A table read at `level` covering IOVA from `iovaUnit`: its pointer frame (as written), the
   * frame read, and the descriptor that pointed at it (0, 0 for the root). Calls come in walk
   * order (depth first), so a visitor can keep per-level state such as inherited permissions.
   */
  table?(pointerFrame: number, readFrame: number, level: number, iovaUnit: number, viaLo: number, viaHi: number): void;
  /** A table pointer that `tableFrame` could not translate. */
  fault?(pointerFrame: number, level: number, iovaUnit: number): void;
}


export function walkRange(
  mem: WordReader,
  format: PtFormat,
  rootFrame: number,
  startUnit: number,
  endUnit: number,
  visit: RangeVisitor,
  levels = format.levels,
  tableFrame: (frame: number) => number | null = (frame) => frame,
): void {
  const u = format.unitLg2;
  const top = levels - 1;
  const base = format.iovaBaseUnit ?? 0;
  const cover = Math.min(2 ** (format.iasLg2 - u), 2 ** (format.itemLg2[top] + format.indexBits[top] - u));
  const lo = Math.max(0, startUnit - base);
  const hi = Math.min(cover, endUnit - base);
  if (lo >= hi) return;

  const descend = (pointer: number, level: number, tableBase: number, viaLo: number, viaHi: number): void => {
    const frame = tableFrame(pointer);
    if (frame === null) {
      visit.fault?.(pointer, level, tableBase + base);
      return;
    }
    visit.table?.(pointer, frame, level, tableBase + base, viaLo, viaHi);
    const itemUnits = 2 ** (format.itemLg2[level] - u);
    const entries = 2 ** format.indexBits[level];
    const first = Math.max(0, Math.floor((lo - tableBase) / itemUnits));
    const last = Math.min(entries - 1, Math.floor((hi - 1 - tableBase) / itemUnits));
    for (let i = first; i <= last; i++) {
      const addr = frame * 4096 + i * 8;
      readEntryWords(mem, addr, format.bigEndian === true, scratch);
      const dLo = scratch.lo;
      const dHi = scratch.hi;
      const kind = format.kind(level, dLo, dHi);
      if (kind === ENTRY_EMPTY) continue;
      const itemBase = tableBase + i * itemUnits;
      if (kind === ENTRY_TABLE) {
        if (level > 0) descend(format.tablePfn(level, dLo, dHi), level - 1, itemBase, dLo, dHi);
        continue;
      }
      const sizeLg2 = format.leafSizeLg2(level, dLo, dHi);
      const leafUnits = 2 ** (sizeLg2 - u);
      // A contiguous leaf repeats in every item it covers: report it once, at its first item.
      const leafBase = itemBase - (itemBase % leafUnits);
      if (leafBase !== itemBase && leafBase >= Math.max(lo, tableBase)) continue;
      visit.leaf(leafBase + base, format.leafOaUnit(level, dLo, dHi), sizeLg2, level, dLo, dHi, addr);
    }
  };
  descend(rootFrame, top, 0, 0, 0);
}
