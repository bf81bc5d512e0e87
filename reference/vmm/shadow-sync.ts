/**
 * Keeps a shadow of the guest's table in step with it, for the two strategies that shadow:
 * software nesting (a host-format table) and emulation (IOAS mappings). The engine decides
 * WHAT to re-read — an invalidated IOVA range, widened to whole guest leaves and to whole
 * shadow entries until both agree on the edges — and the sink makes its entries in that range
 * equal to the guest's leaves there, touching only entries that differ.
 *
 * What triggers a sync: an invalidation the guest issues (TLBI by VA/ASID/all, PIOTLB), a
 * context change (CFGI_CD / CFGI_STE / PASID cache: everything again), and — for guests whose
 * architecture lets them map without invalidating (SMMUv3 has no caching mode, VT-d's does not
 * cover first-stage tables) — a write to a
 * guest table frame the VMM watches (stage-2 write protection: each such write is a trap).
 *
 * Invariants: after a sync of [s, e) the sink holds exactly the translations the guest's table
 * gives there (refused leaves excepted, which are recorded); the watched-frame map holds every
 * guest table frame the last walks read.
 */

import type { GuestTableConfig } from './guest-context.ts';
import type { GuestInvalidation } from './guest-invalidation.ts';
import type { GuestRam } from './guest-memory.ts';
import { guestSpacePfns, readGuestRange, type GuestLeaf, type GuestTableFrame } from './guest-table.ts';

export interface ShadowSink {
  /** [s, e) widened to the edges of the sink's entries that overlap it. */
  coveredRange(startPfn: number, endPfn: number): [number, number];
  /** Makes the sink hold exactly `leaves` (all inside [s, e)) in [s, e). */
  apply(leaves: readonly GuestLeaf[], startPfn: number, endPfn: number): Promise<void>;
  /** Everything the sink holds goes. */
  clearAll(): Promise<void>;
}

export interface SyncStats {
  syncs: number;
  guestBytesRead: number;
  guestLeavesRead: number;
  traps: number;
  refusals: string[];
}

const pagesOf = (l: GuestLeaf): number => 2 ** (l.sizeLg2 - 12);

export class ShadowSync {
  cfg: GuestTableConfig | null = null;
  readonly stats: SyncStats = { syncs: 0, guestBytesRead: 0, guestLeavesRead: 0, traps: 0, refusals: [] };
  /** Guest table frames read by the walks: 4 KiB GPA frame → the table it belongs to. */
  private readonly watched = new Map<number, GuestTableFrame>();

  constructor(
    readonly ram: GuestRam,
    readonly sink: ShadowSink,
  ) {}

  /** A new guest context: the shadow is rebuilt from nothing. */
  async setConfig(cfg: GuestTableConfig): Promise<void> {
    this.cfg = cfg;
    this.watched.clear();
    await this.sink.clearAll();
    if (cfg.mode === 'translate') await this.syncRange(0, guestSpacePfns(cfg));
  }

  isWatched(gpa: number): boolean {
    return this.watched.has(Math.floor(gpa / 4096));
  }

  /** A trapped guest store to a watched table frame: re-reads the entries it wrote. */
  async tableWritten(gpa: number, lengthBytes: number): Promise<void> {
    const t = this.watched.get(Math.floor(gpa / 4096));
    const cfg = this.cfg;
    if (t === undefined || cfg === null) return;
    // Each descriptor store into a write-protected frame is one trap.
    this.stats.traps += Math.max(1, Math.round(lengthBytes / 8));
    const first = Math.floor((gpa - t.frame * 4096) / 8);
    const last = Math.floor((gpa + lengthBytes - 1 - t.frame * 4096) / 8);
    const itemPfns = 2 ** (cfg.format.itemLg2[t.level] - 12);
    await this.syncRange(t.iovaPfn + first * itemPfns, t.iovaPfn + (last + 1) * itemPfns);
  }

  async invalidate(inv: GuestInvalidation): Promise<'context' | void> {
    // A context invalidation matters most when the context was off (a CD just made valid).
    if (inv.op === 'context') return 'context';
    const cfg = this.cfg;
    if (cfg === null || cfg.mode !== 'translate') return;
    switch (inv.op) {
      case 'tlbi-va':
        if (inv.asid !== null && inv.asid !== cfg.asid) return;
        return this.syncRange(inv.iovaPfn, inv.iovaPfn + inv.pages);
      case 'tlbi-asid':
        if (inv.asid !== cfg.asid) return;
        return this.syncRange(0, guestSpacePfns(cfg));
      case 'tlbi-all':
        return this.syncRange(0, guestSpacePfns(cfg));
    }
  }

  /** Makes the shadow equal to the guest's table over [s, e), widened to whole entries. */
  async syncRange(startPfn: number, endPfn: number): Promise<void> {
    const cfg = this.cfg;
    if (cfg === null || cfg.mode !== 'translate') return;
    const space = guestSpacePfns(cfg);
    let s = Math.max(0, startPfn);
    let e = Math.min(space, endPfn);
    if (s >= e) return;
    this.stats.syncs++;
    for (;;) {
      const r = await readGuestRange(this.ram, cfg, s, e);
      this.stats.guestBytesRead += r.bytesRead;
      let ns = s;
      let ne = e;
      for (const l of r.leaves) {
        ns = Math.min(ns, l.iovaPfn);
        ne = Math.max(ne, l.iovaPfn + pagesOf(l));
      }
      [ns, ne] = this.sink.coveredRange(ns, ne);
      if (ns === s && ne === e) {
        this.watch(r.tables, s, e);
        this.stats.guestLeavesRead += r.leaves.length;
        for (const l of r.leaves) if (!l.meaning.ok && 'refusal' in l.meaning) this.stats.refusals.push(`IOVA 0x${(l.iovaPfn * 4096).toString(16)}: ${l.meaning.refusal}`);
        await this.sink.apply(r.leaves, s, e);
        return;
      }
      s = ns;
      e = ne;
    }
  }

  private watch(tables: readonly GuestTableFrame[], s: number, e: number): void {
    const cfg = this.cfg!;
    // Tables wholly inside the range that this walk did not meet are gone from the guest's tree.
    for (const [frame, t] of this.watched) {
      const span = 2 ** (cfg.format.itemLg2[t.level] + cfg.format.indexBits[t.level] - 12);
      if (t.level < cfg.levels - 1 && t.iovaPfn >= s && t.iovaPfn + span <= e) this.watched.delete(frame);
    }
    for (const t of tables) for (let k = 0; k < t.frames; k++) this.watched.set(t.frame + k, t);
  }
}
