/**
 * A small hand-written uAPI catalog for the runner's own tests: the handful of iommufd structs
 * the toy adapter knows, with the layouts of include/uapi/linux/iommufd.h (iommu_destroy 8 bytes,
 * iommu_ioas_alloc 12, iommu_ioas_iova_ranges 32, iommu_ioas_allow_iovas 24, iommu_ioas_map 40,
 * iommu_iova_range 16; map flags FIXED_IOVA 1, WRITEABLE 2, READABLE 4). The runner itself uses
 * schemas/lib/catalog.ts; this keeps its tests independent of the full catalog.
 */
import type { FieldInfo, IoctlInfo, StructInfo, UapiCatalog, EnumInfo } from '../../../schemas/lib/catalog-types.ts';

const u32 = (name: string, offsetBytes: number, direction: FieldInfo['direction'] = 'in', extra: Partial<FieldInfo> = {}): FieldInfo => ({ name, ctype: '__u32', offsetBytes, sizeBytes: 4, direction, ...extra });
const u64 = (name: string, offsetBytes: number, direction: FieldInfo['direction'] = 'in', extra: Partial<FieldInfo> = {}): FieldInfo => ({ name, ctype: '__aligned_u64', offsetBytes, sizeBytes: 8, direction, ...extra });

const structs: StructInfo[] = [
  { name: 'iommu_destroy', sizeBytes: 8, alignBytes: 4, fields: [u32('size', 0), u32('id', 4)] },
  { name: 'iommu_ioas_alloc', sizeBytes: 12, alignBytes: 4, fields: [u32('size', 0), u32('flags', 4), u32('out_ioas_id', 8, 'out')] },
  { name: 'iommu_iova_range', sizeBytes: 16, alignBytes: 8, fields: [u64('start', 0), u64('last', 8)] },
  {
    name: 'iommu_ioas_iova_ranges', sizeBytes: 32, alignBytes: 8, fields: [
      u32('size', 0), u32('ioas_id', 4), u32('num_iovas', 8, 'inout'), u32('__reserved', 12, 'in', { reserved: true }),
      u64('allowed_iovas', 16, 'in', { pointee: { struct: 'iommu_iova_range', countField: 'num_iovas', direction: 'out' } }),
      u64('out_iova_alignment', 24, 'out'),
    ],
  },
  {
    name: 'iommu_ioas_allow_iovas', sizeBytes: 24, alignBytes: 8, fields: [
      u32('size', 0), u32('ioas_id', 4), u32('num_iovas', 8), u32('__reserved', 12, 'in', { reserved: true }),
      u64('allowed_iovas', 16, 'in', { pointee: { struct: 'iommu_iova_range', countField: 'num_iovas', direction: 'in' } }),
    ],
  },
  {
    name: 'iommu_ioas_map', sizeBytes: 40, alignBytes: 8, fields: [
      u32('size', 0), u32('flags', 4, 'in', { flags: 'iommufd_ioas_map_flags' }), u32('ioas_id', 8), u32('__reserved', 12, 'in', { reserved: true }),
      u64('user_va', 16), u64('length', 24), u64('iova', 32, 'inout'),
    ],
  },
  {
    name: 'iommu_hwpt_get_dirty_bitmap', sizeBytes: 48, alignBytes: 8, fields: [
      u32('size', 0), u32('hwpt_id', 4), u32('flags', 8), u32('__reserved', 12, 'in', { reserved: true }),
      u64('iova', 16), u64('length', 24), u64('page_size', 32),
      u64('data', 40, 'in', { pointee: { bytes: true, direction: 'out' } }),
    ],
  },
];

const ioctl = (name: string, nr: number, struct: string, minSizeBytes: number): IoctlInfo => ({
  name, family: 'iommufd', nr, request: 0x3b00 | nr, struct, minSizeBytes, sizeField: 'size', schema: `uapi/${name}.json`,
});

const ioctls: IoctlInfo[] = [
  ioctl('IOMMU_DESTROY', 0x80, 'iommu_destroy', 8),
  ioctl('IOMMU_IOAS_ALLOC', 0x81, 'iommu_ioas_alloc', 12),
  ioctl('IOMMU_IOAS_ALLOW_IOVAS', 0x82, 'iommu_ioas_allow_iovas', 24),
  ioctl('IOMMU_IOAS_IOVA_RANGES', 0x84, 'iommu_ioas_iova_ranges', 32),
  ioctl('IOMMU_IOAS_MAP', 0x85, 'iommu_ioas_map', 40),
  ioctl('IOMMU_HWPT_GET_DIRTY_BITMAP', 0x8c, 'iommu_hwpt_get_dirty_bitmap', 48),
];

const enums: EnumInfo[] = [
  {
    name: 'iommufd_ioas_map_flags', kind: 'flags', prefix: 'IOMMU_IOAS_MAP_',
    values: { IOMMU_IOAS_MAP_FIXED_IOVA: 1, IOMMU_IOAS_MAP_WRITEABLE: 2, IOMMU_IOAS_MAP_READABLE: 4 },
  },
];

export const toyCatalog: UapiCatalog = {
  ioctls: new Map(ioctls.map((i) => [i.name, i])),
  structs: new Map(structs.map((s) => [s.name, s])),
  enums: new Map(enums.map((e) => [e.name, e])),
  errnos: new Map([['ENOENT', 2], ['ENOMEM', 12], ['EEXIST', 17], ['EINVAL', 22], ['EMSGSIZE', 90], ['EOPNOTSUPP', 95]]),
};

export function getCatalog(): UapiCatalog {
  return toyCatalog;
}
