import { describe, expect, it } from 'vitest';
import { createUnit } from './registry.ts';
import {
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
} from './mock.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HW_CAP_DIRTY_TRACKING } from './unit.ts';
import type { NestedDomain, PagingDomainSpec, UnitDevice } from './unit.ts';

const dev: UnitDevice = { name: 'dev0', noDirty: false, pasid: false };
const noDirty: UnitDevice = { name: 'dev1', noDirty: true, pasid: false };
const le32 = (...words: number[]): Uint8Array => {
  const b = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(b.buffer).setUint32(i * 4, w >>> 0, true));
  return b;
};

describe('mock unit (selftest.c)', () => {
  const unit = createUnit({ model: 'mock' });

  it('hw_info: type SELFTEST with test_reg 0xdeadbeef; SELFTEST+1 → EOPNOTSUPP (iommufd_ioas.get_hw_info)', () => {
    const info = unit.hwInfo(dev, 0);
    expect(info?.ok && info.value.type).toBe(IOMMU_HW_INFO_TYPE_SELFTEST);
    expect(info?.ok && Array.from(info.value.bytes)).toEqual([0, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde]);
    expect(unit.hwInfo(dev, IOMMU_HW_INFO_TYPE_SELFTEST + 1)).toMatchObject({ ok: false, errno: 'EOPNOTSUPP' });
  });

  it('dirty capability follows no_dirty, ATS is never usable (iommufd_dirty_tracking.device_dirty_capability; device.c PCI_ATS_NOT_SUPPORTED)', () => {
    expect(unit.capabilities(dev)).toBe(IOMMU_HW_CAP_DIRTY_TRACKING | 8);
    expect(unit.capabilities(noDirty)).toBe(8);
    expect(unit.maxPasidLog2({ ...dev, pasid: true })).toBe(20);
  });

  it('paging: 2048-byte pages in the mock aperture; unknown flag and dirty on no_dirty → EOPNOTSUPP (enforce_dirty)', () => {
    const r = unit.allocPaging(dev, 0, null);
    expect(r.ok).toBe(true);
    const spec = (r as { value: PagingDomainSpec }).value;
    expect(spec.pgsizeBitmap).toBe(2048n);
    expect(spec.aperture).toEqual({ start: MOCK_APERTURE_START, last: MOCK_APERTURE_LAST });
    expect(unit.allocPaging(dev, 1 << 4, null)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(unit.allocPaging(noDirty, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null)).toMatchObject({ errno: 'EOPNOTSUPP' });
    const d = unit.allocPaging(dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null);
    expect(d.ok && unit.checkAttach(noDirty, d.value)).toBe('EINVAL');
  });

  it('huge table type: MOCK_HUGE_PAGE_SIZE | PAGE_SIZE', () => {
    const r = unit.allocPaging(dev, 0, { type: IOMMU_HWPT_DATA_SELFTEST, lengthBytes: 8, bytes: le32(0, 1) });
    expect(r.ok && r.value.pgsizeBitmap).toBe(BigInt(512 * 2048 + 4096));
  });

  it('nested: data checks in the order of the driver (iommufd_ioas.alloc_hwpt_nested)', () => {
    const p = unit.allocPaging(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null);
    if (!p.ok) throw new Error('parent');
    const nest = unit.allocNested!.bind(unit);
    expect(nest(dev, p.value, 0, { type: IOMMU_HWPT_DATA_SELFTEST + 1, lengthBytes: 8, bytes: le32(1, 0) })).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(nest(dev, p.value, 0, { type: IOMMU_HWPT_DATA_SELFTEST, lengthBytes: 3, bytes: new Uint8Array(3) })).toMatchObject({ errno: 'EINVAL' });
    expect(nest(dev, p.value, 0, { type: IOMMU_HWPT_DATA_SELFTEST, lengthBytes: 8, bytes: null })).toMatchObject({ errno: 'EFAULT' });
    expect(nest(dev, p.value, IOMMU_HWPT_ALLOC_NEST_PARENT, { type: IOMMU_HWPT_DATA_SELFTEST, lengthBytes: 8, bytes: le32(1, 0) })).toMatchObject({ errno: 'EOPNOTSUPP' });
    const n = nest(dev, p.value, 0, { type: IOMMU_HWPT_DATA_SELFTEST, lengthBytes: 8, bytes: le32(0xbadbeef, 0) });
    if (!n.ok) throw new Error('nested');
    const nested: NestedDomain = n.value;
    const arr = (entries: Uint8Array[], entryLenBytes = 8, dataType = IOMMU_HWPT_INVALIDATE_DATA_SELFTEST) => ({
      dataType, entryLenBytes, entryNum: entries.length, readEntry: (i: number) => entries[i],
    });
    expect(nested.invalidateUser!(arr([], 8, 0))).toEqual({ handled: 0, errno: 'EINVAL' });
    expect(nested.invalidateUser!(arr([le32(0, 0)], 9))).toEqual({ handled: 0, errno: 'EINVAL' });
    expect(nested.invalidateUser!(arr([le32(0xffffffff, 0)]))).toEqual({ handled: 0, errno: 'EOPNOTSUPP' });
    expect(nested.invalidateUser!(arr([le32(0, 4)]))).toEqual({ handled: 0, errno: 'EINVAL' });
    expect(nested.invalidateUser!(arr([le32(0, 0), le32(0, 4)]))).toEqual({ handled: 1, errno: 'EINVAL' });
    expect(nested.dumpState!()).toEqual({ iotlb: [0, 0xbadbeef, 0xbadbeef, 0xbadbeef] });
    expect(nested.invalidateUser!(arr([le32(1, 0)]))).toEqual({ handled: 1 });
    expect(nested.dumpState!()).toEqual({ iotlb: [0, 0, 0, 0] });
  });

  it('rejects unknown models and knobs by name', () => {
    expect(() => createUnit({ model: 'nope' })).toThrow(/unknown model 'nope'/);
    expect(() => createUnit({ model: 'mock', levels: 3 })).toThrow(/unknown knob 'levels'/);
  });
});
