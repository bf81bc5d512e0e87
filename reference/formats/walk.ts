/**
 * A one-shot walk of a table that lies in PhysicalMemory, as IOMMU hardware does it: from a
 * root frame and a level count, no PageTable object needed (a table written by someone else —
 * a guest's stage-1 table, a table after a dynamic-top change). For nesting, every table
 * pointer of a stage-1 walk, the root included, is an intermediate (guest-physical) address:
 * `tableFrame` turns it into a host frame through stage 2, or says the stage-2 walk faulted.
 * The final OA of a stage-1 walk is likewise still intermediate; the caller runs stage 2 on it.
 *
 * Invariants: reads only (A/D updates are PageTable.markAccess's job, or for a user-owned
 * stage 1 the nested walk's, reference/iommufd/nested-walk.ts); allocates only the result
 * object; the codec decides presence and leaf/table (format.kind). An optional `visit` sees
 * every present entry the walk reads (its level, host address and halves) before the walk
 * uses it and may stop the walk there (`reserved`): that is how a model checks the reserved
 * bits of its architecture and how a nested walk learns the entries whose A bits it sets.
 */

import type { PhysicalMemory } from '../machine/physical-memory.ts';
import { bswap32, ENTRY_EMPTY, ENTRY_TABLE, type EntryWords, type PtFormat } from './format.ts';

/** What a walk reads: aligned 32-bit words by byte address (PhysicalMemory, or a VMM's view of guest memory). */
export type WordReader = Pick<PhysicalMemory, 'read32'>;

export type WalkResult =
  | { ok: true; oaUnit: number; leafOaUnit: number; sizeLg2: number; perm: number; level: number; entryAddr: number; lo: number; hi: number }
  | { ok: false; fault: 'not-present' | 'table-fetch' | 'out-of-range' | 'reserved'; level: number };

/** Sees one present entry of a walk; returning false stops the walk with a `reserved` fault. */
export type WalkVisitor = (level: number, entryAddr: number, lo: number, hi: number) => boolean;



/**
 * The descriptor at `addr` in the format's logical order (lo = bits 31:0): a big-endian format's
 * two words are swapped as hardware reads them. Fills the caller's scratch, allocates nothing.
 */
export function readEntryWords(mem: WordReader, addr: number, bigEndian: boolean, out: EntryWords): void {
  const a = mem.read32(addr);
  const b = mem.read32(addr + 4);
  out.lo = bigEndian ? bswap32(b) : a;
  out.hi = bigEndian ? bswap32(a) : b;
}

const scratch: EntryWords = { lo: 0, hi: 0 };

/**
 * Walks `iovaUnit` (units of 2^format.unitLg2, relative to format.iovaBaseUnit) from the table
 * at `rootFrame` with `levels` levels (default: the format's). `tableFrame` maps the frame
 * number (4 KiB units, intermediate for a nested stage 1) of each table entry the walk reads to
 * the host frame to read, or null for a fault.
 * `visit` (optional) is called on every present entry, root first. `rootOffsetBytes` places a
 * root smaller than 4 KiB inside its frame.
 */
export function walkTable(
  mem: WordReader,
  format: PtFormat,
  rootFrame: number,
  iovaUnit: number,
  levels = format.levels,
  tableFrame: (frame: number) => number | null = (frame) => frame,
  visit?: WalkVisitor,
  /** Byte offset of the root table inside `rootFrame` (an Arm TTB0 needs only table-size alignment). */
  rootOffsetBytes = 0,
  /**
   * Start below the root: the table of `level` at frame `tableFrame` (intermediate for a nested
   * stage 1), as a paging-structure cache entry gives it; the levels above are not read.
   */
  from?: { level: number; tableFrame: number },
): WalkResult {
  const u = format.unitLg2;
  const top = levels - 1;
  const rel = iovaUnit - (format.iovaBaseUnit ?? 0);
  const cover = Math.min(2 ** (format.iasLg2 - u), 2 ** (format.itemLg2[top] + format.indexBits[top] - u));
  if (!(rel >= 0 && rel < cover)) return { ok: false, fault: 'out-of-range', level: top };
  // Table addresses stay intermediate until an entry is read: a table larger than 4 KiB (ARM
  // 16K/64K granule) may lie in several stage-2 pages, so each read translates its own frame.
  let tableBase = from === undefined ? rootFrame : from.tableFrame;
  for (let level = from === undefined ? top : from.level; level >= 0; level--) {
    const itemUnits = 2 ** (format.itemLg2[level] - u);
    const index = Math.floor(rel / itemUnits) % 2 ** format.indexBits[level];
    const offsetBytes = index * 8 + (level === top ? rootOffsetBytes : 0);
    const frame = tableFrame(tableBase + Math.floor(offsetBytes / 4096));
    if (frame === null) return { ok: false, fault: 'table-fetch', level };
    const addr = frame * 4096 + (offsetBytes % 4096);
    readEntryWords(mem, addr, format.bigEndian === true, scratch);
    const { lo, hi } = scratch;
    const kind = format.kind(level, lo, hi);
    if (kind === ENTRY_EMPTY) return { ok: false, fault: 'not-present', level };
    if (visit !== undefined && !visit(level, addr, lo, hi)) return { ok: false, fault: 'reserved', level };
    if (kind === ENTRY_TABLE) {
      if (level === 0) return { ok: false, fault: 'not-present', level };
      tableBase = format.tablePfn(level, lo, hi);
      continue;
    }
    const sizeLg2 = format.leafSizeLg2(level, lo, hi);
    const units = 2 ** (sizeLg2 - u);
    const leafOaUnit = format.leafOaUnit(level, lo, hi);
    return { ok: true, oaUnit: leafOaUnit + (rel % units), leafOaUnit, sizeLg2, perm: format.leafPerm(level, lo, hi), level, entryAddr: addr, lo, hi };
  }
  return { ok: false, fault: 'not-present', level: 0 };
}
