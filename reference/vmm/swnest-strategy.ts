/**
 * Software nesting (the RFC's closing idea): the VMM transforms the guest's table into the
 * host's stage-1 format in its own memory and binds that copy as a nested stage 1 on a
 * NEST_PARENT stage 2 that maps guest RAM at GPA 0 and the shadow pool above it. The host
 * walks the copy through stage 2 like any guest table; the VMM keeps it in step (ShadowSync +
 * HostShadow) and sends the host one invalidation per run of changed shadow entries.
 *
 * - VT-d host: the copy is a VT-d first-stage (x86-64) table, 4-level for guests of ≤ 48 bits,
 *   5-level (CAP.FS5LP) up to 57; bound with IOMMU_HWPT_DATA_VTD_S1; invalidated with
 *   struct iommu_hwpt_vtd_s1_invalidate {addr, npages, LEAF when no table changed}.
 * - SMMUv3 host: the copy is a VMSAv8-64 4K-granule 48-bit stage 1; the VMM writes a CD for it
 *   in the pool (TTB0 = the copy's root, ASID 1, MAIR index 1 write-back) and binds a vSTE
 *   (Config S1, S1ContextPtr = the CD's GPA) through a vIOMMU and vDEVICE; invalidated with
 *   TLBI_NH_VA (range form when IDR3.RIL) on the vIOMMU.
 *
 * Where the shadow lives: the pool is VMM memory mapped into the IOAS at `poolGpa`, above guest
 * RAM, so the host's stage 2 reaches it; no guest leaf may point into it (HostShadow keeps
 * every output address below the end of guest RAM).
 */

import { createFormat } from '../formats/registry.ts';
import type { GuestTableConfig } from './guest-context.ts';
import type { GuestRam } from './guest-memory.ts';
import { cmdqBytes, encodeCfgiCd, encodeTlbiAsid, encodeTlbiVa, vtdInvalidateEntry, type CmdqCommand } from './guest-invalidation.ts';
import { neutralInvalidations } from './emulation-strategy.ts';
import type { HostCaps } from './host-caps.ts';
import { HostSession, IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 } from './host-session.ts';
import { HostShadow } from './host-shadow.ts';
import { encodeArmLeafAttrs, encodeX86LeafAttrs } from './leaf-transform.ts';
import { ShadowSync } from './shadow-sync.ts';
import { RefusedError, type RawContext, type RawInvalidation, type Strategy, type StrategyCounters } from './strategy.ts';
import { MirroredRegion } from './table-memory.ts';

/** The ASID of the CD the VMM writes for its shadow on an SMMUv3 host. */
export const SHADOW_ASID = 1;
/** The vSID the VMM gives the device on its own vIOMMU. */
export const SHADOW_VSID = 0;
/** Beyond this many changed runs one invalidation of everything is cheaper. */
const MAX_RUNS = 64;

export interface StageTwo {
  ioasId: number;
  parentHwpt: number;
  viommuId: number | null;
}

export class SwnestStrategy implements Strategy {
  readonly name = 'swnest' as const;
  private shadow: HostShadow | null = null;
  private sync: ShadowSync | null = null;
  private nested: number | null = null;
  private nestedKey = '';
  private attached: number | null = null;
  private cdGpa = -1;
  private lastRaw: RawContext | null = null;
  /** Shadow descriptors written by builders already replaced. */
  private ptesDone = 0;

  constructor(
    readonly host: HostSession,
    readonly ram: GuestRam,
    readonly caps: HostCaps,
    readonly s2: StageTwo,
    readonly pool: MirroredRegion,
    readonly trapWrites: boolean,
    private readonly decode: (raw: RawContext) => Promise<GuestTableConfig>,
  ) {}

  /** Stage 2 with guest RAM at GPA 0 and the pool at `poolGpa`; the vIOMMU on SMMUv3. */
  static async create(host: HostSession, ram: GuestRam, caps: HostCaps, poolBytes: number, poolGpa: number, trapWrites: boolean, decode: (raw: RawContext) => Promise<GuestTableConfig>): Promise<SwnestStrategy> {
    // The shadow on SMMUv3 is a 4K-granule table: without that granule no guest page fits.
    if (caps.kind === 'arm-smmuv3' && !caps.granules.includes(4096)) {
      throw new RefusedError(`the host's stage 1 has no 4K granule (IDR5 granules: ${caps.granules.map((g) => `${g / 1024}K`).join(', ') || 'none'}); the guest's 4 KiB pages cannot be held`);
    }
    const s2 = await stageTwo(host, ram, caps);
    const poolHva = await host.client.mmap(poolBytes);
    await host.map(s2.ioasId, poolHva, poolBytes, poolGpa);
    const pool = new MirroredRegion(host.client, poolHva, poolGpa, poolBytes);
    return new SwnestStrategy(host, ram, caps, s2, pool, trapWrites, decode);
  }

  async setContext(raw: RawContext, cfg: GuestTableConfig | null): Promise<void> {
    this.lastRaw = raw;
    const c = cfg ?? (await this.decode(raw));
    if (c.mode === 'abort') {
      await this.sync?.setConfig(c);
      if (this.attached !== null) await this.host.detach();
      this.attached = null;
      return;
    }
    if (c.mode === 'bypass') {
      await this.sync?.setConfig(c);
      if (this.attached !== this.s2.parentHwpt) this.attached = await this.host.attach(this.s2.parentHwpt);
      return;
    }
    const levels = this.shadowLevels(c);
    if (this.shadow === null || this.shadow.builder.levels !== levels) {
      if (this.shadow !== null) {
        this.ptesDone += this.shadow.builder.pteWrites;
        this.shadow.builder.destroy();
      }
      const smmu = this.caps.kind === 'arm-smmuv3';
      const format = smmu ? createFormat('arm-lpae-s1', { granule: 4096, ias: 48, oas: 48 }) : createFormat('vtd-fs', { levels, max_leaf_lg2: this.caps.fs1gp ? 30 : 21 });
      this.shadow = new HostShadow(format, this.pool, smmu ? encodeArmLeafAttrs : encodeX86LeafAttrs, (gpa, len) => this.ram.inRam(gpa, len));
      this.sync = new ShadowSync(this.ram, this.shadow);
    }
    const live = this.nested !== null && this.attached === this.nested;
    await this.sync!.setConfig(c);
    this.shadow.takeChanged();
    const before = this.nested;
    await this.bindShadow(levels);
    // The same binding with new contents: the host may hold the old translations.
    if (live && this.nested === before) await this.invalidateAll();
  }

  /** Host levels for the guest's address width, or a refusal. */
  private shadowLevels(c: GuestTableConfig): number {
    const iasLg2 = Math.min(c.format.iasLg2, c.format.itemLg2[c.levels - 1] + c.format.indexBits[c.levels - 1]);
    if (this.caps.kind === 'arm-smmuv3') {
      if (iasLg2 > 48) throw new RefusedError(`guest address width ${iasLg2} bits exceeds the 48 bits of the host's 4K-granule stage 1`);
      return 4;
    }
    if (iasLg2 <= 48) return 4;
    if (iasLg2 <= 57 && this.caps.fs5lp) return 5;
    throw new RefusedError(`guest address width ${iasLg2} bits exceeds the host's first stage (${this.caps.fs5lp ? 57 : 48} bits)`);
  }

  private async bindShadow(levels: number): Promise<void> {
    const root = this.shadow!.rootGpa;
    const key = `${root}/${levels}`;
    if (this.nested !== null && this.nestedKey === key) {
      if (this.attached !== this.nested) this.attached = await this.host.attach(this.nested);
      return;
    }
    let nested: number;
    if (this.caps.kind === 'arm-smmuv3') {
      if (this.cdGpa < 0) this.cdGpa = this.pool.allocFrames(1) * 4096;
      writeShadowCd(this.pool, this.cdGpa, root);
      await this.pool.flush();
      const ste0 = 1n | (5n << 1n) | BigInt(this.cdGpa);
      nested = await this.host.allocNested(this.s2.viommuId!, IOMMU_HWPT_DATA_ARM_SMMUV3, u64s([ste0, 0n]));
    } else {
      const data = new Uint8Array(24);
      const dv = new DataView(data.buffer);
      dv.setBigUint64(0, 0n, true);
      dv.setBigUint64(8, BigInt(root), true);
      dv.setUint32(16, levels === 5 ? 57 : 48, true);
      nested = await this.host.allocNested(this.s2.parentHwpt, IOMMU_HWPT_DATA_VTD_S1, data);
    }
    this.attached = await this.host.attach(nested);
    if (this.nested !== null) await this.host.destroy(this.nested);
    this.nested = nested;
    this.nestedKey = key;
  }

  async invalidate(raw: RawInvalidation): Promise<void> {
    for (const inv of neutralInvalidations(raw)) {
      if (inv.op === 'context') {
        if (this.lastRaw !== null) await this.setContext(this.lastRaw, null);
      } else await this.sync?.invalidate(inv);
    }
    if (this.shadow !== null) await this.flushHost();
  }

  watches(gpa: number): boolean {
    return this.trapWrites && this.sync !== null && this.sync.isWatched(gpa);
  }

  async tableWritten(gpa: number, lengthBytes: number): Promise<void> {
    if (this.sync === null) return;
    await this.sync.tableWritten(gpa, lengthBytes);
    await this.flushHost();
  }

  /** The host invalidation for every run of shadow entries that changed. */
  private async flushHost(): Promise<void> {
    const { runs, leafOnly } = this.shadow!.takeChanged();
    if (runs.length === 0 || this.nested === null || this.attached !== this.nested) return;
    if (runs.length > MAX_RUNS) return this.invalidateAll();
    if (this.caps.kind === 'arm-smmuv3') {
      const cmds: CmdqCommand[] = [];
      for (const [s, e] of runs) cmds.push(...encodeTlbiVa(SHADOW_ASID, s, e - s, leafOnly, 4096, this.caps.ril));
      await this.host.invalidate(this.s2.viommuId!, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 16, cmdqBytes(cmds));
    } else {
      const parts = runs.map(([s, e]) => vtdInvalidateEntry(s, e - s, leafOnly));
      await this.host.invalidate(this.nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, 24, concat(parts));
    }
  }

  private async invalidateAll(): Promise<void> {
    if (this.nested === null || this.attached !== this.nested) return;
    if (this.caps.kind === 'arm-smmuv3') {
      await this.host.invalidate(this.s2.viommuId!, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 16, cmdqBytes([encodeCfgiCd(SHADOW_VSID), encodeTlbiAsid(SHADOW_ASID)]));
    } else await this.host.invalidate(this.nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, 24, vtdInvalidateEntry('all', 0, false));
  }

  counters(): StrategyCounters {
    const st = this.sync?.stats;
    return {
      pagesPinned: 0,
      pagesUnpinned: 0,
      shadowPtesWritten: this.ptesDone + (this.shadow?.builder.pteWrites ?? 0),
      invalidateCalls: this.host.invalidateCalls,
      invalidateEntries: this.host.invalidateEntries,
      traps: st?.traps ?? 0,
      guestBytesRead: st?.guestBytesRead ?? 0,
      refusals: st?.refusals ?? [],
    };
  }

  attachedHwpt(): number | null {
    return this.attached;
  }
}

/** Stage 2 for nesting: an IOAS with guest RAM at its GPA, a NEST_PARENT HWPT, and on SMMUv3 the vIOMMU and vDEVICE. */
export async function stageTwo(host: HostSession, ram: GuestRam, caps: HostCaps, vsid = SHADOW_VSID): Promise<StageTwo> {
  const ioasId = await host.allocIoas();
  await host.map(ioasId, ram.hva, ram.ramBytes, ram.gpaBase);
  const parentHwpt = await host.allocNestParent(ioasId);
  let viommuId: number | null = null;
  if (caps.kind === 'arm-smmuv3') {
    viommuId = await host.allocViommu(parentHwpt);
    await host.allocVdevice(viommuId, vsid);
  }
  return { ioasId, parentHwpt, viommuId };
}

/**
 * The CD (64 bytes, SMMUv3 CTXDESC_CD_0..3) of the shadow: T0SZ 16, TG0 4K, IRGN0/ORGN0
 * write-back, SH0 inner, EPD1, V, IPS 48 bits, AA64, R, A, ASET, ASID; TTB0; MAIR with index 0
 * 0x44 (non-cacheable), 1 0xff (write-back), 2 0x04 (device) as Linux programs it.
 */
export function writeShadowCd(pool: MirroredRegion, cdGpa: number, rootGpa: number): void {
  const w0 = 16n | (0n << 6n) | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (BigInt(SHADOW_ASID) << 48n);
  const words = [w0, BigInt(rootGpa), 0n, 0x0004ff44n, 0n, 0n, 0n, 0n];
  words.forEach((w, i) => pool.write64(cdGpa + 8 * i, Number(w & 0xffffffffn), Number(w >> 32n)));
}

function u64s(words: bigint[]): Uint8Array {
  const b = new Uint8Array(8 * words.length);
  const dv = new DataView(b.buffer);
  words.forEach((w, i) => dv.setBigUint64(8 * i, w, true));
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
