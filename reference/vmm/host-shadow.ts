/**
 * The software-nesting shadow: the guest's table re-expressed in a format the host IOMMU walks
 * (VT-d first stage for an ARM guest, VMSAv8-64 4K stage 1 for an x86 guest), built in a pool
 * of the VMM's memory that the VMM maps into the IOAS — so its table pointers are GPAs that
 * the host's stage 2 reaches, exactly as a guest's own table pointers would be.
 *
 * Transform rules: a guest leaf becomes host leaves of the largest host leaf size not above it
 * (a 16K/64K page → 4K pages, a 32M/512M block → 2M leaves, 1G stays 1G where the host has
 * 1G leaves); output addresses stay GPAs; attributes go through leaf-transform.ts. A guest
 * leaf that faults or is refused is left out (the device faults there, as it would on the
 * guest's table). Every entry written is counted; the IOVA runs whose present entries changed
 * or went are collected for the host invalidation (`takeChanged`) — an entry that was empty
 * needs none, since neither VT-d (caching mode off, as hardware has it) nor SMMUv3 caches a
 * translation that faulted.
 *
 * Invariant: shadow leaves never straddle a guest leaf edge, so any range widened to whole
 * guest leaves is also whole in the shadow.
 */

import type { EntryWords, PtFormat } from '../formats/format.ts';
import { walkRange } from '../formats/walk-range.ts';
import type { GuestLeaf } from './guest-table.ts';
import type { LeafAccess } from './leaf-transform.ts';
import type { ShadowSink } from './shadow-sync.ts';
import { TableBuilder } from './table-builder.ts';
import type { MirroredRegion } from './table-memory.ts';

export interface ChangedRuns {
  runs: Array<[number, number]>;
  /** Only leaf entries changed (no table was linked or unlinked): the LEAF hint holds. */
  leafOnly: boolean;
}

interface Piece {
  level: number;
  sizeLg2: number;
  oaUnit: number;
  access: LeafAccess;
}

export class HostShadow implements ShadowSink {
  readonly builder: TableBuilder;
  private runs: Array<[number, number]> = [];
  private tablesChanged = false;
  private readonly attr: EntryWords = { lo: 0, hi: 0 };
  /** Host leaf size (log2) to use for a guest leaf of size k, and its level. */
  private readonly sizeFor: number[] = [];
  private readonly levelFor: number[] = [];

  constructor(
    readonly format: PtFormat,
    readonly pool: MirroredRegion,
    readonly encodeAttrs: (a: LeafAccess, out: EntryWords) => void,
    /** Whether a GPA range is the guest's RAM. A guest leaf reaching past it is left out — the
     * shadow pool itself sits in the IOAS above guest RAM and must stay out of the guest's reach. */
    readonly inRam: (gpa: number, lengthBytes: number) => boolean,
    levels = format.levels,
  ) {
    if (format.unitLg2 !== 12) throw new Error('the shadow format must have 4 KiB pages');
    this.builder = new TableBuilder(format, pool, levels);
    const sizes: Array<[number, number]> = [];
    format.leafSizesLg2.forEach((ls, level) => ls.forEach((s) => sizes.push([s, level])));
    sizes.sort((a, b) => a[0] - b[0]);
    for (let k = 0; k <= 64; k++) {
      const best = sizes.filter(([s]) => s <= k).pop();
      this.sizeFor.push(best?.[0] ?? -1);
      this.levelFor.push(best?.[1] ?? -1);
    }
  }

  get rootGpa(): number {
    return this.builder.rootFrame * 4096;
  }

  coveredRange(startPfn: number, endPfn: number): [number, number] {
    let s = startPfn;
    let e = endPfn;
    walkRange(this.pool, this.format, this.builder.rootFrame, startPfn, endPfn, {
      leaf: (iova, _oa, sizeLg2) => {
        s = Math.min(s, iova);
        e = Math.max(e, iova + 2 ** (sizeLg2 - 12));
      },
    }, this.builder.levels);
    return [s, e];
  }

  async apply(leaves: readonly GuestLeaf[], startPfn: number, endPfn: number): Promise<void> {
    const want = new Map<number, Piece>();
    for (const l of leaves) {
      if (!l.meaning.ok || !this.inRam(l.gpa, 2 ** l.sizeLg2)) continue;
      const size = this.sizeFor[l.sizeLg2];
      if (size < 0) continue;
      const n = 2 ** (l.sizeLg2 - size);
      const step = 2 ** (size - 12);
      for (let i = 0; i < n; i++) want.set(l.iovaPfn + i * step, { level: this.levelFor[l.sizeLg2], sizeLg2: size, oaUnit: l.gpa / 4096 + i * step, access: l.meaning.access });
    }
    const b = this.builder;
    const unlinks0 = b.tableUnlinks;
    const stale: Array<[number, number]> = [];
    walkRange(this.pool, this.format, b.rootFrame, startPfn, endPfn, {
      leaf: (iova, _oa, sizeLg2, level) => {
        const w = want.get(iova);
        if (w === undefined || w.level !== level) stale.push([iova, iova + 2 ** (sizeLg2 - 12)]);
      },
    }, b.levels);
    for (const [s, e] of stale) {
      b.clearRange(s, e);
      this.runs.push([s, e]);
    }
    for (const [iova, p] of want) {
      this.encodeAttrs(p.access, this.attr);
      // Only a present entry that changed can be cached by the host: an empty one that becomes
      // present needs no invalidation (VT-d without caching mode, SMMUv3: faults are not cached).
      if (b.setLeaf(iova, p.level, p.oaUnit, p.sizeLg2, this.attr.lo, this.attr.hi) === 'replaced') this.runs.push([iova, iova + 2 ** (p.sizeLg2 - 12)]);
    }
    if (b.tableUnlinks !== unlinks0) this.tablesChanged = true;
    await this.pool.flush();
  }

  async clearAll(): Promise<void> {
    const top = this.format.itemLg2[this.builder.levels - 1] + this.format.indexBits[this.builder.levels - 1] - 12;
    const [s, e] = this.coveredRange(0, 2 ** top);
    if (e > s) {
      this.builder.clearRange(0, 2 ** top);
      this.runs.push([0, 2 ** top]);
      this.tablesChanged = true;
    }
    await this.pool.flush();
  }

  /** The IOVA runs changed since the last call, merged, and whether only leaves changed. */
  takeChanged(): ChangedRuns {
    const sorted = this.runs.sort((a, b) => a[0] - b[0]);
    const runs: Array<[number, number]> = [];
    for (const [s, e] of sorted) {
      const last = runs[runs.length - 1];
      if (last !== undefined && s <= last[1]) last[1] = Math.max(last[1], e);
      else runs.push([s, e]);
    }
    const leafOnly = !this.tablesChanged;
    this.runs = [];
    this.tablesChanged = false;
    return { runs, leafOnly };
  }
}
