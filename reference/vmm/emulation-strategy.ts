/**
 * Emulation: the device sits on an IOAS of the VMM's own, and every translation the guest's
 * table gives becomes an IOAS mapping (EmulatedMappings) — the fallback the RFC expects when
 * the host cannot nest. Translate mode shadows; bypass maps guest RAM at IOVA = GPA; abort
 * detaches the device (it is blocked).
 *
 * Neither guest invalidates after mapping (SMMUv3 has no caching mode; VT-d's does not cover
 * first-stage tables), so the guest's table frames are write-protected and each store traps
 * (`watches`); its invalidations cover what it unmaps or changes.
 */

import { decodeCmdq, decodeVtdPiotlb, type GuestInvalidation } from './guest-invalidation.ts';
import type { GuestTableConfig } from './guest-context.ts';
import type { GuestRam } from './guest-memory.ts';
import { EmulatedMappings } from './emulated-mappings.ts';
import type { HostSession } from './host-session.ts';
import { ShadowSync } from './shadow-sync.ts';
import type { RawContext, RawInvalidation, Strategy, StrategyCounters } from './strategy.ts';

/** Neutral invalidations of a raw command list (CMD_SYNC and the like drop out). */
export function neutralInvalidations(raw: RawInvalidation): GuestInvalidation[] {
  const out: GuestInvalidation[] = [];
  if (raw.kind === 'cmdq') {
    for (const c of raw.cmds) {
      const n = decodeCmdq(c);
      if (n !== null) out.push(n);
    }
  } else for (const d of raw.descs) out.push(decodeVtdPiotlb(d));
  return out;
}

export class EmulationStrategy implements Strategy {
  readonly name = 'emulation' as const;
  private readonly sync: ShadowSync;
  private readonly maps: EmulatedMappings;
  private hwpt: number | null = null;
  private bypassMapped = false;
  private lastRaw: RawContext | null = null;

  private constructor(
    readonly host: HostSession,
    readonly ram: GuestRam,
    readonly ioasId: number,
    /** The guest maps without invalidating (SMMUv3): watch its table frames. */
    readonly trapWrites: boolean,
    private readonly decode: (raw: RawContext) => Promise<GuestTableConfig>,
    copySource: number | null,
  ) {
    this.maps = new EmulatedMappings(host.client, ram, ioasId, copySource);
    this.sync = new ShadowSync(ram, this.maps);
  }

  /** `copy`: keep guest RAM in an IOAS of its own and COPY guest mappings out of it. */
  static async create(host: HostSession, ram: GuestRam, trapWrites: boolean, decode: (raw: RawContext) => Promise<GuestTableConfig>, copy = false): Promise<EmulationStrategy> {
    const ioas = await host.allocIoas();
    let source: number | null = null;
    if (copy) {
      // Guest RAM in an IOAS of its own, with a paging HWPT of the device's IOMMU so that it is
      // pinned once, up front; COPYs share its pages (Linux pins a page of an iopt_pages once
      // for every domain and access that covers it).
      source = await host.allocIoas();
      await host.map(source, ram.hva, ram.ramBytes, ram.gpaBase);
      await host.allocPaging(source);
    }
    return new EmulationStrategy(host, ram, ioas, trapWrites, decode, source);
  }

  async setContext(raw: RawContext, cfg: GuestTableConfig | null): Promise<void> {
    this.lastRaw = raw;
    const c = cfg ?? (await this.decode(raw));
    if (this.bypassMapped) {
      await this.host.client.ioctl('IOMMU_IOAS_UNMAP', { ioas_id: this.ioasId, iova: this.ram.gpaBase, length: this.ram.ramBytes });
      this.maps.pagesUnpinned += this.ram.ramBytes / 4096;
      this.bypassMapped = false;
    }
    if (c.mode === 'abort') {
      await this.sync.setConfig(c);
      if (this.hwpt !== null) await this.host.detach();
      this.hwpt = null;
      return;
    }
    if (c.mode === 'bypass') {
      await this.sync.setConfig(c);
      await this.host.map(this.ioasId, this.ram.hva, this.ram.ramBytes, this.ram.gpaBase);
      this.maps.pagesPinned += this.ram.ramBytes / 4096;
      this.bypassMapped = true;
    } else await this.sync.setConfig(c);
    if (this.hwpt === null) this.hwpt = await this.host.attach(this.ioasId);
  }

  async invalidate(raw: RawInvalidation): Promise<void> {
    for (const inv of neutralInvalidations(raw)) {
      if ((await this.sync.invalidate(inv)) === 'context' && this.lastRaw !== null) await this.setContext(this.lastRaw, null);
    }
  }

  watches(gpa: number): boolean {
    return this.trapWrites && this.sync.isWatched(gpa);
  }

  async tableWritten(gpa: number, lengthBytes: number): Promise<void> {
    await this.sync.tableWritten(gpa, lengthBytes);
  }

  counters(): StrategyCounters {
    return {
      pagesPinned: this.maps.pagesPinned,
      pagesUnpinned: this.maps.pagesUnpinned,
      shadowPtesWritten: 0,
      invalidateCalls: this.host.invalidateCalls,
      // The VMM sends none; the kernel invalidates the IOTLB once per UNMAP it makes.
      invalidateEntries: this.host.invalidateEntries + this.maps.unmaps,
      traps: this.sync.stats.traps,
      guestBytesRead: this.sync.stats.guestBytesRead,
      refusals: this.sync.stats.refusals,
    };
  }

  attachedHwpt(): number | null {
    return this.hwpt;
  }
}
