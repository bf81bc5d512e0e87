/**
 * Native nesting: the host walks the guest's own table (its root a GPA translated by the
 * NEST_PARENT stage 2 that maps guest RAM). The VMM only passes the guest's context on as a
 * nested HWPT (VT-d: struct iommu_hwpt_vtd_s1 from the PASID entry; SMMUv3: the vSTE through
 * the vIOMMU, the CD staying in guest memory) and forwards its invalidations: PASID-based
 * IOTLB descriptors as VTD_S1 entries, CMDQ commands as they are (the kernel puts in the
 * vIOMMU's VMID and the physical StreamID). Nothing is read from the guest's table.
 *
 * The VMM handles the commands the kernel leaves to it: CMD_SYNC (completion is synchronous
 * here), CFGI_STE (the guest changed its STE: a new nested HWPT replaces the old one).
 */

import { CMDQ_OP_CFGI_STE, CMDQ_OP_CFGI_STE_RANGE, CMDQ_OP_CMD_SYNC, cmdqBytes, vtdInvalidateEntry } from './guest-invalidation.ts';
import type { GuestRam } from './guest-memory.ts';
import type { HostCaps } from './host-caps.ts';
import { HostSession, IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 } from './host-session.ts';
import { stageTwo, type StageTwo } from './swnest-strategy.ts';
import type { RawContext, RawInvalidation, Strategy, StrategyCounters } from './strategy.ts';
import type { GuestTableConfig } from './guest-context.ts';

export class NativeStrategy implements Strategy {
  readonly name = 'native' as const;
  private nested: number | null = null;
  private attached: number | null = null;
  private lastRaw: RawContext | null = null;

  private constructor(
    readonly host: HostSession,
    readonly caps: HostCaps,
    readonly s2: StageTwo,
    /** The guest's virtual StreamID (ARM). */
    readonly vsid: number,
  ) {}

  static async create(host: HostSession, ram: GuestRam, caps: HostCaps, vsid: number): Promise<NativeStrategy> {
    const s2 = await stageTwo(host, ram, caps, vsid);
    return new NativeStrategy(host, caps, s2, vsid);
  }

  async setContext(raw: RawContext, _cfg: GuestTableConfig | null): Promise<void> {
    this.lastRaw = raw;
    let nested: number | null;
    if (raw.kind === 'arm') {
      const data = new Uint8Array(16);
      const dv = new DataView(data.buffer);
      dv.setBigUint64(0, raw.ste0, true);
      dv.setBigUint64(8, raw.ste1, true);
      nested = await this.host.allocNested(this.s2.viommuId!, IOMMU_HWPT_DATA_ARM_SMMUV3, data);
    } else if (raw.ctx === null) {
      nested = null;
    } else {
      const data = new Uint8Array(24);
      const dv = new DataView(data.buffer);
      dv.setBigUint64(0, BigInt(raw.ctx.flags), true);
      dv.setBigUint64(8, BigInt(raw.ctx.pgtblAddr), true);
      dv.setUint32(16, raw.ctx.addrWidth, true);
      nested = await this.host.allocNested(this.s2.parentHwpt, IOMMU_HWPT_DATA_VTD_S1, data);
    }
    if (nested === null) {
      if (this.attached !== null) await this.host.detach();
      this.attached = null;
    } else this.attached = await this.host.attach(nested);
    if (this.nested !== null) await this.host.destroy(this.nested);
    this.nested = nested;
  }

  async invalidate(raw: RawInvalidation): Promise<void> {
    if (raw.kind === 'vtd') {
      if (this.nested === null) return;
      const parts = raw.descs.map((d) => (d.granularity === 'pasid' ? vtdInvalidateEntry('all', 0, false) : vtdInvalidateEntry(d.iovaPfn, 2 ** d.am, d.ih)));
      const bytes = new Uint8Array(24 * parts.length);
      parts.forEach((p, i) => bytes.set(p, 24 * i));
      await this.host.invalidate(this.nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, 24, bytes);
      return;
    }
    const forward = raw.cmds.filter(([c0]) => {
      const op = Number(c0 & 0xffn);
      return op !== CMDQ_OP_CMD_SYNC && op !== CMDQ_OP_CFGI_STE && op !== CMDQ_OP_CFGI_STE_RANGE;
    });
    await this.host.invalidate(this.s2.viommuId!, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 16, cmdqBytes(forward));
    const steChanged = raw.cmds.some(([c0]) => Number(c0 & 0xffn) === CMDQ_OP_CFGI_STE || Number(c0 & 0xffn) === CMDQ_OP_CFGI_STE_RANGE);
    if (steChanged && this.lastRaw !== null) await this.setContext(this.lastRaw, null);
  }

  watches(): boolean {
    return false;
  }

  async tableWritten(): Promise<void> {}

  counters(): StrategyCounters {
    return {
      pagesPinned: 0,
      pagesUnpinned: 0,
      shadowPtesWritten: 0,
      invalidateCalls: this.host.invalidateCalls,
      invalidateEntries: this.host.invalidateEntries,
      traps: 0,
      guestBytesRead: 0,
      refusals: [],
    };
  }

  attachedHwpt(): number | null {
    return this.attached;
  }
}
