/**
 * Reads the guest's own table over an IOVA range: every leaf the range touches (whole), with
 * what it means to a device (leaf-transform.ts), and every guest table frame the walk read —
 * the frames a write-protecting VMM watches. Guest memory is read with plain loads (GuestRam),
 * table pointers that leave guest RAM are walk faults (their range stays unmapped).
 *
 * Units: IOVAs are 4 KiB page numbers (`iovaPfn`), whatever the guest granule, so that guest
 * and host sizes compare directly and 57-bit IOVAs stay safe integers; GPAs are bytes.
 */

import { walkRange } from '../formats/walk-range.ts';
import type { GuestTableConfig } from './guest-context.ts';
import type { GuestRam } from './guest-memory.ts';
import { NO_TABLE_ATTRS, type LeafMeaning, type TableAttrs } from './leaf-transform.ts';

export interface GuestLeaf {
  iovaPfn: number;
  sizeLg2: number;
  gpa: number;
  level: number;
  meaning: LeafMeaning;
}

export interface GuestTableFrame {
  /** First 4 KiB GPA frame of the table. */
  frame: number;
  frames: number;
  level: number;
  iovaPfn: number;
}

export interface GuestRange {
  leaves: GuestLeaf[];
  tables: GuestTableFrame[];
  /** Bytes of guest memory loaded to read it. */
  bytesRead: number;
}

/** The whole IOVA space of a guest table, in 4 KiB pages. */
export function guestSpacePfns(cfg: GuestTableConfig): number {
  const f = cfg.format;
  const top = cfg.levels - 1;
  return 2 ** (Math.min(f.iasLg2, f.itemLg2[top] + f.indexBits[top]) - 12);
}

export async function readGuestRange(ram: GuestRam, cfg: GuestTableConfig, startPfn: number, endPfn: number): Promise<GuestRange> {
  if (cfg.mode !== 'translate') return { leaves: [], tables: [], bytesRead: 0 };
  const f = cfg.format;
  const toPfn = 2 ** (f.unitLg2 - 12);
  const startUnit = Math.floor(startPfn / toPfn);
  const endUnit = Math.ceil(endPfn / toPfn);
  const { result, bytesRead } = await ram.readWalk((reader) => {
    const leaves: GuestLeaf[] = [];
    const tables: GuestTableFrame[] = [];
    const attrs: TableAttrs[] = [];
    walkRange(
      reader,
      f,
      cfg.rootGpa / 4096,
      startUnit,
      endUnit,
      {
        table(pointer, _frame, level, iovaUnit, viaLo, viaHi) {
          attrs[level] = level === cfg.levels - 1 ? NO_TABLE_ATTRS : cfg.tableAttrs(attrs[level + 1], level + 1, viaLo, viaHi);
          tables.push({ frame: pointer, frames: f.tableFrames[level], level, iovaPfn: iovaUnit * toPfn });
        },
        leaf(iovaUnit, oaUnit, sizeLg2, level, lo, hi) {
          leaves.push({ iovaPfn: iovaUnit * toPfn, sizeLg2, gpa: oaUnit * 2 ** f.unitLg2, level, meaning: cfg.decodeLeaf(level, lo, hi, attrs[level]) });
        },
      },
      cfg.levels,
      ram.frameInRam,
    );
    return { leaves, tables };
  });
  return { ...result, bytesRead };
}
