/**
 * Golden values for the VT-d model. Register literals were computed by hand from the field
 * positions of Linux drivers/iommu/intel/iommu.h (cap_* / ecap_* macros; VT-d spec §11.4.2-3),
 * written out in the comments; decoders below restate those macros, not our encoder.
 */
import { describe, expect, it } from 'vitest';
import { KnobError } from './knobs.ts';
import {
  createIntelVtdProfile,
  IOAPIC_RANGE_END,
  IOAPIC_RANGE_START,
  vtdInvalidateUser,
} from './intel-vtd.ts';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_VTD_S1,
  type PagingPlan,
} from './unit-profile.ts';

// Linux iommu.h macros, restated.
const cap_sagaw = (c: bigint) => Number((c >> 8n) & 0x1fn);
const cap_mgaw = (c: bigint) => Number((c >> 16n) & 0x3fn) + 1;
const cap_super_page_val = (c: bigint) => Number((c >> 34n) & 0xfn);
const cap_fl5lp_support = (c: bigint) => Number((c >> 60n) & 1n);
const cap_ndoms = (c: bigint) => 1 << (4 + 2 * Number(c & 7n));
const ecap_pss = (e: bigint) => Number((e >> 35n) & 0x1fn);
const ecap_slads = (e: bigint) => Number((e >> 45n) & 1n);
const ecap_smts = (e: bigint) => Number((e >> 43n) & 1n);
const ecap_nest = (e: bigint) => Number((e >> 26n) & 1n);

describe('intel-vtd registers', () => {
  it('default CAP_REG is 0x09d2078c406f0466', () => {
    // ND=6 (0x6) | PLMR b5 | PHMR b6 (0x60) | SAGAW=0b00100 <<8 (0x400) | MGAW=47 <<16 (0x2f0000)
    // | ZLR b22 (0x400000) | FRO=0x40 <<24 (0x40000000) | SLLPS=0b11 <<34 (0xc_0000_0000)
    // | PSI b39 (0x80_0000_0000) | NFR=7 <<40 (0x700_0000_0000) | MAMV=18 <<48 (0x12 <<48)
    // | DWD b54 | DRD b55 | FL1GP b56 | PI b59  → upper 16 bits 0x0012+0x40+0x80+0x100+0x800 = 0x09d2
    const p = createIntelVtdProfile({ model: 'intel-vtd' });
    expect(p.registers.CAP_REG).toBe(0x09d2078c406f0466n);
    expect(cap_sagaw(p.registers.CAP_REG)).toBe(0b00100);
    expect(cap_mgaw(p.registers.CAP_REG)).toBe(48);
    expect(cap_super_page_val(p.registers.CAP_REG)).toBe(0b11);
    expect(cap_ndoms(p.registers.CAP_REG)).toBe(65536);
  });

  it('default ECAP_REG is 0x0001ef98a4f0505f', () => {
    // C b0 | QI b1 | DT b2 | IR b3 | EIM b4 | PT b6 (0x5f) | IRO=0x50 <<8 (0x5000) | MHMV=0xf <<20
    // | NEST b26 | PRS b29 | SRS b31 → low 32 bits 0xa4f0505f
    // | PSS=19 <<35 (0x98_0000_0000) | PASID b40 | DIT b41 | PDS b42 | SMTS b43 (0xf00_0000_0000)
    // | SSADS b45 | SSTS b46 | FSTS b47 (0xe000_0000_0000) | SMPWC b48 (0x1_0000_0000_0000)
    const p = createIntelVtdProfile({});
    expect(p.registers.ECAP_REG).toBe(0x0001ef98a4f0505fn);
    expect(ecap_pss(p.registers.ECAP_REG)).toBe(19);
    expect(ecap_slads(p.registers.ECAP_REG)).toBe(1);
    expect(ecap_smts(p.registers.ECAP_REG)).toBe(1);
    expect(ecap_nest(p.registers.ECAP_REG)).toBe(1);
  });

  it.each([
    // levels 3: SAGAW 0b00010 (0x200), MGAW 38 (0x260000), FL5LP clear
    [3, 0x09d2078c40660266n, 0b00010, 39],
    [4, 0x09d2078c406f0466n, 0b00100, 48],
    // levels 5: SAGAW 0b01000 (0x800), MGAW 56 (0x380000), FL5LP b60 → upper 0x19d2
    [5, 0x19d2078c40780866n, 0b01000, 57],
  ])('levels %i → CAP_REG %s', (levels, cap, sagaw, width) => {
    const p = createIntelVtdProfile({ levels });
    expect(p.registers.CAP_REG).toBe(cap);
    expect(cap_sagaw(cap)).toBe(sagaw);
    expect(cap_mgaw(cap)).toBe(width);
    expect(cap_fl5lp_support(cap)).toBe(levels === 5 ? 1 : 0);
  });
});

describe('intel-vtd GET_HW_INFO', () => {
  it('returns struct iommu_hw_info_vtd, type 1, 24 bytes, errata flag set', () => {
    const info = createIntelVtdProfile({}).hwInfo(0);
    if ('errno' in info) throw new Error('unexpected errno');
    expect(info.type).toBe(1);
    const hex = Buffer.from(info.bytes).toString('hex');
    // flags=1 (LE u32), __reserved=0, cap_reg LE, ecap_reg LE
    expect(hex).toBe('01000000' + '00000000' + '66046f408c07d209' + '5f50f0a498ef0100');
  });

  it('answers type INTEL_VTD when asked for it and EOPNOTSUPP for another type', () => {
    const p = createIntelVtdProfile({});
    expect('errno' in p.hwInfo(1)).toBe(false);
    expect(p.hwInfo(2)).toEqual({ errno: 'EOPNOTSUPP' });
  });

  it('reports dirty tracking only with SMTS, SSADS and SMPWC; PASID log2 = PSS+1', () => {
    expect(createIntelVtdProfile({}).capabilities).toBe(IOMMU_HW_CAP_DIRTY_TRACKING);
    expect(createIntelVtdProfile({ dirty: false }).capabilities).toBe(0);
    expect(createIntelVtdProfile({ coherent: false }).capabilities).toBe(0);
    expect(createIntelVtdProfile({}).maxPasidLog2).toBe(20);
    expect(createIntelVtdProfile({ pasid_bits: 16 }).maxPasidLog2).toBe(16);
    expect(createIntelVtdProfile({ pasid_bits: 0 }).maxPasidLog2).toBe(0);
    expect(createIntelVtdProfile({ scalable: false }).maxPasidLog2).toBe(0);
  });
});

describe('intel-vtd paging domains', () => {
  const plan = (knobs: Record<string, unknown>, flags: number): PagingPlan => {
    const r = createIntelVtdProfile(knobs).planPaging(flags);
    if (!r.ok) throw new Error(`${r.errno}: ${r.why}`);
    return r.plan;
  };

  it.each([
    [3, 3, 0x7fffffffffn],
    [4, 4, 0xffffffffffffn],
    [5, 5, 0x1ffffffffffffffn],
  ])('levels %i: NEST_PARENT → vtd-ss with %i levels, aperture [0, %s]', (levels, ssLevels, end) => {
    const p = plan({ levels }, IOMMU_HWPT_ALLOC_NEST_PARENT);
    expect(p.config.format).toBe('vtd-ss');
    expect(p.config.levels).toBe(ssLevels);
    expect(p.aperture).toEqual({ start: 0n, end });
    expect(p.pgsizeBitmap).toBe(0x40201000n); // 4K | 2M | 1G
  });

  it('default flags pick the first stage with a canonical aperture (skip bit gaw−1)', () => {
    const p = plan({}, 0);
    expect(p.config.format).toBe('vtd-fs');
    expect(p.config.levels).toBe(4);
    expect(p.aperture.end).toBe(0x7fffffffffffn);
    const p5 = plan({ levels: 5 }, IOMMU_HWPT_ALLOC_PASID);
    expect(p5.config.levels).toBe(5);
    expect(p5.aperture.end).toBe(0xffffffffffffffn);
    expect(p5.pasidCapable).toBe(true);
  });

  it('without the first stage a plain domain is second stage', () => {
    expect(plan({ first_stage: false }, 0).config.format).toBe('vtd-ss');
  });

  it('DIRTY_TRACKING needs SSADS; NEST_PARENT needs NEST; unknown flags are EOPNOTSUPP', () => {
    expect(plan({}, IOMMU_HWPT_ALLOC_DIRTY_TRACKING).dirtyTracking).toBe(true);
    expect(createIntelVtdProfile({ dirty: false }).planPaging(IOMMU_HWPT_ALLOC_DIRTY_TRACKING)).toMatchObject({ ok: false, errno: 'EOPNOTSUPP' });
    expect(createIntelVtdProfile({ nesting: false }).planPaging(IOMMU_HWPT_ALLOC_NEST_PARENT)).toMatchObject({ ok: false, errno: 'EOPNOTSUPP' });
    expect(createIntelVtdProfile({}).planPaging(1 << 4)).toMatchObject({ ok: false, errno: 'EOPNOTSUPP' });
  });

  it('table config: SLLPS/FS1GP cap the leaf size; a nest parent refuses read-only maps (errata)', () => {
    expect(plan({}, IOMMU_HWPT_ALLOC_NEST_PARENT).config).toEqual({
      format: 'vtd-ss', levels: 4, granule: 4096, ias: 48, oas: 52, max_leaf_lg2: 30, force_writeable: true,
    });
    expect(plan({ superpages: ['2M'] }, IOMMU_HWPT_ALLOC_DIRTY_TRACKING).config).toEqual({
      format: 'vtd-ss', levels: 4, granule: 4096, ias: 48, oas: 52, max_leaf_lg2: 21,
    });
    expect(plan({ superpages: [] }, IOMMU_HWPT_ALLOC_DIRTY_TRACKING).config.max_leaf_lg2).toBe(12);
    expect(plan({}, 0).config).toEqual({ format: 'vtd-fs', levels: 4, granule: 4096, ias: 48, oas: 52, max_leaf_lg2: 30 });
  });

  it('SLLPS drives second-stage page sizes; FS1GP drives first-stage 1G', () => {
    expect(plan({ superpages: [] }, IOMMU_HWPT_ALLOC_NEST_PARENT).pgsizeBitmap).toBe(0x1000n);
    expect(plan({ superpages: ['2M'] }, IOMMU_HWPT_ALLOC_NEST_PARENT).pgsizeBitmap).toBe(0x201000n);
    expect(plan({}, 0).pgsizeBitmap).toBe(0x40201000n);
  });

  it('mgaw caps the address width', () => {
    const p = plan({ levels: 5, mgaw: 52 }, IOMMU_HWPT_ALLOC_NEST_PARENT);
    expect(p.aperture.end).toBe(0xfffffffffffffn);
    expect(p.config.levels).toBe(5);
  });

  it('attach of a domain from another unit: EINVAL on any mismatch', () => {
    const big = plan({ levels: 5 }, IOMMU_HWPT_ALLOC_NEST_PARENT);
    const small = createIntelVtdProfile({ levels: 4 });
    expect(small.checkAttach(big)).toBe('EINVAL');
    expect(createIntelVtdProfile({ levels: 5 }).checkAttach(big)).toBeNull();
    const dirty = plan({}, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    expect(createIntelVtdProfile({ dirty: false }).checkAttach(dirty)).toBe('EINVAL');
    expect(createIntelVtdProfile({ levels: 5, superpages: ['2M'] }).checkAttach(big)).toBe('EINVAL');
    expect(small.checkAttach({ ...big, unitModel: 'amd-vi' })).toBe('EINVAL');
  });
});

describe('intel-vtd reserved regions and nesting', () => {
  it('reports the IOAPIC/MSI window 0xfee00000-0xfeefffff as IOMMU_RESV_MSI', () => {
    expect(createIntelVtdProfile({}).reservedRegions).toEqual([{ start: 0xfee00000n, last: 0xfeefffffn, kind: 'msi' }]);
    expect(IOAPIC_RANGE_END - IOAPIC_RANGE_START + 1n).toBe(0x100000n);
  });

  const s1 = (flags: bigint, addr: bigint, aw: number, extra = 0): Uint8Array => {
    const b = new Uint8Array(24 + extra);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, flags, true);
    v.setBigUint64(8, addr, true);
    v.setUint32(16, aw, true);
    return b;
  };

  it('VTD_S1 data: flags, type, parent, then iommu_copy_struct_from_user length rules', () => {
    const p = createIntelVtdProfile({});
    const parentR = p.planPaging(IOMMU_HWPT_ALLOC_NEST_PARENT);
    if (!parentR.ok) throw new Error('parent');
    const parent = parentR.plan;
    const dd = (bytes: Uint8Array | null, type = IOMMU_HWPT_DATA_VTD_S1, len = bytes?.length ?? 24) => ({ type, lengthBytes: len, bytes });
    const ok = p.planNested!(parent, 0, dd(s1(0n, 0x1000n, 48)));
    expect(ok).toMatchObject({ ok: true, nested: { format: 'vtd-fs', fields: { pgtbl_addr: 0x1000n, addr_width: 48n } } });
    expect(p.planNested!(parent, 0, dd(s1(0n, 0n, 48), 2))).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(p.planNested!(parent, IOMMU_HWPT_ALLOC_NEST_PARENT, dd(s1(0n, 0n, 48)))).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(p.planNested!(parent, IOMMU_HWPT_ALLOC_PASID, dd(s1(0n, 0n, 48)))).toMatchObject({ ok: true });
    const plain = p.planPaging(0);
    if (!plain.ok) throw new Error('plain');
    expect(p.planNested!(plain.plan, 0, dd(s1(0n, 0n, 48)))).toMatchObject({ errno: 'EINVAL' });
    expect(p.planNested!(parent, 0, dd(s1(0n, 0n, 48).subarray(0, 20)))).toMatchObject({ errno: 'EINVAL' });
    // data_len above sizeof(struct iommu_hwpt_vtd_s1) is EINVAL, even when the tail is zero
    expect(p.planNested!(parent, 0, dd(s1(0n, 0n, 48, 8)))).toMatchObject({ errno: 'EINVAL' });
    expect(p.planNested!(parent, 0, dd(null, IOMMU_HWPT_DATA_VTD_S1, 24))).toMatchObject({ errno: 'EFAULT' });
    expect(createIntelVtdProfile({ nesting: false }).planNested!(parent, 0, dd(s1(0n, 0n, 48)))).toMatchObject({ errno: 'EOPNOTSUPP' });
  });

  it('nested attach: addr_width 48, or 57 with FS5LP; SRE needs SRS; EAFE needs EAFS', () => {
    const p4 = createIntelVtdProfile({});
    const p5 = createIntelVtdProfile({ levels: 5 });
    expect(p4.checkNestedAttach({ flags: 0n, addr_width: 48n })).toBeNull();
    expect(p4.checkNestedAttach({ flags: 0n, addr_width: 57n })).toBe('EINVAL');
    expect(p5.checkNestedAttach({ flags: 0n, addr_width: 57n })).toBeNull();
    expect(p4.checkNestedAttach({ flags: 0n, addr_width: 39n })).toBe('EINVAL');
    expect(p4.checkNestedAttach({ flags: 1n, addr_width: 48n })).toBeNull();
    expect(createIntelVtdProfile({ supervisor_requests: false }).checkNestedAttach({ flags: 1n, addr_width: 48n })).toBe('EINVAL');
    expect(p4.checkNestedAttach({ flags: 2n, addr_width: 48n })).toBe('EINVAL');
  });
});

describe('intel-vtd knobs', () => {
  it.each([
    [{ levels: 6 }, 'levels'],
    [{ levels: '4' }, 'levels'],
    [{ superpages: ['1G'] }, 'superpages'],
    [{ superpages: ['4K'] }, 'superpages'],
    [{ pasid_bits: 21 }, 'pasid_bits'],
    [{ mgaw: 20 }, 'mgaw'],
    [{ colour: 'blue' }, 'colour'],
    [{ model: 'amd-vi' }, 'model'],
  ])('rejects %j naming %s', (knobs, key) => {
    try {
      createIntelVtdProfile(knobs as Record<string, unknown>);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KnobError);
      expect((e as KnobError).key).toBe(key);
      expect((e as Error).message).toContain(`'${key}'`);
    }
  });
});

describe('intel-vtd nested cache invalidation (intel_nested_cache_invalidate_user)', () => {
  const entry = (addr: bigint, npages: bigint, flags = 0, reserved = 0, extra = 0): Uint8Array => {
    const b = new Uint8Array(24 + extra);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, addr, true);
    v.setBigUint64(8, npages, true);
    v.setUint32(16, flags, true);
    v.setUint32(20, reserved, true);
    return b;
  };
  const run = (entries: Array<Uint8Array | null>, entryLenBytes = 24, dataType = 0) =>
    vtdInvalidateUser({ dataType, entryLenBytes, entryNum: entries.length, readEntry: (i) => entries[i] });

  it('accepts 4K-aligned ranges, the LEAF flag, and addr 0 with npages U64_MAX (all)', () => {
    expect(run([entry(0x1000n, 1n), entry(0n, (1n << 64n) - 1n, 1)])).toEqual({ handled: 2 });
    expect(run([])).toEqual({ handled: 0 });
  });
  it('stops at the first bad entry and reports how many were handled', () => {
    expect(run([entry(0x1000n, 1n), entry(0x1001n, 1n)])).toEqual({ handled: 1, errno: 'EINVAL' });
    expect(run([entry(0x2000n, (1n << 64n) - 1n)])).toEqual({ handled: 0, errno: 'EINVAL' });
    expect(run([entry(0n, 1n), entry(0n, 1n, 2)])).toEqual({ handled: 1, errno: 'EOPNOTSUPP' });
    // A non-zero __reserved is EOPNOTSUPP, like an unknown flag (nested.c since 6.8).
    expect(run([entry(0n, 1n), entry(0n, 1n, 0, 1)])).toEqual({ handled: 1, errno: 'EOPNOTSUPP' });
    expect(run([entry(0n, 1n), null])).toEqual({ handled: 1, errno: 'EFAULT' });
  });
  it('data type, short and long entries (__iommu_copy_struct_from_user: any length but 24 is EINVAL)', () => {
    expect(run([entry(0n, 1n)], 24, 1)).toEqual({ handled: 0, errno: 'EINVAL' });
    expect(run([entry(0n, 1n).subarray(0, 16)], 16)).toEqual({ handled: 0, errno: 'EINVAL' });
    expect(run([entry(0n, 1n, 0, 0, 8)], 32)).toEqual({ handled: 0, errno: 'EINVAL' });
    const tail = entry(0n, 1n, 0, 0, 8);
    tail[31] = 1;
    expect(run([tail], 32)).toEqual({ handled: 0, errno: 'EINVAL' });
  });
});
