/**
 * The uAPI catalog: what the schemas in schemas/uapi/ and schemas/defs/ say about every ioctl,
 * struct, flag set and enum, in a form code can use (the case compiler fills `size` and turns
 * flag names into integers, the codec lays out bytes, the reference checks reserved fields,
 * the C header generator writes declarations). The catalog is read from the schemas' `x-`
 * annotations by catalog.ts; nothing here restates a value a schema holds.
 */

/** C scalar types of the uAPI headers. `__aligned_le64` is little-endian whatever the host. */
export type CScalar =
  | '__u8' | '__u16' | '__u32' | '__u64' | '__s32' | '__s64'
  | '__aligned_u64' | '__aligned_le64' | '__le64';

export type Direction = 'in' | 'out' | 'inout';

export interface FieldInfo {
  /** The uAPI field name (`user_va`, `__reserved`, `out_ioas_id`). */
  name: string;
  /** The scalar C type, or the struct name for an embedded struct. */
  ctype: CScalar | string;
  offsetBytes: number;
  /** Size of the whole field (element size × count for arrays). */
  sizeBytes: number;
  /** Present for fixed arrays (`__u8 __reserved[3]`, `__aligned_le64 ste[2]`). */
  count?: number;
  /** Who writes the field: userspace (`in`), the kernel (`out`), or both. */
  direction: Direction;
  /** A reserved field: must be zero on input (the ioctl says which errno). */
  reserved?: boolean;
  /** The name of the flag set (EnumInfo.kind === 'flags') the field carries. */
  flags?: string;
  /** The name of the enum (EnumInfo.kind === 'enum') the field carries. */
  enum?: string;
  /** Fields sharing an offset (a C union) carry the same union name. */
  union?: string;
  /**
   * A __u64 the header documents as a user pointer: what it points at. `struct` for an array
   * of structs, `bytes` for a byte buffer. `countField` names the field holding the element
   * count (`num_iovas`, `entry_num`), `lengthField` the byte length (`data_len`), `entrySizeField`
   * the per-entry size (`entry_len`).
   */
  pointee?: {
    struct?: string;
    bytes?: boolean;
    countField?: string;
    lengthField?: string;
    entrySizeField?: string;
    direction: Direction;
  };
}

export interface StructInfo {
  name: string;
  sizeBytes: number;
  alignBytes: number;
  fields: FieldInfo[];
  /** Which header declares it: `iommufd` (uapi/linux/iommufd.h), `vfio`, `iommufd_test` (selftest). */
  source?: 'iommufd' | 'vfio' | 'iommufd_test';
  /**
   * A C flexible array member after the fixed part (`struct vfio_iova_range iova_ranges[]`):
   * not counted in sizeBytes; `countField` holds its element count.
   */
  flexibleArray?: { name: string; struct: string; countField: string };
  /**
   * Argument fields the protocol carries that are not part of the C layout (`device`, the
   * topology name VFIO device commands use instead of a device fd). Never encoded.
   */
  protocolFields?: string[];
  /** A VFIO INFO capability: the `id` its vfio_info_cap_header carries. */
  capId?: number;
}

export type IoctlFamily = 'iommufd' | 'vfio-device' | 'vfio-container' | 'test';

export interface IoctlInfo {
  /** The uAPI name, as cases and the protocol spell it (`IOMMU_IOAS_MAP`). */
  name: string;
  family: IoctlFamily;
  /** _IOC_NR and the full request number the kernel compares. */
  nr: number;
  request: number;
  /** The argument struct; absent for ioctls that take a plain integer or nothing. */
  struct?: string;
  /** For integer-argument ioctls (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU): the arg field name. */
  intArg?: string;
  /** The smallest `size`/`argsz` the kernel accepts (offsetofend of the last mandatory field). */
  minSizeBytes?: number;
  /** The field that carries the struct size: `size` for iommufd, `argsz` for VFIO. */
  sizeField?: 'size' | 'argsz';
  /** The schema file that defines it, relative to schemas/. */
  schema: string;
  /** The schema's `$id` (for validateBySchemaId). */
  schemaId?: string;
  /** One line on what the ioctl does. */
  description?: string;
}

export interface EnumInfo {
  /** The C enum name (`iommufd_ioas_map_flags`). */
  name: string;
  kind: 'flags' | 'enum';
  /** The prefix cases may leave out when naming a value (`IOMMU_IOAS_MAP_`). */
  prefix: string;
  /** Full C names → values. Values above 2^53−1 never occur in flag sets we model. */
  values: Record<string, number>;
  /** Value names that exist only on CONFIG_IOMMUFD_TEST kernels (iommufd_test.h). */
  selftest?: string[];
}

export interface UapiCatalog {
  ioctls: ReadonlyMap<string, IoctlInfo>;
  structs: ReadonlyMap<string, StructInfo>;
  enums: ReadonlyMap<string, EnumInfo>;
  /** errno names → Linux x86-64/generic numbers (EINVAL → 22). */
  errnos: ReadonlyMap<string, number>;
}
