/**
 * The IOMMU unit interface: what every hardware model (mock, intel-vtd, amd-vi, arm-smmuv3,
 * riscv-iommu, ppc-tce) tells the iommufd core, in the terms of the Linux iommu_ops /
 * iommu_domain_ops the core calls. A unit is built once from its topology knobs and answers
 * pure questions (GET_HW_INFO payload, reserved regions, which page-table format and geometry a
 * paging domain gets) plus the driver decisions that produce errnos (allocation flags, nested
 * driver data, attach compatibility, user cache invalidation).
 *
 * Invariants: every answer that fails carries the errno name Linux returns for that driver;
 * nothing here allocates simulated memory or changes core state — the core builds the page
 * table from the returned `PagingDomainSpec` (through reference/formats) only after every check
 * passed. IOVA-space values (apertures, reserved regions) are bigint: they are control-plane
 * values read a few times per ioctl, and may reach 2^64−1.
 */

import type { PtFormat } from '../formats/format.ts';

/** An errno name as Linux spells it (`EINVAL`, `EOPNOTSUPP`, …). */
export type Errno = string;

export type Result<T> = { ok: true; value: T } | { ok: false; errno: Errno; why?: string };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(errno: Errno, why?: string): Result<T> => ({ ok: false, errno, why });

/** enum iommu_hw_info_type (DEFAULT = NONE = 0). */
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0;
/** enum iommufd_hw_capabilities. */
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0;
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1;
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2;
/** Negative sense: set unless the driver reports IOMMU_CAP_PCI_ATS_SUPPORTED (newest device.c). */
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3;
/** enum iommufd_hwpt_alloc_flags. */
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;
/** enum iommu_hwpt_data_type: NONE means "no driver data". */
export const IOMMU_HWPT_DATA_NONE = 0;

/** An inclusive IOVA interval. */
export interface IovaRange {
  start: bigint;
  last: bigint;
}

/** enum iommu_resv_type as iommufd sees it; `direct-relaxable` regions are ignored by iommufd. */
export type ReservedKind = 'direct' | 'direct-relaxable' | 'reserved' | 'msi' | 'sw-msi';

export interface ReservedRegion extends IovaRange {
  kind: ReservedKind;
}

/** What the unit knows about one device behind it (from the topology). */
export interface UnitDevice {
  name: string;
  /** Topology flag `no_dirty`: the device cannot take part in dirty tracking. */
  noDirty: boolean;
  /** Topology flag `pasid`: the device has PASID enabled. */
  pasid: boolean;
  /**
   * Topology flag `pri`: a PCIe function with ATS and the Page Request Interface (for an SR-IOV
   * VF: its PF has PRI, which the VF shares; pci_pri_supported).
   */
  pri?: boolean;
  /** Topology flag `stall`: the firmware says the master can stall (`dma-can-stall`). */
  stall?: boolean;
  group?: string;
  /** MOCK_FLAGS_DEVICE_HUGE_IOVA of a mock device made by IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS. */
  hugeIova?: boolean;
}

/** GET_HW_INFO's driver answer: out_data_type and the payload the kernel copies. */
export interface HwInfo {
  type: number;
  bytes: Uint8Array;
}

/**
 * A page-table configuration: the format name PGTABLE_DUMP uses and the keys its `config`
 * holds (levels, granule, ias, oas, stage, concat, big_endian, …); format-specific keys allowed.
 */
export interface PageTableConfig {
  format: string;
  [key: string]: unknown;
}

/**
 * Driver data of HWPT_ALLOC (struct iommu_user_data): data_type and the data_len bytes at
 * data_uptr, or null when reading them faults — the driver reports EFAULT only when it copies,
 * after its type and length checks, as Linux does.
 */
export interface UserData {
  type: number;
  lengthBytes: number;
  bytes: Uint8Array | null;
}

/**
 * __iommu_copy_struct_from_user (include/linux/iommu.h): type mismatch → EINVAL; length below
 * the struct's first-version size or above the kernel struct → EINVAL (not E2BIG); a faulting
 * pointer → EFAULT; a shorter buffer is zero-extended to the kernel struct.
 */
export function copyUserData(data: UserData, expectedType: number, kernelSizeBytes: number, minSizeBytes: number): Result<Uint8Array> {
  if (data.type !== expectedType) return fail('EINVAL', 'driver data type mismatch');
  if (data.lengthBytes < minSizeBytes || data.lengthBytes > kernelSizeBytes) return fail('EINVAL', 'driver data length');
  if (data.bytes === null) return fail('EFAULT', 'driver data pointer');
  const out = new Uint8Array(kernelSizeBytes);
  out.set(data.bytes.subarray(0, data.lengthBytes));
  return ok(out);
}

/**
 * A paging domain as the driver would set up struct iommu_domain: the core turns it into a
 * real page table and mirrors the IOAS into it.
 */
export interface PagingDomainSpec {
  /** The unit that allocated it: attach compatibility is decided by the target unit. */
  unit: IommuUnit;
  table: PageTableConfig;
  /** iommu_domain.pgsize_bitmap: bit n set ⇔ 2^n-byte IOPTEs possible (bigint: bits ≥ 32). */
  pgsizeBitmap: bigint;
  aperture: IovaRange;
  /** domain->dirty_ops != NULL (allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING). */
  dirtyOps: boolean;
  nestParent: boolean;
  /** Allocated with IOMMU_HWPT_ALLOC_PASID. */
  pasid: boolean;
  /** Model facts that attach checks compare (e.g. VT-d snoop control, address width). */
  attrs: Record<string, number | boolean | string | bigint>;
}

/** One user cache-invalidation request (IOMMU_HWPT_INVALIDATE on a nested HWPT). */
export interface InvalidateArray {
  dataType: number;
  entryLenBytes: number;
  entryNum: number;
  /** Reads entry `index` (entry_len bytes); null when the user memory faults. */
  readEntry(index: number): Uint8Array | null;
}

/** cache_invalidate_user's answer: entries handled (written back to entry_num) and the errno. */
export interface InvalidateResult {
  handled: number;
  errno?: Errno;
}

/**
 * How a translation request through a nested domain faults: the DMA hooks' fault kinds plus
 * the stage that faulted. Stage 1 is the user-owned table (and what the nested domain itself
 * decides: privilege, canonical input, reserved bits); stage 2 is the NEST_PARENT's
 * kernel-managed table, met when a stage-1 table, a context descriptor or the final output
 * address is translated from its intermediate (guest-physical) address.
 */
export interface Stage1Fault {
  fault: 'not-present' | 'permission' | 'aperture' | 'blocked';
  stage: 1 | 2;
  /**
   * The architecture's kind of a fault the stage-1 table walk found, present only when the
   * walk's configuration records such faults (Stage1Walk.recordFaults, SMMUv3 CD.R).
   */
  cause?: Stage1FaultCause;
  /**
   * The transaction stalled instead of terminating (SMMUv3 CD.S): software resumes or aborts it
   * through a page request (iommu_report_device_fault), and it is no vEVENTQ event.
   */
  stall?: boolean;
}

/**
 * Recorded stage-1 faults by kind: the walk's (SMMUv3 F_TRANSLATION, F_ADDR_SIZE, F_ACCESS,
 * F_PERMISSION) and the configuration errors found before it (C_BAD_CD, C_BAD_SUBSTREAMID).
 */
export type Stage1FaultCause = 'translation' | 'addr-size' | 'access' | 'permission' | 'bad-cd' | 'bad-substreamid';

/**
 * One DMA request (one IOMMU page of it) as the core hands it to NestedDomain.stage1. The
 * request reads guest memory only through `readIpa64`, i.e. through stage 2, as hardware does
 * when it fetches a context descriptor from an intermediate address (SMMUv3 CD, RISC-V PDT).
 */
export interface Stage1Request {
  /** The input address (IOVA / guest virtual address) of the request, any 64-bit value. */
  iova: bigint;
  /** The PASID (substream ID) of the request; IOMMU_NO_PASID (0) = a request without PASID. */
  pasid: number;
  /** Whether the request carries a PASID at all (false for the RID). */
  hasPasid: boolean;
  write: boolean;
  /** Privileged-mode request (PCIe PASID prefix PMR, SMMU StreamID privilege); only with a PASID. */
  privileged: boolean;
  /**
   * The little-endian 64-bit word at intermediate address `ipa` (8-byte aligned), read through
   * stage 2; a stage-2 fault comes back as a Stage1Fault with stage 2, which the domain
   * returns as it is.
   */
  readIpa64(ipa: bigint): bigint | Stage1Fault;
}

/** One present stage-1 entry the walk read, root first, leaf last (logical halves). */
export interface Stage1Entry {
  level: number;
  lo: number;
  hi: number;
}

/**
 * The architecture's rules for one stage-1 walk, given by the nested domain (they depend on
 * its configuration: VT-d PASID-entry SRE/WPE/EAFE, FS1GP; SMMUv3 CD fields).
 */
export interface Stage1Rules {
  /**
   * Truthy when `lo`/`hi` at `level` stops the walk: it faults not-present (stage 1). A cause
   * names the fault's kind when it is not a translation fault (SMMUv3 address size, access flag).
   */
  reserved(level: number, lo: number, hi: number): boolean | Stage1FaultCause;
  /** Whether the walked entries let this request read (write = false) or write (write = true). */
  permits(path: readonly Stage1Entry[], write: boolean): boolean;
  /**
   * The bits (OR masks, logical halves) hardware sets in each walked entry when the request
   * succeeds (x86: A everywhere, D on the leaf of a write); same length as `path`. Entries
   * whose bits are already set are not written. `clearLo`/`clearHi` are bits hardware clears
   * (Arm HD: a write through a DBM leaf clears AP[2], which is how it records dirty).
   */
  accessBits(path: readonly Stage1Entry[], write: boolean): Array<{ lo: number; hi: number; clearLo?: number; clearHi?: number }>;
}

/** How to walk stage 1 for one request: the table's format, its root, the input, the rules. */
export interface Stage1Walk {
  /** The stage-1 format, configured (levels, ias…): built once per domain from reference/formats. */
  format: PtFormat;
  /** Intermediate address of the root table (VT-d FSPTPTR: 4 KiB aligned; SMMUv3 CD.TTB0: aligned to the root table's size, at least 64 bytes). */
  rootIpa: bigint;
  /** The input page number the table indexes (units of 2^format.unitLg2, below 2^format.iasLg2). */
  inputUnit: number;
  rules: Stage1Rules;
  /**
   * The address-space tag the hardware caches this walk's translations under, when it comes
   * from the guest's own structures (SMMUv3: the CD's ASID); absent when the host knows it.
   */
  tag?: number;
  /** The walk's faults are recorded as events (SMMUv3 CD.R = 1); absent = not reported. */
  recordFaults?: boolean;
  /** The walk's translation faults stall (SMMUv3 CD.S = 1): recorded with their kind, and `stall`. */
  stall?: boolean;
}

/** Stage 1 is bypassed for this request (SMMUv3 bypass vSTE, S1DSS bypass): the input is the IPA. */
export interface Stage1Bypass {
  bypass: true;
}

/** A nested (user-managed stage-1) domain made by the driver from user data. */
export interface NestedDomain {
  unit: IommuUnit;
  dataType: number;
  /** The decoded driver data, for STATE dumps and swnest. */
  fields: Record<string, bigint | number>;
  pasid: boolean;
  /** Absent ⇔ the driver has no cache_invalidate_user (INVALIDATE → EOPNOTSUPP). */
  invalidateUser?(array: InvalidateArray): InvalidateResult;
  /** Model state shown in STATE dumps (mock: the four iotlb slots). */
  dumpState?(): Record<string, unknown>;
  /**
   * A nested domain made on a vIOMMU: the driver's own attach rules for `dev`, checked after
   * the unit's instance rule (SMMUv3 arm_smmu_attach_prepare_vmaster: a translating vSTE needs
   * the device's vDEVICE on that vIOMMU). Null = attaches.
   */
  checkAttach?(dev: UnitDevice): Errno | null;
  /**
   * How hardware starts the stage-1 walk of `req` on this domain, or the fault that stops it
   * before any stage-1 table is read: the domain's own checks (VT-d: a privileged request
   * without SRE, a non-canonical input; SMMUv3: the vSTE's Config, the CD read through
   * `req.readIpa64`, its V bit, EPD0/T0SZ…). The core then walks the table
   * (reference/iommufd/nested-walk.ts): every table address through stage 2, `rules` for
   * reserved bits and permissions, the output through stage 2, A/D bits into guest memory.
   * Pure: reads guest memory only through readIpa64 and changes nothing, so an IOTLB may cache
   * what follows from it. Absent ⇔ the model does not translate through this domain (the
   * selftest mock's stage 1 translates nothing): its DMA reports `blocked`.
   */
  stage1?(req: Stage1Request): Stage1Walk | Stage1Fault | Stage1Bypass;
  /**
   * The RID's domain also serves requests with a PASID (SMMUv3: the vSTE's CD table holds
   * every SubstreamID), so a PASID DMA of a device attached only by its RID comes here.
   */
  substreams?: boolean;
  /**
   * A DMA of `dev` through this domain stopped at `fault`: the driver reports it where it
   * reports such events (SMMUv3: a recorded stage-1 fault to the vIOMMU's ARM_SMMUV3 vEVENTQ).
   */
  reportFault?(dev: UnitDevice, req: FaultingRequest, fault: Stage1Fault): void;
}

/**
 * One page request as the driver reports it (struct iommu_fault_page_request): the flags
 * (IOMMU_FAULT_PAGE_REQUEST_*), PASID, group index, permissions (IOMMU_FAULT_PERM_*) and address.
 */
export interface PageRequestReport {
  flags: number;
  pasid: number;
  grpid: number;
  perm: number;
  addrBytes: bigint;
}

/** IOMMU_FAULT_PAGE_REQUEST_* (include/linux/iommu.h; NEEDS_PASID is bit 2 since v6.9, bit 3 before). */
export const IOMMU_FAULT_PAGE_REQUEST_PASID_VALID = 1 << 0;
export const IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE = 1 << 1;
export const IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID = 1 << 2;
/** IOMMU_FAULT_PERM_* = the uAPI's IOMMU_PGFAULT_PERM_*. */
export const IOMMU_FAULT_PERM_READ = 1 << 0;
export const IOMMU_FAULT_PERM_WRITE = 1 << 1;
export const IOMMU_FAULT_PERM_EXEC = 1 << 2;
export const IOMMU_FAULT_PERM_PRIV = 1 << 3;

/** The request a fault stopped: its input byte address and attributes. */
export interface FaultingRequest {
  iova: bigint;
  pasid: number;
  hasPasid: boolean;
  write: boolean;
  privileged: boolean;
}

export type DomainSpec = PagingDomainSpec | NestedDomain;

export const isPagingSpec = (d: DomainSpec): d is PagingDomainSpec => 'table' in d;

export interface IommuUnit {
  /** Topology model name (`mock`, `intel-vtd`, …). */
  readonly model: string;
  /** Knob values after defaults. */
  readonly knobs: Readonly<Record<string, unknown>>;
  /** Page-table formats this unit's paging domains may use. */
  readonly formats: readonly string[];

  /**
   * ops->hw_info. `requestedType` is in_data_type when IOMMU_HW_INFO_FLAG_INPUT_TYPE is set,
   * else IOMMU_HW_INFO_TYPE_DEFAULT. Null when the driver has no hw_info op (core reports NONE).
   */
  hwInfo(dev: UnitDevice, requestedType: number): Result<HwInfo> | null;
  /**
   * out_capabilities bits (IOMMU_HW_CAP_*) for this device, including the negative-sense
   * IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED when the device cannot use ATS.
   */
  capabilities(dev: UnitDevice): number;
  /** out_max_pasid_log2: 0 unless the device has PASID enabled. */
  maxPasidLog2(dev: UnitDevice): number;
  /** Reserved IOVA regions of the device (iommu_get_resv_regions): MSI windows and the like. */
  reservedRegions(dev: UnitDevice): ReservedRegion[];

  /**
   * domain_alloc_paging_flags for IOMMU_HWPT_ALLOC on an IOAS and for automatic domains
   * (flags 0, data null). Flags the driver cannot honour → EOPNOTSUPP.
   */
  allocPaging(dev: UnitDevice, flags: number, data: UserData | null): Result<PagingDomainSpec>;
  /**
   * domain_alloc_nested on a NEST_PARENT paging parent: validates the driver data as the
   * driver does. Absent when the unit has no nesting (core → EOPNOTSUPP).
   */
  allocNested?(dev: UnitDevice, parent: PagingDomainSpec, flags: number, data: UserData): Result<NestedDomain>;
  /**
   * attach_dev's compatibility verdict for `domain` on `dev`: null = attaches; an errno
   * otherwise. EINVAL means "incompatible" (the core then tries another auto domain).
   */
  checkAttach(dev: UnitDevice, domain: DomainSpec): Errno | null;
  /**
   * set_dev_pasid: null = attached; an errno otherwise. A driver call, not a pure check: the
   * mock's PASID 1024 fault hook changes driver state on every call, as in Linux. Absent = the
   * driver has no PASID support.
   */
  setDevPasid?(dev: UnitDevice, domain: DomainSpec | 'blocked', pasid: number): Errno | null;
  /**
   * ops->get_viommu_size(dev, type) != 0: the driver offers vIOMMUs of `type` for this device.
   * Absent = no get_viommu_size / viommu_init (IOMMU_VIOMMU_ALLOC → EOPNOTSUPP).
   */
  viommuSupported?(dev: UnitDevice, type: number): boolean;
  /**
   * ops->viommu_init over the NEST_PARENT paging domain `parent` (the core checked that it is
   * one): the driver's vIOMMU, or its errno. `core` answers the driver's questions about the
   * vIOMMU's vDEVICEs (iommufd_viommu_find_dev / iommufd_viommu_get_vdev_id).
   */
  viommuInit?(dev: UnitDevice, type: number, parent: PagingDomainSpec, data: UserData | null, core: ViommuCore): Result<ViommuDriver>;
  /**
   * ops->user_pasid_table: a page request with a PASID the device has no attachment for goes
   * to the RID's nested domain (the guest owns the PASID table).
   */
  readonly userPasidTable?: boolean;
  /**
   * The driver's IOPF enable when a domain with a fault handler (a HWPT with a FAULT) is
   * attached to `dev` (v6.16+: inside attach_dev / set_dev_pasid, iopf_for_domain_set,
   * arm_smmu_enable_iopf; v6.11–v6.15: iommu_dev_enable_feature(IOPF) from iommufd). Null: the
   * attach may go on; an errno fails it. Absent: the driver does not refuse such an attach.
   */
  iopfEnable?(dev: UnitDevice): Errno | null;
  /**
   * A DMA of `dev` stopped at a translation fault: what the IOMMU and its driver hand to
   * iommu_report_device_fault (PCIe PRI: a Page Request the device sent because it may wait,
   * `iopf`; an SMMU stall: a stalled transaction, whatever the device asked). Null: no page
   * request (the device cannot wait, or the unit does not stall it) and the DMA fails as usual;
   * `{ rejected: true }`: the driver answers the request itself (INVALID) and reports nothing.
   * `nested`: the request went through a nested (user stage-1) domain. `last`: a PRI device's
   * request closes its page request group (PCIe Last); a stall is always a group of its own.
   * `stalled`: the nested domain's walk stalled the transaction (SMMUv3 CD.S); `faultStage`: the
   * stage that faulted in a nested domain.
   */
  pageRequest?(dev: UnitDevice, req: FaultingRequest, how: { iopf: boolean; grpid: number; nested: boolean; last: boolean; stalled?: boolean; faultStage?: 1 | 2 }): PageRequestReport | { rejected: true } | null;
  /** The unit's invalidation sink (null: nothing caches); the IOTLB engine sets it. */
  invalidationSink?: InvalidationSink | null;
}

/** One invalidation command as the unit's queue executes it (physical IDs), e.g. an SMMU CMDQ command. */
export interface HwInvalidation {
  op: number;
  words: readonly bigint[];
}

/**
 * Where a unit's executed invalidations go: the IOTLB engine's hook. Without one the walk is
 * live (nothing is cached), so nothing needs invalidating.
 */
export interface InvalidationSink {
  issue(commands: readonly HwInvalidation[]): void;
}

/** What a vIOMMU driver may ask the iommufd core about its vIOMMU (driver.c helpers). */
export interface ViommuCore {
  /** iommufd_viommu_find_dev: the device whose vDEVICE has this virt_id, or null. */
  deviceOf(virtId: bigint): UnitDevice | null;
  /** iommufd_viommu_get_vdev_id: the virt_id of the device's vDEVICE here, or null (ENOENT). */
  virtIdOf(dev: UnitDevice): bigint | null;
  /**
   * iommufd_viommu_report_event: queue an event of `type` (enum iommu_veventq_type) with its
   * payload; null when queued (or counted lost), EOPNOTSUPP when the vIOMMU has no such queue.
   */
  reportEvent(type: number, data: Uint8Array): Errno | null;
}

/**
 * struct iommufd_viommu_ops as the core calls them. One object per vIOMMU; a driver offering
 * several vIOMMU types returns one per type (a selftest vIOMMU is one more implementation).
 */
export interface ViommuDriver {
  readonly unit: IommuUnit;
  readonly type: number;
  /** alloc_domain_nested: flags without IOMMU_HWPT_FAULT_ID_VALID. Absent → EOPNOTSUPP. */
  allocNested?(flags: number, data: UserData): Result<NestedDomain>;
  /**
   * cache_invalidate: `handled` is what the driver leaves in array->entry_num (the core copies
   * it back whatever the errno). Absent → EOPNOTSUPP.
   */
  invalidate?(array: InvalidateArray): InvalidateResult;
  /** Driver state for STATE dumps (SMMUv3: the VMID). */
  dumpState?(): Record<string, unknown>;
  /** get_hw_queue_size(type) != 0. Absent → IOMMU_HW_QUEUE_ALLOC is EOPNOTSUPP. */
  hwQueueSupported?(type: number): boolean;
  /**
   * hw_queue_init_phys for the queue at `index` (its memory already pinned and contiguous):
   * the queue this one must depend on (iommufd_hw_queue_depend), null for none, or an errno.
   */
  hwQueueInit?(index: number, queue: object): Result<object | null>;
  /** The HW queue at `index` is destroyed. */
  hwQueueDestroy?(index: number): void;
  /**
   * A region the driver offers for mmap on the iommufd fd (iommufd_viommu_alloc_mmap): its
   * length, the content its pages hold, and the user data to write back once the core has
   * given it an offset.
   */
  readonly mmapRegion?: { lengthBytes: number; initial: Uint8Array; withOffset(offsetBytes: bigint): Uint8Array };
  /** What viommu_init wrote back into the user's driver data (the selftest's out_data …), if anything. */
  readonly userDataOut?: Uint8Array;
}

/** Builds a unit from its topology knobs (everything in the `iommu` object except `model`). */
export type UnitFactory = (knobs: Record<string, unknown>) => IommuUnit;

/** The knob value or its default, rejecting a wrong type with a message naming the key. */
export function knob<T extends boolean | number | string>(
  model: string,
  knobs: Record<string, unknown>,
  key: string,
  defaultValue: T,
): T {
  const v = knobs[key];
  if (v === undefined) return defaultValue;
  if (typeof v !== typeof defaultValue) {
    throw new TypeError(`iommu model '${model}': knob '${key}' must be a ${typeof defaultValue}`);
  }
  return v as T;
}

/** The smallest page size of a pgsize bitmap, in bytes (bigint; 0n for an empty bitmap). */
export function smallestPageSize(pgsizeBitmap: bigint): bigint {
  return pgsizeBitmap & -pgsizeBitmap;
}
