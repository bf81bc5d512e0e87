import { beforeEach, describe, expect, it } from 'vitest';
import { Machine } from '../machine/machine.ts';
import { IOMMU_HWPT_DATA_SELFTEST, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, IOMMU_HW_INFO_TYPE_SELFTEST } from '../iommu/mock.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_FAULT_ID_VALID } from '../iommu/unit.ts';
import { IommufdContext } from './context.ts';
import { attachDevice, bindDevice } from './device.ts';
import { UapiError } from './errors.ts';
import { getHwInfo, hwptAlloc, hwptInvalidate } from './hwpt.ts';
import { big, errnoOf } from './test-helpers.ts';


const topology = {
  bridges: [{ name: 'pci0', iommu: { model: 'mock' } }],
  devices: [{ name: 'dev0', bridge: 'pci0' }, { name: 'pasid0', bridge: 'pci0', flags: ['pasid'] }, { name: 'nodirty', bridge: 'pci0', flags: ['no_dirty'] }],
};
let m: Machine;
let ctx: IommufdContext;
let scratch: number;
const le32 = (...w: number[]) => {
  const b = new Uint8Array(4 * w.length);
  w.forEach((x, i) => new DataView(b.buffer).setUint32(4 * i, x >>> 0, true));
  return b;
};
const put = (bytes: Uint8Array, at = 0) => {
  m.memory.write(scratch + at, bytes);
  return scratch + at;
};
const alloc = (o: Record<string, number | bigint>) =>
  hwptAlloc(ctx, big({ flags: 0, dev_id: 0, pt_id: 0, __reserved: 0, data_type: 0, data_len: 0, data_uptr: 0, fault_id: 0, __reserved2: 0, ...o }));

let ioas: number;
let dev: number;
beforeEach(() => {
  m = new Machine(topology);
  ctx = new IommufdContext(3, m, new Map());
  scratch = m.memory.mmap(4 * 4096);
  ioas = Number(ctx.ioasAlloc(big({ flags: 0 })).out_ioas_id);
  dev = bindDevice(ctx, 'dev0').id;
});

describe('IOMMU_HWPT_ALLOC (iommufd_ioas.alloc_hwpt_nested)', () => {
  it('dev_id naming an IOAS → ENOENT; pt_id naming a device → EINVAL', () => {
    expect(errnoOf(() => alloc({ dev_id: ioas, pt_id: ioas }))).toBe('ENOENT');
    expect(errnoOf(() => alloc({ dev_id: dev, pt_id: dev }))).toBe('EINVAL');
    expect(errnoOf(() => alloc({ dev_id: dev, pt_id: 999 }))).toBe('EINVAL');
  });

  it('__reserved → EOPNOTSUPP before anything else; data_type/data_len disagreement → EINVAL', () => {
    expect(errnoOf(() => alloc({ __reserved: 1, dev_id: 999 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => alloc({ dev_id: 999, data_len: 8 }))).toBe('EINVAL');
    expect(errnoOf(() => alloc({ dev_id: 999, data_type: IOMMU_HWPT_DATA_SELFTEST }))).toBe('EINVAL');
  });

  it('NEST_PARENT | FAULT_ID_VALID on an IOAS → EOPNOTSUPP; unknown flag → EOPNOTSUPP', () => {
    expect(errnoOf(() => alloc({ dev_id: dev, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_FAULT_ID_VALID }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => alloc({ dev_id: dev, pt_id: ioas, flags: 1 << 4 }))).toBe('EOPNOTSUPP');
  });

  it('dirty tracking for a no_dirty device → EOPNOTSUPP; attaching it to a dirty HWPT → EINVAL (iommufd_dirty_tracking.enforce_dirty)', () => {
    const nd = bindDevice(ctx, 'nodirty');
    expect(errnoOf(() => alloc({ dev_id: nd.id, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }))).toBe('EOPNOTSUPP');
    const h = Number(alloc({ dev_id: dev, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }).out_hwpt_id);
    expect(errnoOf(() => attachDevice(ctx, nd, h, 0, false))).toBe('EINVAL');
  });

  it('nested: every validation errno in order, then parent DESTROY → EBUSY', () => {
    const parent = Number(alloc({ dev_id: dev, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).out_hwpt_id);
    const plain = Number(alloc({ dev_id: dev, pt_id: ioas }).out_hwpt_id);
    const data = put(le32(0xbadbeef, 0));
    const nested = (o: Record<string, number | bigint>) => alloc({ dev_id: dev, pt_id: parent, data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 8, data_uptr: data, ...o });
    expect(errnoOf(() => nested({ data_type: 0 }))).toBe('EINVAL');
    expect(errnoOf(() => nested({ data_type: IOMMU_HWPT_DATA_SELFTEST + 1 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => nested({ data_len: 3 }))).toBe('EINVAL');
    expect(errnoOf(() => nested({ data_len: 9 }))).toBe('EINVAL');
    expect(errnoOf(() => nested({ data_uptr: 0 }))).toBe('EFAULT');
    expect(errnoOf(() => nested({ flags: IOMMU_HWPT_ALLOC_NEST_PARENT }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => nested({ pt_id: plain }))).toBe('EINVAL');
    expect(errnoOf(() => nested({ flags: IOMMU_HWPT_FAULT_ID_VALID, fault_id: 0xffffffff }))).toBe('ENOENT');
    const n1 = Number(nested({}).out_hwpt_id);
    expect(errnoOf(() => nested({ pt_id: n1 }))).toBe('EINVAL');
    expect(errnoOf(() => ctx.destroy(big({ id: parent })))).toBe('EBUSY');
    ctx.destroy(big({ id: n1 }));
    ctx.destroy(big({ id: parent }));
  });

  it('an auto domain cannot be a nest parent → EINVAL', () => {
    const d = ctx.table.device(dev);
    const auto = attachDevice(ctx, d, ioas, 0, false);
    expect(errnoOf(() => alloc({ dev_id: dev, pt_id: auto, data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 8, data_uptr: put(le32(1, 0)) }))).toBe('EINVAL');
  });
});

describe('IOMMU_HWPT_INVALIDATE (iommufd_ioas.alloc_hwpt_nested)', () => {
  let nested: number;
  let parent: number;
  const inv = (o: Record<string, number | bigint>) =>
    hwptInvalidate(ctx, big({ hwpt_id: nested, data_uptr: put(le32(0, 0, 0, 4), 64), data_type: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entry_len: 8, entry_num: 1, __reserved: 0, ...o }));
  const failOut = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return [(e as UapiError).errno, (e as UapiError).out];
    }
    return ['OK'];
  };
  beforeEach(() => {
    parent = Number(alloc({ dev_id: dev, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).out_hwpt_id);
    nested = Number(alloc({ dev_id: dev, pt_id: parent, data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 8, data_uptr: put(le32(0xbadbeef, 0)) }).out_hwpt_id);
  });
  const iotlb = () => (ctx.table.get(nested) as unknown as { nested: { dumpState(): { iotlb: number[] } } }).nested.dumpState().iotlb;

  it('on the parent → EINVAL with entry_num 0; entry_num 0 is a probe', () => {
    expect(failOut(() => inv({ hwpt_id: parent }))).toEqual(['EINVAL', { entry_num: 0 }]);
    expect(inv({ entry_num: 0 })).toEqual({ entry_num: 0 });
  });

  it('bad data_type, entry_len sizeof+1/1/0, NULL uptr → EINVAL; bad flags → EOPNOTSUPP; iotlb_id 4 → EINVAL', () => {
    expect(failOut(() => inv({ data_type: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST + 1 }))[0]).toBe('EINVAL');
    for (const entry_len of [9, 1, 0]) expect(failOut(() => inv({ entry_len }))[0]).toBe('EINVAL');
    expect(failOut(() => inv({ data_uptr: 0 }))[0]).toBe('EINVAL');
    expect(failOut(() => inv({ data_uptr: put(le32(0xffffffff, 0), 128) }))[0]).toBe('EOPNOTSUPP');
    expect(failOut(() => inv({ data_uptr: put(le32(0, 4), 128) }))[0]).toBe('EINVAL');
    expect(iotlb()).toEqual([0xbadbeef, 0xbadbeef, 0xbadbeef, 0xbadbeef]);
  });

  it('two entries with a bad second: error, entry_num 1, first applied; ALL clears every slot', () => {
    expect(failOut(() => inv({ data_uptr: put(le32(0, 1, 0, 4), 128), entry_num: 2 }))).toEqual(['EINVAL', { entry_num: 1 }]);
    expect(iotlb()).toEqual([0xbadbeef, 0, 0xbadbeef, 0xbadbeef]);
    expect(inv({ data_uptr: put(le32(1, 0), 128) })).toEqual({ entry_num: 1 });
    expect(iotlb()).toEqual([0, 0, 0, 0]);
  });
});

describe('IOMMU_GET_HW_INFO (iommufd_ioas.get_hw_info)', () => {
  const info = (o: Record<string, number | bigint>) =>
    getHwInfo(ctx, big({ flags: 0, dev_id: dev, data_len: 8, data_uptr: scratch, in_data_type: 0, __reserved: 0, ...o }));

  it('selftest payload, kernel length, larger buffer zeroed, partial copy', () => {
    m.memory.write(scratch, new Uint8Array(16).fill(0xaa));
    expect(info({ data_len: 16 })).toMatchObject({ data_len: 8, out_data_type: IOMMU_HW_INFO_TYPE_SELFTEST, out_capabilities: 9, out_max_pasid_log2: 0 });
    expect(Array.from(m.memory.read(scratch, 16)!)).toEqual([0, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0, 0, 0, 0, 0]);
    m.memory.write(scratch, new Uint8Array(8).fill(0xaa));
    expect(info({ data_len: 4 }).data_len).toBe(8);
    expect(Array.from(m.memory.read(scratch, 8)!)).toEqual([0, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa]);
    expect(info({ data_len: 0, data_uptr: 0 }).data_len).toBe(8);
  });

  it('INPUT_TYPE with SELFTEST+1 → EOPNOTSUPP; reserved or flags → EOPNOTSUPP; no device → ENOENT; PASID device → 20', () => {
    expect(errnoOf(() => info({ flags: 1, in_data_type: IOMMU_HW_INFO_TYPE_SELFTEST + 1 }))).toBe('EOPNOTSUPP');
    expect(info({ flags: 1, in_data_type: IOMMU_HW_INFO_TYPE_SELFTEST }).out_data_type).toBe(IOMMU_HW_INFO_TYPE_SELFTEST);
    expect(errnoOf(() => info({ flags: 2 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => info({ __reserved: 1 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => info({ dev_id: ioas }))).toBe('ENOENT');
    expect(info({ dev_id: bindDevice(ctx, 'pasid0').id }).out_max_pasid_log2).toBe(20);
  });
});
