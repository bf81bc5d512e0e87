/**
 * A simulated guest IOMMU driver, for the differential check and the benchmark: it owns its
 * I/O page table in guest RAM (built with TableBuilder in a table area of guest memory), its
 * context (ARM: a vSTE and a CD; x86: a PASID entry) and issues the invalidations its Linux
 * counterpart issues:
 * - ARM (arm-smmu-v3 + io-pgtable-arm): a map invalidates nothing; an unmap sends TLBI_NH_VA
 *   over the unmapped range (Leaf = 0 when it unlinked a table, else 1), then CMD_SYNC.
 * - x86 (intel-iommu, first-stage table): an unmap sends a page-selective-within-PASID IOTLB
 *   invalidation covering the range (PASID-wide when wide); a map sends none, even on a vIOMMU
 *   with caching mode — VT-d §6.1 asks for invalidation after updates "other than first-stage
 *   mapping" (cache_tag_flush_range_np skips first-level domains).
 * Every store to its table memory goes to guest RAM; a store to a frame the VMM watches traps
 * into each attached vIOMMU (`guestTableWrite`), as a write-protected page would.
 *
 * Several vIOMMUs may front the same guest table (a device under test and a native twin).
 */

import { ARM_AF, ARM_AP_UNPRIV } from '../../formats/arm-lpae.ts';
import { IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE, type PtFormat } from '../../formats/format.ts';
import { createFormat } from '../../formats/registry.ts';
import { X86_U } from '../../formats/x86-64.ts';
import type { GuestFormatName, VtdPasidContext } from '../guest-context.ts';
import { CMDQ_OP_CMD_SYNC, encodeCfgiCd, encodeTlbiAsid, encodeTlbiVa, vtdCovering, type CmdqCommand, type VtdPiotlb } from '../guest-invalidation.ts';
import { TableBuilder } from '../table-builder.ts';
import { MirroredRegion } from '../table-memory.ts';
import type { GuestRam } from '../guest-memory.ts';
import type { UapiClient } from '../uapi-client.ts';
import type { VirtualIommu } from '../virtual-iommu.ts';

export interface GuestShape {
  guest: GuestFormatName;
  /** ARM: 4096, 16384 or 65536. */
  granule: number;
  /** Input address bits (ARM: 64 − T0SZ; x86: 48 or 57). */
  ias: number;
}

export interface LeafPerm {
  write: boolean;
  /** Unprivileged requests allowed (ARM AP[1], x86 U/S). */
  user: boolean;
  exec: boolean;
  /** ARM only: the access flag (0 faults). */
  af: boolean;
}

export const GUEST_ASID = 7;
export const GUEST_VSID = 0;

export class GuestDriver {
  readonly format: PtFormat;
  readonly builder: TableBuilder;
  readonly region: MirroredRegion;
  readonly cdGpa: number;
  /** Guest table descriptors stored so far. */
  get ptesWritten(): number {
    return this.builder.pteWrites;
  }

  constructor(
    readonly client: UapiClient,
    readonly ram: GuestRam,
    readonly shape: GuestShape,
    /** Guest RAM [tableAreaGpa, tableAreaGpa + tableAreaBytes) holds the guest's tables and CD. */
    tableAreaGpa: number,
    tableAreaBytes: number,
    readonly viommus: VirtualIommu[],
  ) {
    this.format =
      shape.guest === 'arm-lpae-s1'
        ? createFormat('arm-lpae-s1', { granule: shape.granule, ias: shape.ias, oas: 48 })
        : createFormat('vtd-fs', { levels: shape.ias > 48 ? 5 : 4 });
    this.region = new MirroredRegion(client, ram.hvaOf(tableAreaGpa), tableAreaGpa, tableAreaBytes);
    this.cdGpa = this.region.allocFrames(1) * 4096;
    this.builder = new TableBuilder(this.format, this.region);
  }

  /** Guest page size in 4 KiB pages. */
  get unitPfns(): number {
    return 2 ** (this.format.unitLg2 - 12);
  }

  /** Leaf sizes (log2 bytes) this guest may map, with their level. */
  leafSizes(): Array<{ sizeLg2: number; level: number }> {
    const out: Array<{ sizeLg2: number; level: number }> = [];
    this.format.leafSizesLg2.forEach((ls, level) => ls.forEach((s) => out.push({ sizeLg2: s, level })));
    return out;
  }

  /** ARM: the vSTE words pointing at the CD. */
  steWords(): [bigint, bigint] {
    return [1n | (5n << 1n) | BigInt(this.cdGpa), 0n];
  }

  vtdContext(): VtdPasidContext {
    return { flags: 0, pgtblAddr: this.builder.rootFrame * 4096, addrWidth: this.shape.ias > 48 ? 57 : 48 };
  }

  /** Writes the context (CD for ARM) and tells every vIOMMU, as the guest's STE/PASID programming does. */
  async boot(): Promise<void> {
    if (this.shape.guest === 'arm-lpae-s1') {
      this.writeCd();
      await this.region.flush();
      const [s0, s1] = this.steWords();
      for (const v of this.viommus) await v.setArmContext(s0, s1);
    } else for (const v of this.viommus) await v.setVtdContext(this.vtdContext());
  }

  private writeCd(): void {
    const g = this.shape.granule;
    const tg0 = g === 4096 ? 0n : g === 65536 ? 1n : 2n;
    const ips = 5n; // 48 bits
    const w0 = BigInt(64 - this.shape.ias) | (tg0 << 6n) | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 30n) | (1n << 31n) | (ips << 32n) | (1n << 41n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (BigInt(GUEST_ASID) << 48n);
    const words = [w0, BigInt(this.builder.rootFrame * 4096), 0n, 0x0004ff44n, 0n, 0n, 0n, 0n];
    words.forEach((w, i) => this.region.write64(this.cdGpa + 8 * i, Number(w & 0xffffffffn), Number(w >> 32n)));
  }

  /** Leaf attribute halves for a permission (what Linux's tables hold, plus the test's variations). */
  leafAttrs(p: LeafPerm): { lo: number; hi: number } {
    const prot = IOMMU_READ | (p.write ? IOMMU_WRITE : 0) | IOMMU_CACHE | (p.exec ? 0 : IOMMU_NOEXEC) | (p.user ? 0 : IOMMU_PRIV);
    const out = { lo: 0, hi: 0 };
    this.format.leafAttrs(prot, out);
    if (this.shape.guest === 'arm-lpae-s1') {
      if (!p.af) out.lo &= ~ARM_AF;
      if (!p.user) out.lo &= ~ARM_AP_UNPRIV;
    } else {
      if (p.user) out.lo |= X86_U;
      else out.lo &= ~X86_U;
      if (!p.exec) out.hi = (out.hi | (1 << 31)) >>> 0;
    }
    return out;
  }

  /** Stores the guest made since the last call reach memory; watched frames trap. */
  private async commit(): Promise<void> {
    const spans = await this.region.flush();
    for (const v of this.viommus) for (const [gpa, len] of spans) if (v.watches(gpa)) await v.guestTableWrite(gpa, len);
  }

  async map(iovaPfn: number, sizeLg2: number, gpa: number, perm: LeafPerm): Promise<void> {
    const a = this.leafAttrs(perm);
    await this.mapRaw(iovaPfn, sizeLg2, gpa, a.lo, a.hi);
  }

  /** A leaf with the attribute bits given as they are (tests of what a VMM refuses). */
  async mapRaw(iovaPfn: number, sizeLg2: number, gpa: number, attrLo: number, attrHi: number): Promise<void> {
    const level = this.leafSizes().find((s) => s.sizeLg2 === sizeLg2)!.level;
    const u = this.unitPfns;
    this.builder.setLeaf(iovaPfn / u, level, gpa / 2 ** this.format.unitLg2, sizeLg2, attrLo, attrHi);
    await this.commit();
  }

  async unmap(iovaPfn: number, sizeLg2: number): Promise<void> {
    const u = this.unitPfns;
    const pages = 2 ** (sizeLg2 - 12);
    const unlinks = this.builder.tableUnlinks;
    this.builder.clearRange(iovaPfn / u, (iovaPfn + pages) / u);
    await this.commit();
    if (this.shape.guest === 'vtd-fs') await this.invalidateVtd([vtdCovering(iovaPfn, pages)]);
    else {
      // io-pgtable-arm: an unmap that unlinks a table flushes the walk caches too (tlb_flush_walk,
      // Leaf = 0); otherwise Leaf = 1 (iotlb_sync), and an SMMU may keep its walk-cache entries.
      const leaf = this.builder.tableUnlinks === unlinks;
      await this.invalidateCmdq([...encodeTlbiVa(GUEST_ASID, iovaPfn, pages, leaf, this.shape.granule, true), [BigInt(CMDQ_OP_CMD_SYNC), 0n]]);
    }
  }

  async invalidateAll(): Promise<void> {
    if (this.shape.guest === 'vtd-fs') await this.invalidateVtd([{ granularity: 'pasid', iovaPfn: 0, am: 0, ih: false }]);
    else await this.invalidateCmdq([encodeTlbiAsid(GUEST_ASID), [BigInt(CMDQ_OP_CMD_SYNC), 0n]]);
  }

  /** The guest re-programs its context unchanged (CFGI_CD / PASID-cache invalidation). */
  async refreshContext(): Promise<void> {
    if (this.shape.guest === 'vtd-fs') for (const v of this.viommus) await v.setVtdContext(this.vtdContext());
    else await this.invalidateCmdq([encodeCfgiCd(GUEST_VSID), [BigInt(CMDQ_OP_CMD_SYNC), 0n]]);
  }

  private async invalidateCmdq(cmds: CmdqCommand[]): Promise<void> {
    for (const v of this.viommus) await v.invalidateCmdq(cmds);
  }

  private async invalidateVtd(descs: VtdPiotlb[]): Promise<void> {
    for (const v of this.viommus) await v.invalidateVtd(descs);
  }
}
