/**
 * Arm SMMUv3: TLB entries are tagged with VMID and ASID (stage 1, non-global), VMID alone
 * (stage 2), or both for combined stage-1+2 entries of a nested translation (SMMUv3 spec IHI
 * 0070 §3.17). A stage-1-only STE tags its entries with STE.S2VMID, which Linux leaves 0.
 * Invalidation commands (§4.4.1–4.4.3): TLBI_NH_ALL (VMID), TLBI_NH_ASID, TLBI_NH_VA (ASID +
 * address), TLBI_NH_VAA (address, every ASID of the VMID), TLBI_S2_IPA (stage-2 entries by IPA;
 * combined entries need a following TLBI_NH_ALL or S12_VMALL), TLBI_S12_VMALL, TLBI_NSNH_ALL.
 * Address forms take Leaf (keep walk caches), TTL (only leaves of that level) and, with
 * IDR3.RIL, a range: (NUM + 1) · 2^SCALE granules of TG.
 *
 * Driver (arm-smmu-v3.c): ASIDs from one machine-wide xarray (xa_alloc, 1..2^asid_bits − 1),
 * VMIDs per SMMU (ida_alloc_range 1..2^vmid_bits − 1), both taken when the domain is finalised
 * (at allocation in current kernels) and freed with it; iotlb_sync issues TLBI_NH_VA (stage 1) or
 * TLBI_S2_IPA (stage 2) over the gathered range with Leaf = 1. Detaching a device does not flush:
 * the ASID/VMID stays the domain's and its entries stay valid for the other masters.
 */

import type { IotlbEngine } from './engine.ts';
import type { Family } from './family.ts';
import { smmuRange, smmuTtlSizeLg2 } from './range.ts';
import { CMDQ_OP_TLBI_NH_ALL, CMDQ_OP_TLBI_NH_ASID, CMDQ_OP_TLBI_NH_VA, CMDQ_OP_TLBI_NH_VAA, CMDQ_OP_TLBI_NSNH_ALL, CMDQ_OP_TLBI_S12_VMALL, CMDQ_OP_TLBI_S2_IPA } from '../iommu/arm-smmuv3-cmdq.ts';

export const SMMU_S1 = 0;
export const SMMU_S2 = 1;
export const SMMU_NESTED = 2;
const S1_KINDS = (1 << SMMU_S1) | (1 << SMMU_NESTED);

export interface SmmuTlbi {
  opcode: number;
  vmid?: number;
  asid?: number;
  addr?: bigint;
  leaf?: boolean;
  tg?: number;
  num?: number;
  scale?: number;
  ttl?: number;
}

/**
 * A command as the SMMU's queue executes it (two little-endian words): TLBI fields w0 NUM
 * 16:12, SCALE 24:20, VMID 47:32, ASID 63:48; w1 LEAF 0, TTL 9:8, TG 11:10, ADDR 63:12.
 */
export function decodeTlbi(w0: bigint, w1: bigint): SmmuTlbi {
  const f = (w: bigint, hi: number, lo: number) => Number((w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
  return {
    opcode: f(w0, 7, 0),
    num: f(w0, 16, 12),
    scale: f(w0, 24, 20),
    vmid: f(w0, 47, 32),
    asid: f(w0, 63, 48),
    leaf: (w1 & 1n) === 1n,
    ttl: f(w1, 9, 8),
    tg: f(w1, 11, 10),
    addr: w1 & ~0xfffn,
  };
}

/** Applies one TLBI command to the SMMU's TLB; false for an opcode that is not a TLBI this model has. */
export function smmuTlbi(e: IotlbEngine, c: SmmuTlbi): boolean {
  const vmid = c.vmid ?? 0;
  const addrOpts = () => ({
    range: smmuRange(c.addr ?? 0n, c.tg ?? 0, c.num ?? 0, c.scale ?? 0),
    leafOnly: c.leaf === true,
    sizeLg2: smmuTtlSizeLg2(c.tg ?? 0, c.ttl ?? 0),
  });
  switch (c.opcode) {
    case CMDQ_OP_TLBI_NH_ALL:
      e.invalidate({ kinds: S1_KINDS, group: vmid });
      return true;
    case CMDQ_OP_TLBI_NH_ASID:
      e.invalidate({ kinds: S1_KINDS, group: vmid, sub: c.asid ?? 0 });
      return true;
    case CMDQ_OP_TLBI_NH_VA:
      e.invalidate({ kinds: S1_KINDS, group: vmid, sub: c.asid ?? 0 }, addrOpts());
      return true;
    case CMDQ_OP_TLBI_NH_VAA:
      e.invalidate({ kinds: S1_KINDS, group: vmid }, addrOpts());
      return true;
    case CMDQ_OP_TLBI_S2_IPA:
      e.invalidate({ kinds: 1 << SMMU_S2, group: vmid }, addrOpts());
      return true;
    case CMDQ_OP_TLBI_S12_VMALL:
      e.invalidate({ group: vmid });
      return true;
    case CMDQ_OP_TLBI_NSNH_ALL:
      e.invalidate({});
      return true;
    default:
      return false;
  }
}

/** The range commands the driver issues for [start, last] (arm_smmu_cmdq_batch of TLBIs with RIL): one command covering it. */
function rangeCommand(opcode: number, vmid: number, asid: number, start: bigint, last: bigint): SmmuTlbi {
  // Granule 4K (TG = 1); NUM/SCALE chosen so that (NUM + 1) · 2^SCALE pages cover the range.
  const pages = ((last - start) >> 12n) + 1n;
  let scale = 0;
  while (pages > 32n << BigInt(scale)) scale++;
  const num = Number((pages + (1n << BigInt(scale)) - 1n) >> BigInt(scale)) - 1;
  return { opcode, vmid, asid, addr: start, leaf: true, tg: 1, num, scale };
}

const stage2 = (format: unknown): boolean => format === 'arm-lpae-s2';

export const smmuv3Family: Family = {
  name: 'arm-smmuv3',
  domainScopedTags: true,
  flushOnDirtySwitch: false,
  domainAllocated(u, spec, ids) {
    if (stage2(spec.table.format)) ids.vmid = u.local('vmid', 1, 2 ** 16 - 1).alloc();
    else ids.asid = u.shared.get('smmu-asid', 1, 2 ** 16 - 1).alloc();
  },
  domainFreed(u, spec, ids) {
    if (stage2(spec.table.format)) u.local('vmid', 1, 2 ** 16 - 1).free(ids.vmid);
    else u.shared.get('smmu-asid', 1, 2 ** 16 - 1).free(ids.asid);
  },
  bind(_u, spec, ids) {
    if (stage2(spec.table.format)) return { kind: SMMU_S2, group: ids.domain.vmid, sub: 0 };
    return { kind: SMMU_S1, group: 0, sub: ids.domain.asid };
  },
  unbind() {},
  unitReleased() {},
  flushRange(u, spec, tag, range) {
    const op = tag.kind === SMMU_S2 ? CMDQ_OP_TLBI_S2_IPA : CMDQ_OP_TLBI_NH_VA;
    smmuTlbi(u.engine, rangeCommand(op, tag.group, tag.sub, range.start, range.last));
    // arm_smmu_tlb_inv_range_domain: a nest parent's change also drops every nested stage-1 entry of the VMID.
    if (tag.kind === SMMU_S2 && spec.nestParent) smmuTlbi(u.engine, { opcode: CMDQ_OP_TLBI_NH_ALL, vmid: tag.group });
  },
  bindNested(_u, _ids, parentIds) {
    // arm_vsmmu_init (v6.13 on): the vSMMU's VMID is its S2 parent's s2_cfg.vmid — the one this
    // family allocated with the parent (the vSMMU reads it from there too); the ASID is the guest CD's.
    return { kind: SMMU_NESTED, group: parentIds.vmid, sub: -1 };
  },
  flushNestedOfParent(u, tag) {
    // The parent's change drops every nested stage-1 entry of the VMID (TLBI_NH_ALL).
    smmuTlbi(u.engine, { opcode: CMDQ_OP_TLBI_NH_ALL, vmid: tag.group });
  },
  flushAll(u, _spec, tag) {
    if (tag.kind === SMMU_S2) smmuTlbi(u.engine, { opcode: CMDQ_OP_TLBI_S12_VMALL, vmid: tag.group });
    else smmuTlbi(u.engine, { opcode: CMDQ_OP_TLBI_NH_ASID, vmid: tag.group, asid: tag.sub });
  },
};
