/**
 * The bridge from a hardware model's UnitProfile (intel-vtd, amd-vi, arm-smmuv3, riscv-iommu,
 * ppc-tce) to the core's IommuUnit interface (unit.ts): device flags from the topology, the
 * allocation-flag and driver-data checks iommufd leaves to the driver, attach verdicts for
 * paging and nested domains, and PASID attach. The profile says what the hardware and its
 * Linux driver decide; this file only routes and converts.
 *
 * Invariants: a PagingDomainSpec or NestedDomain this unit hands out is remembered with the
 * profile plan it came from (WeakMap), so attach checks compare plans, never re-derive them;
 * nothing here changes state except the remembered plans.
 */

import {
  fail,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_DATA_NONE,
  isPagingSpec,
  ok,
} from './unit.ts';
import type {
  DomainSpec,
  Errno,
  HwInfo,
  InvalidateArray,
  InvalidateResult,
  InvalidationSink,
  IommuUnit,
  NestedDomain,
  PagingDomainSpec,
  Result,
  ReservedRegion,
  UnitDevice,
  UserData,
  ViommuCore,
  ViommuDriver,
} from './unit.ts';
import {
  IOMMU_HW_INFO_TYPE_NONE,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  type FormatConfig,
  type NestedPlan,
  type PagingPlan,
  type UnitProfile,
} from './unit-profile.ts';

/** PCI PASID width of a topology device with the `pasid` flag (as the mock: 20 bits). */
export const DEVICE_PASID_BITS = 20;

/** Extra, model-specific hooks a profile may offer beyond UnitProfile. */
export interface ProfileExtras {
  /** VT-d: intel_pasid_setup_nested checks of a nested domain's user data at attach. */
  checkNestedAttach?(fields: Record<string, bigint>): Errno | null;
  /** get_viommu_size(dev, type) != 0 (SMMUv3: arm_smmu_get_viommu_size). */
  viommuSupported?(type: number): boolean;
  /** viommu_init over the NEST_PARENT domain `parent` of any unit (SMMUv3: arm_vsmmu_init). */
  viommuInit?(unit: ProfileUnit, type: number, parent: PagingDomainSpec, core: ViommuCore): Result<ViommuDriver>;
  /** The nested domain's cache_invalidate_user (VT-d); absent → INVALIDATE is EOPNOTSUPP. */
  invalidateNested?(fields: Record<string, bigint>, array: InvalidateArray): InvalidateResult;
  /** Extra set_dev_pasid rules of the driver for a paging domain (SMMUv3: stage 1 only). */
  checkPasidAttach?(plan: PagingPlan): Errno | null;
  /** Extra set_dev_pasid rules of the driver for a nested domain over `parent` (VT-d: no dirty-tracking parent). */
  checkNestedPasidAttach?(parent: PagingPlan): Errno | null;
  /** How hardware starts the stage-1 walk of a nested domain with these fields (NestedDomain.stage1). */
  nestedStage1?(fields: Record<string, bigint>): NestedDomain['stage1'] | null;
  /** The driver's IOPF enable for a domain with a fault handler (IommuUnit.iopfEnable). */
  iopfEnable?(dev: UnitDevice): Errno | null;
  /** The page request a faulting DMA raises, if any (IommuUnit.pageRequest). */
  pageRequest?: IommuUnit['pageRequest'];
  /** ops->user_pasid_table (IommuUnit.userPasidTable). */
  userPasidTable?: boolean;
}

/**
 * The spec's `table`: the format name plus reference/formats FormatConfig keys. The PPC window
 * goes along: the TCE format indexes bus page numbers minus the window's first page (Linux
 * it_offset), so a window at a non-zero bus address (the 64-bit DDW window) maps inside it.
 */
function tableConfig(c: FormatConfig): { format: string; [key: string]: unknown } {
  if (c.window === undefined) return { ...c };
  // With a window the table's input is the bus address: as many bits as the window's end needs
  // (the PGTABLE_DUMP `ias`), the window itself being log2(size) of it.
  const end = BigInt(c.window.start) + BigInt(c.window.sizeBytes) - 1n;
  return { ...c, ias: Math.max(c.ias, end.toString(2).length) };
}

interface NestedRecord {
  parent: PagingPlan;
  nested: NestedPlan;
}

export class ProfileUnit implements IommuUnit {
  readonly model: string;
  readonly knobs: Readonly<Record<string, unknown>>;
  readonly formats: readonly string[];
  private readonly plans = new WeakMap<PagingDomainSpec, PagingPlan>();
  private readonly nesteds = new WeakMap<NestedDomain, NestedRecord>();
  readonly allocNested?: IommuUnit['allocNested'];
  readonly setDevPasid?: IommuUnit['setDevPasid'];
  readonly viommuSupported?: IommuUnit['viommuSupported'];
  readonly viommuInit?: IommuUnit['viommuInit'];
  readonly iopfEnable?: IommuUnit['iopfEnable'];
  readonly pageRequest?: IommuUnit['pageRequest'];
  readonly userPasidTable?: boolean;
  invalidationSink: InvalidationSink | null = null;

  constructor(
    readonly profile: UnitProfile & ProfileExtras,
    /** Whether the driver has a set_dev_pasid for paging domains. */
    pasidAttach: boolean,
    /** Whether nesting goes through domain_alloc_nested (VT-d) rather than only a vIOMMU (SMMUv3). */
    nestedViaParent: boolean,
  ) {
    this.model = profile.model;
    this.knobs = profile.knobs;
    const formats = new Set<string>();
    for (const flags of [0, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_DIRTY_TRACKING]) {
      const r = profile.planPaging(flags);
      if (r.ok) formats.add(r.plan.config.format);
    }
    this.formats = [...formats];
    if (nestedViaParent && profile.planNested) this.allocNested = (dev, parent, flags, data) => this.nestedOn(dev, parent, flags, data);
    if (pasidAttach) this.setDevPasid = (dev, domain, pasid) => this.pasidAttach(dev, domain, pasid);
    if (profile.iopfEnable) this.iopfEnable = profile.iopfEnable;
    if (profile.pageRequest) this.pageRequest = profile.pageRequest;
    if (profile.userPasidTable) this.userPasidTable = true;
    const { viommuSupported, viommuInit } = profile;
    if (viommuSupported && viommuInit) {
      this.viommuSupported = (_dev, type) => viommuSupported(type);
      this.viommuInit = (_dev, type, parent, _data, core) => viommuInit(this, type, parent, core);
    }
  }

  hwInfo(_dev: UnitDevice, requestedType: number): Result<HwInfo> | null {
    const info = this.profile.hwInfo(requestedType);
    if ('errno' in info) return fail(info.errno, 'hw_info type');
    // A driver without a hw_info op: the core reports type NONE itself.
    if (info.type === IOMMU_HW_INFO_TYPE_NONE) return null;
    return ok(info);
  }

  capabilities(dev: UnitDevice): number {
    return dev.noDirty ? this.profile.capabilities & ~IOMMU_HW_CAP_DIRTY_TRACKING : this.profile.capabilities;
  }

  maxPasidLog2(dev: UnitDevice): number {
    return dev.pasid ? Math.min(this.profile.maxPasidLog2, DEVICE_PASID_BITS) : 0;
  }

  reservedRegions(_dev: UnitDevice): ReservedRegion[] {
    return this.profile.reservedRegions.map((r) => ({ ...r }));
  }

  allocPaging(dev: UnitDevice, flags: number, data: UserData | null): Result<PagingDomainSpec> {
    // Every modelled driver refuses driver data on a paging domain.
    if (data !== null && data.type !== IOMMU_HWPT_DATA_NONE) return fail('EOPNOTSUPP', 'no paging-domain driver data');
    if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING && dev.noDirty) return fail('EOPNOTSUPP', 'device cannot track dirty');
    const r = this.profile.planPaging(flags);
    if (!r.ok) return fail(r.errno, r.why);
    const p = r.plan;
    const spec: PagingDomainSpec = {
      unit: this,
      table: tableConfig(p.config),
      pgsizeBitmap: p.pgsizeBitmap,
      aperture: { start: p.aperture.start, last: p.aperture.end },
      dirtyOps: p.dirtyTracking,
      nestParent: p.nestParent,
      pasid: p.pasidCapable,
      attrs: { ...p.attrs },
    };
    this.plans.set(spec, p);
    return ok(spec);
  }

  /** The plan of a paging domain made by any ProfileUnit, or null for another kind of unit. */
  planOf(spec: PagingDomainSpec): PagingPlan | null {
    const u = spec.unit;
    return u instanceof ProfileUnit ? (u.plans.get(spec) ?? null) : null;
  }

  private nestedOn(_dev: UnitDevice, parent: PagingDomainSpec, flags: number, data: UserData): Result<NestedDomain> {
    const plan = this.planOf(parent);
    if (plan === null || parent.unit.model !== this.model) return fail('EINVAL', 'parent from another driver');
    const r = this.profile.planNested!(plan, flags, data);
    if (!r.ok) return fail(r.errno, r.why);
    const fields = { ...r.nested.fields };
    const nested: NestedDomain = {
      unit: this,
      dataType: r.nested.dataType,
      fields,
      pasid: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
    };
    const invalidate = this.profile.invalidateNested;
    if (invalidate) nested.invalidateUser = (array) => invalidate(fields, array);
    const stage1 = this.profile.nestedStage1?.(fields);
    if (stage1) nested.stage1 = stage1;
    this.nesteds.set(nested, { parent: plan, nested: r.nested });
    return ok(nested);
  }

  checkAttach(dev: UnitDevice, domain: DomainSpec): Errno | null {
    if (domain.unit.model !== this.model) return 'EINVAL';
    if (isPagingSpec(domain)) {
      if (domain.dirtyOps && dev.noDirty) return 'EINVAL';
      if (domain.unit !== this && this.profile.foreignInstanceErrno) return this.profile.foreignInstanceErrno;
      const plan = this.planOf(domain);
      return plan === null ? 'EINVAL' : this.profile.checkAttach(plan);
    }
    if (domain.checkAttach !== undefined) {
      // A nested domain of a vIOMMU: bound to the unit instance, then the driver's own rules.
      if (domain.unit !== this) return this.profile.foreignInstanceErrno ?? 'EINVAL';
      return domain.checkAttach(dev);
    }
    const rec = domain.unit instanceof ProfileUnit ? domain.unit.nesteds.get(domain) : undefined;
    if (rec === undefined) return 'EINVAL';
    if (domain.unit !== this && this.profile.foreignInstanceErrno) return this.profile.foreignInstanceErrno;
    const parentVerdict = this.profile.checkAttach(rec.parent);
    if (parentVerdict) return parentVerdict;
    return this.profile.checkNestedAttach ? this.profile.checkNestedAttach(rec.nested.fields) : null;
  }

  private pasidAttach(dev: UnitDevice, domain: DomainSpec | 'blocked', _pasid: number): Errno | null {
    if (domain === 'blocked') return null;
    // Whether the device itself has PASID is the core's check (iommu_attach_device_pasid).
    if (this.profile.maxPasidLog2 === 0) return 'EOPNOTSUPP';
    if (isPagingSpec(domain)) {
      // intel_iommu_set_dev_pasid: a dirty-tracking domain cannot sit on a PASID.
      if (domain.dirtyOps) return 'EINVAL';
      const plan = this.planOf(domain);
      if (plan && this.profile.checkPasidAttach) {
        const why = this.profile.checkPasidAttach(plan);
        if (why) return why;
      }
    } else {
      const rec = domain.unit instanceof ProfileUnit ? domain.unit.nesteds.get(domain) : undefined;
      if (rec && this.profile.checkNestedPasidAttach) {
        const why = this.profile.checkNestedPasidAttach(rec.parent);
        if (why) return why;
      }
    }
    return this.checkAttach(dev, domain);
  }
}
