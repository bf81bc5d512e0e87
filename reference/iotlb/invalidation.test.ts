// The invalidation commands of each family against the manuals' rules: which cached entries a
// command must remove and which it must leave (an architecture may over-invalidate, but these
// models remove exactly what the command names, so that a missing invalidation shows).
import { describe, expect, it } from 'vitest';
import { ENTRY_READ, IotlbEngine } from './engine.ts';
import { AMD_ALL_PAGES_ADDRESS, AMD_GUEST, AMD_HOST, amdBuildInvAddress, amdInvalidateAll, amdInvalidatePages } from './amd.ts';
import { napotRange, smmuRange, smmuTtlSizeLg2, vtdAddrMask } from './range.ts';
import { riscvIotinval, RV_G, RV_HOST, RV_VS } from './riscv.ts';
import { CMDQ_OP_TLBI_NH_ALL, CMDQ_OP_TLBI_NH_ASID, CMDQ_OP_TLBI_NH_VA, CMDQ_OP_TLBI_NH_VAA, CMDQ_OP_TLBI_NSNH_ALL, CMDQ_OP_TLBI_S12_VMALL, CMDQ_OP_TLBI_S2_IPA } from '../iommu/arm-smmuv3-cmdq.ts';
import { decodeTlbi, SMMU_NESTED, SMMU_S1, SMMU_S2, smmuTlbi } from './smmuv3.ts';
import { VTD_FS, VTD_NESTED, VTD_SS, vtdIotlbInvalidate, vtdPiotlbInvalidate, vtdPsiAligned } from './vtd.ts';

/** An engine with one 4 KiB leaf per (kind, group, sub, iova). */
function cache(entries: Array<[number, number, number, number, number?]>) {
  const e = new IotlbEngine('sticky', 64);
  for (const [kind, group, sub, iova, s = 12] of entries) e.fill(e.context(kind, group, sub), Math.floor(iova / 2 ** 32), iova % 2 ** 32, s, 0x1000, ENTRY_READ, 0);
  const has = (kind: number, group: number, sub: number, iova: number) => {
    const before = e.stats.hits;
    e.lookup(e.context(kind, group, sub), Math.floor(iova / 2 ** 32), iova % 2 ** 32);
    return e.stats.hits > before;
  };
  return { e, has };
}

describe('ranges', () => {
  it('VT-d ADDR/AM names 2^AM naturally aligned 4 KiB pages', () => {
    expect(vtdAddrMask(0x203000n, 2)).toEqual({ start: 0x200000n, last: 0x203fffn });
  });
  it('calculate_psi_aligned_address widens an unaligned range to the block both ends share', () => {
    // Pages 3..4: two pages, but pfn 3 is not 2-aligned; 3 ^ 4 = 7 → first shared bit above the mask is bit 3 → AM 3, ADDR 0.
    expect(vtdPsiAligned(0x3000n, 0x4fffn)).toEqual({ addr: 0n, am: 3 });
    expect(vtdPsiAligned(0x4000n, 0x7fffn)).toEqual({ addr: 0x4000n, am: 2 });
  });
  it('NAPOT with S: the lowest clear bit at or above 12 gives the size', () => {
    expect(napotRange(0x5000n, false)).toEqual({ start: 0x5000n, last: 0x5fffn });
    expect(napotRange(0x4000n, true)).toEqual({ start: 0x4000n, last: 0x5fffn }); // bit 12 clear → 8 KiB
    expect(napotRange(0x7000n, true)).toEqual({ start: 0x0n, last: 0xffffn }); // 0x7000: bits 12–14 set, 15 clear → 64 KiB
    expect(napotRange(AMD_ALL_PAGES_ADDRESS, true)).toBeNull();
  });
  it('AMD build_inv_address: one page S = 0, else the bits below the highest differing bit set', () => {
    expect(amdBuildInvAddress(0x5000n, 0x5fffn)).toEqual({ address: 0x5000n, s: false });
    const r = amdBuildInvAddress(0x5000n, 0x6fffn); // 0x5000 ^ 0x6fff: highest differing bit 13
    expect(r).toEqual({ address: 0x5000n | 0x1fffn & ~0xfffn, s: true });
    expect(napotRange(r.address, true)).toEqual({ start: 0x4000n, last: 0x7fffn });
    expect(amdBuildInvAddress(0n, (1n << 60n) - 1n)).toEqual({ address: AMD_ALL_PAGES_ADDRESS, s: true });
  });
  it('SMMUv3 range TLBI: (NUM+1)·2^SCALE granules; TTL names the leaf level', () => {
    expect(smmuRange(0x10000n, 1, 3, 1)).toEqual({ start: 0x10000n, last: 0x10000n + 8n * 0x1000n - 1n });
    expect(smmuRange(0x12345n, 0, 0, 0)).toEqual({ start: 0x12345n, last: 0x12345n });
    expect(smmuTtlSizeLg2(1, 3)).toBe(12);
    expect(smmuTtlSizeLg2(1, 2)).toBe(21);
    expect(smmuTtlSizeLg2(3, 2)).toBe(29);
    expect(smmuTtlSizeLg2(1, 0)).toBeUndefined();
  });
});

describe('VT-d (spec §6.5.2)', () => {
  const setup = () => cache([[VTD_SS, 2, 0, 0x1000], [VTD_SS, 2, 0, 0x9000], [VTD_FS, 2, 5, 0x1000], [VTD_NESTED, 2, 5, 0x9000], [VTD_SS, 3, 0, 0x1000], [VTD_FS, 3, 7, 0x1000]]);
  it('page-selective-within-domain: second-stage entries in the range; every first-stage and nested entry of the DID', () => {
    const { e, has } = setup();
    vtdIotlbInvalidate(e, 'page', 2, 0x1000n, 0);
    expect(has(VTD_SS, 2, 0, 0x1000)).toBe(false);
    expect(has(VTD_SS, 2, 0, 0x9000)).toBe(true);
    expect(has(VTD_FS, 2, 5, 0x1000)).toBe(false);
    expect(has(VTD_NESTED, 2, 5, 0x9000)).toBe(false);
    expect(has(VTD_SS, 3, 0, 0x1000)).toBe(true);
  });
  it('domain-selective: everything of the DID, nothing else; global: everything', () => {
    const { e, has } = setup();
    vtdIotlbInvalidate(e, 'domain', 3);
    expect(has(VTD_SS, 3, 0, 0x1000) || has(VTD_FS, 3, 7, 0x1000)).toBe(false);
    expect(has(VTD_SS, 2, 0, 0x1000)).toBe(true);
    vtdIotlbInvalidate(e, 'global');
    expect(has(VTD_SS, 2, 0, 0x9000) || has(VTD_NESTED, 2, 5, 0x9000)).toBe(false);
  });
  it('PASID-based IOTLB never drops second-stage-only entries; page-selective keeps other pages', () => {
    const { e, has } = setup();
    vtdPiotlbInvalidate(e, 'page', 2, 5, 0x1000n, 0);
    expect(has(VTD_FS, 2, 5, 0x1000)).toBe(false);
    expect(has(VTD_NESTED, 2, 5, 0x9000)).toBe(true);
    expect(has(VTD_SS, 2, 0, 0x1000)).toBe(true);
    vtdPiotlbInvalidate(e, 'pasid', 2, 5);
    expect(has(VTD_NESTED, 2, 5, 0x9000)).toBe(false);
    expect(has(VTD_SS, 2, 0, 0x9000)).toBe(true);
    expect(has(VTD_FS, 3, 7, 0x1000)).toBe(true);
  });
  it('IH = 1 keeps the paging-structure caches, IH = 0 drops them', () => {
    const e = new IotlbEngine('sticky', 64);
    const c = e.context(VTD_SS, 2, 0);
    e.fillWalk(c, 0, 0x200000, 21, 0x7000);
    vtdIotlbInvalidate(e, 'page', 2, 0x200000n, 0, true);
    expect(e.lookupWalk(c, 0, 0x200000, 21)).toBeGreaterThanOrEqual(0);
    vtdIotlbInvalidate(e, 'page', 2, 0x200000n, 0, false);
    expect(e.lookupWalk(c, 0, 0x200000, 21)).toBe(-1);
  });
});

describe('SMMUv3 TLBI (spec §4.4)', () => {
  const setup = () => cache([[SMMU_S1, 0, 1, 0x1000], [SMMU_S1, 0, 2, 0x1000], [SMMU_NESTED, 4, 1, 0x1000], [SMMU_NESTED, 4, 1, 0x200000, 21], [SMMU_S2, 4, 0, 0x1000], [SMMU_NESTED, 5, 1, 0x1000]]);
  it('NH_VA: that ASID and VMID at that address only; NH_VAA: every ASID of the VMID', () => {
    const { e, has } = setup();
    smmuTlbi(e, { opcode: CMDQ_OP_TLBI_NH_VA, vmid: 4, asid: 1, addr: 0x1000n });
    expect(has(SMMU_NESTED, 4, 1, 0x1000)).toBe(false);
    expect(has(SMMU_NESTED, 4, 1, 0x200000)).toBe(true);
    expect(has(SMMU_NESTED, 5, 1, 0x1000)).toBe(true);
    expect(has(SMMU_S2, 4, 0, 0x1000)).toBe(true);
    smmuTlbi(e, { opcode: CMDQ_OP_TLBI_NH_VAA, vmid: 0, addr: 0x1000n });
    expect(has(SMMU_S1, 0, 1, 0x1000) || has(SMMU_S1, 0, 2, 0x1000)).toBe(false);
  });
  it('TTL: a range TLBI that names level 3 leaves a 2 MiB block in place', () => {
    const { e, has } = setup();
    smmuTlbi(e, { opcode: CMDQ_OP_TLBI_NH_VA, vmid: 4, asid: 1, addr: 0x200000n, tg: 1, num: 31, scale: 4, ttl: 3 });
    expect(has(SMMU_NESTED, 4, 1, 0x200000)).toBe(true);
    smmuTlbi(e, { opcode: CMDQ_OP_TLBI_NH_VA, vmid: 4, asid: 1, addr: 0x200000n, tg: 1, num: 0, scale: 0, ttl: 2 });
    expect(has(SMMU_NESTED, 4, 1, 0x200000)).toBe(false);
  });
  it('S2_IPA drops stage-2 entries only; NH_ASID / NH_ALL stage-1 and combined; S12_VMALL the whole VMID; NSNH_ALL everything', () => {
    const { e, has } = setup();
    smmuTlbi(e, { opcode: CMDQ_OP_TLBI_S2_IPA, vmid: 4, addr: 0x1000n });
    expect(has(SMMU_S2, 4, 0, 0x1000)).toBe(false);
    expect(has(SMMU_NESTED, 4, 1, 0x1000)).toBe(true);
    smmuTlbi(e, { opcode: CMDQ_OP_TLBI_NH_ASID, vmid: 0, asid: 2 });
    expect(has(SMMU_S1, 0, 2, 0x1000)).toBe(false);
    expect(has(SMMU_S1, 0, 1, 0x1000)).toBe(true);
    smmuTlbi(e, { opcode: CMDQ_OP_TLBI_NH_ALL, vmid: 4 });
    expect(has(SMMU_NESTED, 4, 1, 0x1000)).toBe(false);
    expect(has(SMMU_NESTED, 5, 1, 0x1000)).toBe(true);
    smmuTlbi(e, { opcode: CMDQ_OP_TLBI_S12_VMALL, vmid: 5 });
    expect(has(SMMU_NESTED, 5, 1, 0x1000)).toBe(false);
    smmuTlbi(e, { opcode: CMDQ_OP_TLBI_NSNH_ALL });
    expect(has(SMMU_S1, 0, 1, 0x1000)).toBe(false);
  });
  it('decodes the command words (IHI 0070 §4.4 field positions)', () => {
    // NH_VA, NUM 3, SCALE 1, VMID 7, ASID 9; Leaf, TTL 3, TG 1, ADDR 0x8040203000.
    const w0 = 0x12n | (3n << 12n) | (1n << 20n) | (7n << 32n) | (9n << 48n);
    const w1 = 1n | (3n << 8n) | (1n << 10n) | 0x8040203000n;
    expect(decodeTlbi(w0, w1)).toEqual({ opcode: 0x12, num: 3, scale: 1, vmid: 7, asid: 9, leaf: true, ttl: 3, tg: 1, addr: 0x8040203000n });
  });
});

describe('AMD INVALIDATE_IOMMU_PAGES (48882 §2.4.3)', () => {
  it('GN = 0 selects host entries of the DomainID, GN = 1 guest entries of DomainID + PASID; PDE = 0 keeps PDE caches', () => {
    const { e, has } = cache([[AMD_HOST, 1, 0, 0x4000], [AMD_HOST, 1, 0, 0x8000], [AMD_GUEST, 1, 3, 0x4000], [AMD_HOST, 2, 0, 0x4000]]);
    amdInvalidatePages(e, { domainId: 1, s: true, pde: true, address: 0x4000n }); // 8 KiB at 0x4000
    expect(has(AMD_HOST, 1, 0, 0x4000)).toBe(false);
    expect(has(AMD_HOST, 1, 0, 0x8000)).toBe(true);
    expect(has(AMD_GUEST, 1, 3, 0x4000)).toBe(true);
    expect(has(AMD_HOST, 2, 0, 0x4000)).toBe(true);
    amdInvalidatePages(e, { domainId: 1, pasid: 3, gn: true, s: false, pde: false, address: 0x4000n });
    expect(has(AMD_GUEST, 1, 3, 0x4000)).toBe(false);
    const c = e.context(AMD_HOST, 2, 0);
    e.fillWalk(c, 0, 0, 21, 0x9000);
    amdInvalidatePages(e, { domainId: 2, s: true, pde: false, address: AMD_ALL_PAGES_ADDRESS });
    expect(has(AMD_HOST, 2, 0, 0x4000)).toBe(false);
    expect(e.lookupWalk(c, 0, 0, 21)).toBeGreaterThanOrEqual(0);
    amdInvalidateAll(e);
    expect(e.lookupWalk(c, 0, 0, 21)).toBe(-1);
  });
});

describe('RISC-V IOTINVAL (IOMMU spec §3.1.1)', () => {
  const setup = () => cache([[RV_HOST, 0, 1, 0x1000], [RV_HOST, 0, 2, 0x1000], [RV_VS, 7, 1, 0x1000], [RV_G, 7, 0, 0x1000], [RV_G, 8, 0, 0x1000]]);
  it('VMA: GV selects host or the GSCID, PSCV the PSCID, AV the address', () => {
    const { e, has } = setup();
    riscvIotinval(e, { gvma: false, gv: false, av: true, pscv: false, addr: 0x1000n });
    expect(has(RV_HOST, 0, 1, 0x1000) || has(RV_HOST, 0, 2, 0x1000)).toBe(false);
    expect(has(RV_VS, 7, 1, 0x1000)).toBe(true);
    riscvIotinval(e, { gvma: false, gv: true, av: false, pscv: true, gscid: 7, pscid: 2 });
    expect(has(RV_VS, 7, 1, 0x1000)).toBe(true);
    riscvIotinval(e, { gvma: false, gv: true, av: false, pscv: true, gscid: 7, pscid: 1 });
    expect(has(RV_VS, 7, 1, 0x1000)).toBe(false);
    expect(has(RV_G, 7, 0, 0x1000)).toBe(true);
  });
  it('GVMA: G-stage entries of the GSCID (and the VS entries built on them); PSCV = 1 is illegal', () => {
    const { e, has } = setup();
    expect(riscvIotinval(e, { gvma: true, gv: true, av: false, pscv: true, gscid: 7 })).toBe(false);
    riscvIotinval(e, { gvma: true, gv: true, av: true, pscv: false, gscid: 7, addr: 0x1000n });
    expect(has(RV_G, 7, 0, 0x1000)).toBe(false);
    expect(has(RV_VS, 7, 1, 0x1000)).toBe(false);
    expect(has(RV_G, 8, 0, 0x1000)).toBe(true);
    expect(has(RV_HOST, 0, 1, 0x1000)).toBe(true);
  });
  it('NL = 0 with AV keeps non-leaf entries; NL = 1 drops them', () => {
    const e = new IotlbEngine('sticky', 64);
    const c = e.context(RV_HOST, 0, 1);
    e.fillWalk(c, 0, 0, 21, 0x9000);
    riscvIotinval(e, { gvma: false, gv: false, av: true, pscv: true, pscid: 1, addr: 0n });
    expect(e.lookupWalk(c, 0, 0, 21)).toBeGreaterThanOrEqual(0);
    riscvIotinval(e, { gvma: false, gv: false, av: true, pscv: true, pscid: 1, addr: 0n, nl: true });
    expect(e.lookupWalk(c, 0, 0, 21)).toBe(-1);
  });
});
