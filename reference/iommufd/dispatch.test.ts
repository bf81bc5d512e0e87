import { describe, expect, it } from 'vitest';
import type { FieldInfo, IoctlInfo, StructInfo, UapiCatalog } from '../../schemas/lib/catalog-types.ts';
import { Machine } from '../machine/machine.ts';
import { IommufdContext } from './context.ts';
import { dispatchIoctl } from './dispatch.ts';

// A two-ioctl catalog fragment (layouts from include/uapi/linux/iommufd.h) to drive the size
// rules; the real catalog comes from schemas/lib/catalog.ts.
const u32 = (name: string, offsetBytes: number, direction: FieldInfo['direction'] = 'in'): FieldInfo => ({ name, ctype: '__u32', offsetBytes, sizeBytes: 4, direction });
const structs = new Map<string, StructInfo>([
  ['iommu_destroy', { name: 'iommu_destroy', sizeBytes: 8, alignBytes: 4, fields: [u32('size', 0), u32('id', 4)] }],
  ['iommu_ioas_alloc', { name: 'iommu_ioas_alloc', sizeBytes: 12, alignBytes: 4, fields: [u32('size', 0), u32('flags', 4), u32('out_ioas_id', 8, 'out')] }],
]);
const ioctl = (name: string, nr: number, struct: string, minSizeBytes: number): IoctlInfo => ({ name, family: 'iommufd', nr, request: 0x3b00 | nr, struct, minSizeBytes, sizeField: 'size', schema: '' });
const catalog: UapiCatalog = {
  ioctls: new Map([
    ['IOMMU_DESTROY', ioctl('IOMMU_DESTROY', 0x80, 'iommu_destroy', 8)],
    ['IOMMU_IOAS_ALLOC', ioctl('IOMMU_IOAS_ALLOC', 0x81, 'iommu_ioas_alloc', 12)],
    ['IOMMU_VEVENTQ_ALLOC', ioctl('IOMMU_VEVENTQ_ALLOC', 0x92, 'iommu_ioas_alloc', 12)],
  ]),
  structs,
  enums: new Map(),
  errnos: new Map(),
};
const ctx = () => new IommufdContext(3, new Machine({}), new Map());

describe('dispatch size rules (main.c iommufd_fops_ioctl; iommufd.cmd_length, cmd_ex_fail)', () => {
  it('size below the minimum → EINVAL before the handler', () => {
    expect(dispatchIoctl(ctx(), catalog, 'IOMMU_DESTROY', { size: 7, id: 0 })).toEqual({ errno: 'EINVAL' });
    expect(dispatchIoctl(ctx(), catalog, 'IOMMU_IOAS_ALLOC', { size: 11, flags: 0 })).toEqual({ errno: 'EINVAL' });
  });

  it('non-zero bytes past the struct → E2BIG; zero bytes behave like the exact size', () => {
    expect(dispatchIoctl(ctx(), catalog, 'IOMMU_DESTROY', { size: 16, id: 0, __trailing: '0000000000000001' })).toEqual({ errno: 'E2BIG' });
    expect(dispatchIoctl(ctx(), catalog, 'IOMMU_DESTROY', { size: 16, id: 0, __trailing: '0000000000000000' })).toEqual({ errno: 'ENOENT' });
    expect(dispatchIoctl(ctx(), catalog, 'IOMMU_DESTROY', { size: 8, id: 0 })).toEqual({ errno: 'ENOENT' });
    expect(dispatchIoctl(ctx(), catalog, 'IOMMU_IOAS_ALLOC', { size: 13, flags: 0, __trailing: 'ff' })).toEqual({ errno: 'E2BIG' });
    expect(dispatchIoctl(ctx(), catalog, 'IOMMU_IOAS_ALLOC', { size: 13, flags: 0, __trailing: '00' })).toMatchObject({ ret: 0, arg: { out_ioas_id: 1 } });
  });

  it('unknown commands → ENOTTY; a catalogued command the reference lacks is an adapter error', () => {
    expect(dispatchIoctl(ctx(), catalog, 'IOMMU_NOPE', {})).toEqual({ errno: 'ENOTTY' });
    // Every command of the current catalog is modelled: a newer header's extra command stands for the case.
    const newer = { ...catalog, ioctls: new Map(catalog.ioctls).set('IOMMU_FUTURE_ALLOC', { ...catalog.ioctls.get('IOMMU_HW_QUEUE_ALLOC')!, name: 'IOMMU_FUTURE_ALLOC' }) };
    expect(() => dispatchIoctl(ctx(), newer, 'IOMMU_FUTURE_ALLOC', { size: 40 })).toThrow(/not implemented/);
  });
});
