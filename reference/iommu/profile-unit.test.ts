/**
 * The hardware models through the core's IommuUnit interface: what iommufd would see for
 * GET_HW_INFO, capabilities, PASID width, allocation and attach, per model.
 */
import { describe, expect, it } from 'vitest';
import { createUnit } from './registry.ts';
import { ProfileUnit } from './profile-unit.ts';
import { createUnitIotlb, domainCreated, domainIdsOf, IotlbWorld } from '../iotlb/unit-iotlb.ts';
import type { PagingDomain } from '../iommufd/domain.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, type PagingDomainSpec, type UnitDevice } from './unit.ts';

const dev: UnitDevice = { name: 'dev0', noDirty: false, pasid: true };
const plainDev: UnitDevice = { name: 'dev1', noDirty: true, pasid: false };

const paging = (model: Record<string, unknown>, flags = 0): PagingDomainSpec => {
  const r = createUnit(model).allocPaging(dev, flags, null);
  if (!r.ok) throw new Error(`${r.errno} ${r.why}`);
  return r.value;
};

describe('hardware models through IommuUnit', () => {
  it('registers all five models', () => {
    for (const model of ['intel-vtd', 'amd-vi', 'arm-smmuv3', 'riscv-iommu', 'ppc-tce']) {
      expect(createUnit({ model }).model).toBe(model);
    }
  });

  it('hw_info: VT-d, SMMUv3 and AMD give payloads; RISC-V and PPC have no hw_info op', () => {
    expect(createUnit({ model: 'amd-vi' }).hwInfo(dev, 0)).toMatchObject({ ok: true, value: { type: 4 } });
    expect(createUnit({ model: 'amd-vi', hw_info: 'none' }).hwInfo(dev, 0)).toBeNull();
    const vtd = createUnit({ model: 'intel-vtd' }).hwInfo(dev, 0);
    expect(vtd).toMatchObject({ ok: true, value: { type: 1 } });
    expect(createUnit({ model: 'intel-vtd' }).hwInfo(dev, 2)).toMatchObject({ ok: false, errno: 'EOPNOTSUPP' });
    expect(createUnit({ model: 'arm-smmuv3' }).hwInfo(dev, 0)).toMatchObject({ ok: true, value: { type: 2 } });
    for (const model of ['riscv-iommu', 'ppc-tce']) expect(createUnit({ model }).hwInfo(dev, 0)).toBeNull();
  });

  it('capabilities honour no_dirty; PASID width only for PASID devices, capped at 20', () => {
    const vtd = createUnit({ model: 'intel-vtd' });
    expect(vtd.capabilities(dev)).toBe(1);
    expect(vtd.capabilities(plainDev)).toBe(0);
    expect(vtd.maxPasidLog2(dev)).toBe(20);
    expect(vtd.maxPasidLog2(plainDev)).toBe(0);
    expect(createUnit({ model: 'amd-vi' }).maxPasidLog2(dev)).toBe(15);
  });

  it('paging specs carry the PGTABLE_DUMP config and inclusive apertures', () => {
    const s = paging({ model: 'intel-vtd' }, IOMMU_HWPT_ALLOC_NEST_PARENT);
    expect(s.table).toEqual({ format: 'vtd-ss', levels: 4, granule: 4096, ias: 48, oas: 52, max_leaf_lg2: 30, force_writeable: true });
    expect(s.aperture).toEqual({ start: 0n, last: 0xffffffffffffn });
    expect(s.nestParent).toBe(true);
    const t = paging({ model: 'ppc-tce', paging: true });
    expect(t.table).toEqual({ format: 'ppc-tce', levels: 1, granule: 4096, ias: 30, oas: 52, big_endian: true, window: { start: 0n, sizeBytes: 0x40000000n } });
    // The 64-bit DDW window: the table indexes bus pages from 2^59 (it_offset), its input is 60 bits.
    const ddw = paging({ model: 'ppc-tce', paging: true, window_start: '0x800000000000000' });
    expect(ddw.table).toMatchObject({ ias: 60, window: { start: 1n << 59n, sizeBytes: 0x40000000n } });
    expect(ddw.aperture).toEqual({ start: 1n << 59n, last: (1n << 59n) + 0x3fffffffn });
  });

  it('driver data on a paging domain is EOPNOTSUPP; dirty on a no_dirty device is EOPNOTSUPP', () => {
    const u = createUnit({ model: 'intel-vtd' });
    expect(u.allocPaging(dev, 0, { type: 1, lengthBytes: 24, bytes: new Uint8Array(24) })).toMatchObject({ ok: false, errno: 'EOPNOTSUPP' });
    expect(u.allocPaging(plainDev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null)).toMatchObject({ ok: false, errno: 'EOPNOTSUPP' });
  });

  it('attach: same-model compatible units share domains (VT-d), SMMUv3 instances do not', () => {
    const a = createUnit({ model: 'intel-vtd' });
    const b = createUnit({ model: 'intel-vtd' });
    const r = a.allocPaging(dev, 0, null);
    if (!r.ok) throw new Error(r.errno);
    expect(b.checkAttach(dev, r.value)).toBeNull();
    expect(createUnit({ model: 'intel-vtd', levels: 3 }).checkAttach(dev, r.value)).toBe('EINVAL');
    expect(createUnit({ model: 'amd-vi' }).checkAttach(dev, r.value)).toBe('EINVAL');
    const s1 = createUnit({ model: 'arm-smmuv3' });
    const s2 = createUnit({ model: 'arm-smmuv3' });
    const d = s1.allocPaging(dev, 0, null);
    if (!d.ok) throw new Error(d.errno);
    expect(s1.checkAttach(dev, d.value)).toBeNull();
    expect(s2.checkAttach(dev, d.value)).toBe('EINVAL');
    const dirty = a.allocPaging(dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null);
    if (!dirty.ok) throw new Error(dirty.errno);
    expect(a.checkAttach(plainDev, dirty.value)).toBe('EINVAL');
  });

  it('VT-d nesting through the parent; attach checks the stage-1 address width', () => {
    const u = createUnit({ model: 'intel-vtd' });
    const parent = u.allocPaging(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null);
    if (!parent.ok) throw new Error(parent.errno);
    const s1 = (aw: number) => {
      const b = new Uint8Array(24);
      new DataView(b.buffer).setUint32(16, aw, true);
      return { type: 1, lengthBytes: 24, bytes: b };
    };
    const n48 = u.allocNested!(dev, parent.value, 0, s1(48));
    const n57 = u.allocNested!(dev, parent.value, 0, s1(57));
    if (!n48.ok || !n57.ok) throw new Error('nested');
    expect(u.checkAttach(dev, n48.value)).toBeNull();
    expect(u.checkAttach(dev, n57.value)).toBe('EINVAL');
    expect(createUnit({ model: 'arm-smmuv3' }).allocNested).toBeUndefined();
  });

  it('PASID attach: VT-d refuses dirty domains; RISC-V and PPC have no set_dev_pasid', () => {
    const u = createUnit({ model: 'intel-vtd' });
    const d = u.allocPaging(dev, IOMMU_HWPT_ALLOC_PASID, null);
    const dirty = u.allocPaging(dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null);
    if (!d.ok || !dirty.ok) throw new Error('alloc');
    expect(u.setDevPasid!(dev, d.value, 1)).toBeNull();
    expect(u.setDevPasid!(dev, dirty.value, 1)).toBe('EINVAL');
    expect(createUnit({ model: 'riscv-iommu' }).setDevPasid).toBeUndefined();
    const smmu = createUnit({ model: 'arm-smmuv3' });
    const s1 = smmu.allocPaging(dev, 0, null);
    const s2 = smmu.allocPaging(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null);
    if (!s1.ok || !s2.ok) throw new Error('smmu alloc');
    expect(smmu.setDevPasid!(dev, s1.value, 1)).toBeNull();
    expect(smmu.setDevPasid!(dev, s2.value, 1)).toBe('EINVAL');
    expect(createUnit({ model: 'arm-smmuv3', ssid_bits: 0 }).setDevPasid!(dev, s1.value, 1)).toBe('EOPNOTSUPP');
    expect(createUnit({ model: 'ppc-tce' }).setDevPasid).toBeUndefined();
  });

  it('SMMUv3 vIOMMU: init on its own NEST_PARENT only; nested domains attach by the vSTE rules', () => {
    const u = createUnit({ model: 'arm-smmuv3' }) as ProfileUnit;
    const other = createUnit({ model: 'arm-smmuv3' }) as ProfileUnit;
    const world = new IotlbWorld();
    createUnitIotlb(u, undefined, world);
    const parent = u.allocPaging(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null);
    if (!parent.ok) throw new Error('alloc');
    // The driver's S2 allocation takes the VMID (arm_smmu_domain_finalise); the vSMMU uses that one.
    expect(() => u.viommuInit!(dev, 1, parent.value, null, { deviceOf: () => null, virtIdOf: () => null, reportEvent: () => null })).toThrow(/VMID/);
    domainCreated({ spec: parent.value } as unknown as PagingDomain);
    const vmid = domainIdsOf(parent.value)!.vmid;
    let vdev: bigint | null = null;
    const core = { deviceOf: () => null, virtIdOf: () => vdev, reportEvent: () => null };
    expect(u.viommuSupported!(dev, 1)).toBe(true);
    expect(createUnit({ model: 'intel-vtd' }).viommuSupported).toBeUndefined();
    expect(other.viommuInit!(dev, 1, parent.value, null, core)).toMatchObject({ ok: false, errno: 'EINVAL' });
    const v = u.viommuInit!(dev, 1, parent.value, null, core);
    if (!v.ok) throw new Error('viommu');
    expect(v.value.dumpState?.()).toMatchObject({ vmid });
    const ste = new Uint8Array(16);
    new DataView(ste.buffer).setBigUint64(0, 0x100bn, true);
    const n = v.value.allocNested!(0, { type: 2, lengthBytes: 16, bytes: ste });
    if (!n.ok) throw new Error('nested');
    expect(n.value.invalidateUser).toBeUndefined();
    expect(u.checkAttach(dev, n.value)).toBe('ENOENT');
    vdev = 0x99n;
    expect(u.checkAttach(dev, n.value)).toBeNull();
    expect(other.checkAttach(dev, n.value)).toBe('EINVAL');
  });
});
