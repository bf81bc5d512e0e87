/**
 * What an IOMMU unit model tells the rest of the reference, independent of how the core's
 * unit interface (unit.ts) is shaped: GET_HW_INFO's payload and capability bits, the PASID
 * width, which page-table format and geometry a paging domain gets for given allocation flags,
 * the unit's reserved IOVA regions, the nested data types it accepts, and whether a domain
 * made for one unit can attach to another.
 *
 * Everything here is a plain value or a pure function of its arguments; a profile is built
 * once from the topology knobs and never changes. Errnos are the names Linux returns.
 */

/** enum iommu_hw_info_type (include/uapi/linux/iommufd.h). */
export const IOMMU_HW_INFO_TYPE_NONE = 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;

/** enum iommufd_hw_capabilities. */
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0;
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1;
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2;

/** enum iommufd_hwpt_alloc_flags. */
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;

/** enum iommu_hwpt_data_type. */
export const IOMMU_HWPT_DATA_NONE = 0;
export const IOMMU_HWPT_DATA_VTD_S1 = 1;
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2;

/** enum iommu_viommu_type. */
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1;

export type Errno = 'EINVAL' | 'EOPNOTSUPP' | 'ENODEV' | 'EIO' | 'E2BIG' | 'EFAULT' | 'ENOENT';

export type FormatName =
  | 'vtd-ss'
  | 'vtd-fs'
  | 'amd-v1'
  | 'amd-v2'
  | 'arm-lpae-s1'
  | 'arm-lpae-s2'
  | 'riscv-sv'
  | 'riscv-svx4'
  | 'ppc-tce';

/** A page-table configuration, with the PGTABLE_DUMP `config` keys of the adapter protocol. */
export interface FormatConfig {
  format: FormatName;
  /** Levels of the table (for AMD v1: the maximum the unit allows; Linux grows the top on demand). */
  levels: number;
  granule: number;
  /**
   * Input (IOVA) bits the TABLE decodes (its levels' full width: 39/48/57 for VT-d and x86,
   * log2 of the window for TCE) and output bits. The usable range may be narrower: that is
   * the plan's aperture (MGAW, canonical halves), not the table's.
   */
  ias: number;
  oas: number;
  /** ARM: 1 or 2. */
  stage?: 1 | 2;
  /** ARM stage 2: number of concatenated root tables (1 = none). */
  concat?: number;
  /** PPC TCE tables are big-endian. */
  big_endian?: boolean;
  /** Largest leaf, log2 bytes, the driver lets the table use (VT-d SLLPS / FS1GP). */
  max_leaf_lg2?: number;
  /** ARM stage 1 with IO_PGTABLE_QUIRK_ARM_HD: writable leaves carry DBM. */
  hw_dirty?: boolean;
  /** ARM stage 2 with IO_PGTABLE_QUIRK_ARM_S2FWB: cacheable leaves carry MemAttr 0b0110. */
  s2fwb?: boolean;
  /** AMD v1 PT_FEAT_AMDV1_FORCE_COHERENCE: FC (b60) in every PTE. */
  force_coherence?: boolean;
  /** VT-d nest parent on ERRATA_772415_SPR17 parts: read-only maps are refused (EINVAL). */
  force_writeable?: boolean;
  /** PPC: the DMA window the table maps. */
  window?: { start: bigint; sizeBytes: bigint };
}

export interface Aperture {
  start: bigint;
  /** Inclusive. */
  end: bigint;
}

/** What a paging domain allocated on this unit looks like (iommu_domain fields Linux sets). */
export interface PagingPlan {
  unitModel: string;
  config: FormatConfig;
  /** iommu_domain.pgsize_bitmap: bit n set ⇔ 2^n-byte mappings are possible. */
  pgsizeBitmap: bigint;
  aperture: Aperture;
  dirtyTracking: boolean;
  nestParent: boolean;
  pasidCapable: boolean;
  /** Model-specific facts that attach-compatibility checks compare (e.g. VT-d coherency). */
  attrs: Record<string, number | boolean | string>;
}

export type PlanResult = { ok: true; plan: PagingPlan } | { ok: false; errno: Errno; why: string };

/** enum iommu_resv_type, as iommufd sees it (all are excluded from IOVA allocation). */
export type ReservedKind = 'direct' | 'direct-relaxable' | 'reserved' | 'msi' | 'sw-msi';

export interface ReservedRegion {
  start: bigint;
  /** Inclusive. */
  last: bigint;
  kind: ReservedKind;
}

export interface HwInfo {
  /** out_data_type. */
  type: number;
  /** The payload the kernel copies (data_len = bytes.length); empty for type NONE. */
  bytes: Uint8Array;
}

export interface UnitProfile {
  model: string;
  /** The knob values after defaults, for reports. */
  knobs: Record<string, unknown>;
  /** Named registers with their values, for reports and golden tests. */
  registers: Record<string, bigint>;
  /**
   * GET_HW_INFO for a requested type: DEFAULT(0) or the unit's own type → the payload;
   * another type → EOPNOTSUPP (iommufd asks the driver with IOMMU_HW_INFO_FLAG_INPUT_TYPE).
   */
  hwInfo(requestedType: number): HwInfo | { errno: Errno };
  /** IOMMU_HW_CAP_DIRTY_TRACKING when the unit can track dirty (Linux IOMMU_CAP_DIRTY_TRACKING). */
  capabilities: number;
  /** log2 of the PASIDs the unit supports (0 = none); iommufd reports min(device, unit). */
  maxPasidLog2: number;
  /** Paging-domain allocation (IOMMU_HWPT_ALLOC on an IOAS) for the given flags. */
  planPaging(flags: number): PlanResult;
  /** Whether a paging domain (possibly made for another unit) can attach to a device here. */
  checkAttach(plan: PagingPlan): Errno | null;
  /**
   * When a domain is bound to the unit instance that allocated it (SMMUv3: smmu_domain->smmu),
   * the errno another instance of the same model returns; null when domains may be shared
   * across instances subject to checkAttach (VT-d, AMD-Vi, RISC-V).
   */
  foreignInstanceErrno: Errno | null;
  reservedRegions: ReservedRegion[];
  /** Nested HWPT data types this unit accepts (through a NEST_PARENT HWPT or a vIOMMU). */
  nestedDataTypes: number[];
  /** vIOMMU types the unit offers. */
  viommuTypes: number[];
  /** Formats a user-owned stage-1 table may have in nesting (informational). */
  nestingFormats: FormatName[];
  /**
   * Nested-domain allocation on a parent paging domain (VT-d) or on a vIOMMU over one (SMMUv3):
   * validates the driver data as the driver does. Absent when the unit has no nesting in Linux.
   */
  planNested?(parent: PagingPlan, flags: number, data: DriverData): NestedResult;
}

export interface NestedPlan {
  dataType: number;
  /** The decoded driver data (e.g. VT-d pgtbl_addr/addr_width/flags, SMMUv3 ste0/ste1). */
  fields: Record<string, bigint>;
  /** The stage-1 format the user owns. */
  format: FormatName;
}

export type NestedResult = { ok: true; nested: NestedPlan } | { ok: false; errno: Errno; why: string };

/**
 * Driver data of HWPT_ALLOC (struct iommu_user_data): its type, data_len, and the bytes at
 * data_uptr (null when reading them faults). Same shape as the core's UserData.
 */
export interface DriverData {
  type: number;
  lengthBytes: number;
  bytes: Uint8Array | null;
}

/**
 * __iommu_copy_struct_from_user (include/linux/iommu.h): a type other than the expected one →
 * EINVAL; data_len below the struct's mandatory part or above the kernel struct → EINVAL; a
 * faulting pointer → EFAULT; a shorter buffer is zero-extended to the kernel struct.
 */
export function copyDriverData(data: DriverData, expectedType: number, kernelSizeBytes: number, minSizeBytes: number): Uint8Array | Errno {
  if (data.type !== expectedType) return 'EINVAL';
  if (data.lengthBytes < minSizeBytes || data.lengthBytes > kernelSizeBytes) return 'EINVAL';
  if (data.bytes === null) return 'EFAULT';
  const out = new Uint8Array(kernelSizeBytes);
  out.set(data.bytes.subarray(0, data.lengthBytes));
  return out;
}

export function readU64Le(bytes: Uint8Array, offsetBytes: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offsetBytes, true);
}

export function readU32Le(bytes: Uint8Array, offsetBytes: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offsetBytes, true);
}

/** Sizes in bytes as bigint bit positions: pgsize bitmaps are built from these. */
export const SZ_4K = 1n << 12n;
export const SZ_16K = 1n << 14n;
export const SZ_64K = 1n << 16n;
export const SZ_2M = 1n << 21n;
export const SZ_32M = 1n << 25n;
export const SZ_512M = 1n << 29n;
export const SZ_1G = 1n << 30n;
export const SZ_512G = 1n << 39n;
export const SZ_4T = 1n << 42n;

/** (1 << bits) − 1, capped to 64 bits: an aperture end. */
export function maxAddr(bits: number): bigint {
  return bits >= 64 ? (1n << 64n) - 1n : (1n << BigInt(bits)) - 1n;
}

/**
 * The GET_HW_INFO answer of a driver with no hw_info op: type NONE and no payload, whatever
 * type was requested (iommufd_get_hw_info only passes in_data_type to ops->hw_info).
 */
export function hwInfoNone(_requestedType: number): HwInfo {
  return { type: IOMMU_HW_INFO_TYPE_NONE, bytes: new Uint8Array(0) };
}
