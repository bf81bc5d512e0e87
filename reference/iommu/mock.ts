/**
 * The `mock` IOMMU unit: the kernel selftest mock driver (drivers/iommu/iommufd/selftest.c),
 * so that the selftests port case by case. IOMMU page 2048 bytes (PAGE_SIZE/2), aperture
 * MOCK_APERTURE_START..MOCK_APERTURE_LAST for default domains, a huge-page table type whose
 * page sizes are MOCK_HUGE_PAGE_SIZE | PAGE_SIZE, GET_HW_INFO type IOMMU_HW_INFO_TYPE_SELFTEST
 * with test_reg 0xdeadbeef, nested data IOMMU_HWPT_DATA_SELFTEST {iotlb, pagetable_type} with
 * four IOTLB slots cleared by IOMMU_HWPT_INVALIDATE_DATA_SELFTEST entries {flags, iotlb_id}.
 * Device flags: `no_dirty` (MOCK_FLAGS_DEVICE_NO_DIRTY), `pasid` (MOCK_FLAGS_DEVICE_PASID,
 * pasid-num-bits 20). The selftest vIOMMU (IOMMU_VIOMMU_TYPE_SELFTEST) is mock-viommu.ts. No reserved regions (the merged mock has no get_resv_regions).
 *
 * Knob `huge_iova` (default false) gives automatic domains MOCK_HUGE_PAGE_SIZE as well, like the
 * MOCK_FLAGS_DEVICE_HUGE_IOVA device flag (which a device made by IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS
 * carries as `hugeIova`).
 */

import {
  copyUserData,
  fail,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  isPagingSpec,
  knob,
  ok,
} from './unit.ts';
import { mockPageRequest } from './page-request.ts';
import type {
  DomainSpec,
  Errno,
  FaultingRequest,
  HwInfo,
  InvalidateArray,
  InvalidateResult,
  IommuUnit,
  NestedDomain,
  PageRequestReport,
  PagingDomainSpec,
  Result,
  UnitDevice,
  UserData,
  ViommuCore,
  ViommuDriver,
} from './unit.ts';
import type { MockDevState, MockViommuDriver } from './mock-viommu.ts';
import { initMockViommu, IOMMU_TEST_DEV_CACHE_DEFAULT, IOMMU_VIOMMU_TYPE_SELFTEST, MOCK_DEV_CACHE_NUM } from './mock-viommu.ts';

export const MOCK_IO_PAGE_SIZE = 2048;
export const MOCK_HUGE_PAGE_SIZE = 512 * MOCK_IO_PAGE_SIZE;
export const CPU_PAGE_SIZE = 4096;
export const MOCK_APERTURE_START = 1n << 24n;
export const MOCK_APERTURE_LAST = (1n << 31n) - 1n;
export const MOCK_PASID_WIDTH = 20;
export const IOMMU_HW_INFO_TYPE_SELFTEST = 0xfeedbeef;
export const IOMMU_HW_INFO_SELFTEST_REGVAL = 0xdeadbeef;
export const IOMMU_HWPT_DATA_SELFTEST = 0xdead;
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
export const IOMMU_TEST_INVALIDATE_FLAG_ALL = 1 << 0;
export const MOCK_NESTED_DOMAIN_IOTLB_NUM = 4;
export const MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = MOCK_NESTED_DOMAIN_IOTLB_NUM - 1;
export const MOCK_IOMMUPT_DEFAULT = 0;
export const MOCK_IOMMUPT_HUGE = 1;
/** struct iommu_hwpt_selftest { __u32 iotlb; __u32 pagetable_type; }: first version ends at iotlb. */
const HWPT_SELFTEST_SIZE = 8;
const HWPT_SELFTEST_MIN = 4;
/** struct iommu_hwpt_invalidate_selftest { __u32 flags; __u32 iotlb_id; }. */
const INVALIDATE_SELFTEST_SIZE = 8;
const INVALIDATE_SELFTEST_MIN = 8;
/** The mock's set_dev_pasid fakes ENOMEM on every second call for this PASID. */
export const IOMMU_TEST_PASID_FAKE_ERROR = 1024;

const PAGING_FLAGS = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID;

const u32le = (bytes: Uint8Array, offsetBytes: number): number =>
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offsetBytes, true);

class MockNested implements NestedDomain {
  readonly iotlb: number[];
  readonly dataType = IOMMU_HWPT_DATA_SELFTEST;
  readonly fields: Record<string, number>;

  constructor(
    readonly unit: IommuUnit,
    iotlb: number,
    readonly pasid: boolean,
    /** Allocated on this selftest vIOMMU (mock_nested->mock_viommu), else null. */
    readonly viommu: MockViommuDriver | null = null,
  ) {
    this.iotlb = new Array<number>(MOCK_NESTED_DOMAIN_IOTLB_NUM).fill(iotlb);
    this.fields = { iotlb };
  }

  /** mock_domain_cache_invalidate_user: entries in order, entry_num = entries handled. */
  invalidateUser(array: InvalidateArray): InvalidateResult {
    if (array.dataType !== IOMMU_HWPT_INVALIDATE_DATA_SELFTEST) return { handled: 0, errno: 'EINVAL' };
    let handled = 0;
    for (let i = 0; i < array.entryNum; i++) {
      const entry = copyUserData(
        { type: array.dataType, lengthBytes: array.entryLenBytes, bytes: array.readEntry(i) },
        IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
        INVALIDATE_SELFTEST_SIZE,
        INVALIDATE_SELFTEST_MIN,
      );
      if (!entry.ok) return { handled, errno: entry.errno };
      const flags = u32le(entry.value, 0);
      const iotlbId = u32le(entry.value, 4);
      if (flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) return { handled, errno: 'EOPNOTSUPP' };
      if (iotlbId > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX) return { handled, errno: 'EINVAL' };
      if (flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) this.iotlb.fill(0);
      else this.iotlb[iotlbId] = 0;
      handled++;
    }
    return { handled };
  }

  dumpState(): Record<string, unknown> {
    return { iotlb: [...this.iotlb] };
  }
}

export class MockUnit implements IommuUnit {
  readonly model = 'mock';
  /** mock_ops.user_pasid_table. */
  readonly userPasidTable = true;
  readonly formats = ['mock'] as const;
  readonly knobs: Readonly<Record<string, unknown>>;
  private readonly hugeIova: boolean;
  /** mock_dev->pasid_1024_fake_error, per device. */
  private readonly pasid1024Armed = new Set<string>();
  /** struct mock_dev state by device name: cache slots and the vIOMMU it is attached through. */
  private readonly devs = new Map<string, MockDevState>();

  /**
   * A mock device that may wait raises a page request (the DMA hooks' stand-in for the
   * selftest's IOMMU_TEST_OP_TRIGGER_IOPF, which has no DMA behind it).
   */
  pageRequest(_dev: UnitDevice, req: FaultingRequest, how: { iopf: boolean; grpid: number; nested: boolean; last: boolean }): PageRequestReport | null {
    return how.iopf ? mockPageRequest(req, how.grpid, how.last) : null;
  }

  /** mock_dev_enable_iopf (v6.16+) / the feature op before: IOPF is always available. */
  iopfEnable(_dev: UnitDevice): Errno | null {
    return null;
  }

  constructor(knobs: Record<string, unknown>) {
    for (const key of Object.keys(knobs)) {
      if (key !== 'huge_iova') throw new TypeError(`iommu model 'mock': unknown knob '${key}' (known: huge_iova)`);
    }
    this.hugeIova = knob('mock', knobs, 'huge_iova', false);
    this.knobs = { huge_iova: this.hugeIova };
  }

  hwInfo(_dev: UnitDevice, requestedType: number): Result<HwInfo> {
    if (requestedType !== IOMMU_HW_INFO_TYPE_DEFAULT && requestedType !== IOMMU_HW_INFO_TYPE_SELFTEST) {
      return fail('EOPNOTSUPP', 'mock hw_info knows only the selftest type');
    }
    // struct iommu_test_hw_info { __u32 flags; __u32 test_reg; }
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setUint32(4, IOMMU_HW_INFO_SELFTEST_REGVAL, true);
    return ok({ type: IOMMU_HW_INFO_TYPE_SELFTEST, bytes });
  }

  /** mock_domain_capable: dirty unless no_dirty; never IOMMU_CAP_PCI_ATS_SUPPORTED (not a PCI device). */
  capabilities(dev: UnitDevice): number {
    return (dev.noDirty ? 0 : IOMMU_HW_CAP_DIRTY_TRACKING) | IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
  }

  maxPasidLog2(dev: UnitDevice): number {
    return dev.pasid ? MOCK_PASID_WIDTH : 0;
  }

  reservedRegions(): [] {
    return [];
  }

  /** mock_domain_alloc_paging_flags + mock_domain_alloc_pgtable. */
  allocPaging(dev: UnitDevice, flags: number, data: UserData | null): Result<PagingDomainSpec> {
    const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
    if (flags & ~PAGING_FLAGS || (dirty && dev.noDirty)) return fail('EOPNOTSUPP', 'mock paging flags');
    if (data !== null && data.type !== IOMMU_HWPT_DATA_SELFTEST && data.type !== IOMMU_HWPT_DATA_NONE) {
      return fail('EOPNOTSUPP', 'mock paging data type');
    }
    let pagetableType = MOCK_IOMMUPT_DEFAULT;
    if (data !== null) {
      const cfg = copyUserData(data, IOMMU_HWPT_DATA_SELFTEST, HWPT_SELFTEST_SIZE, HWPT_SELFTEST_MIN);
      if (!cfg.ok) return cfg;
      pagetableType = u32le(cfg.value, 4);
    }
    if (pagetableType !== MOCK_IOMMUPT_DEFAULT && pagetableType !== MOCK_IOMMUPT_HUGE) {
      return fail('EOPNOTSUPP', 'mock pagetable_type');
    }
    const huge = pagetableType === MOCK_IOMMUPT_HUGE;
    let pgsizeBitmap = BigInt(MOCK_IO_PAGE_SIZE);
    if (huge) pgsizeBitmap = BigInt(MOCK_HUGE_PAGE_SIZE | CPU_PAGE_SIZE);
    else if (this.hugeIova || dev.hugeIova === true) pgsizeBitmap |= BigInt(MOCK_HUGE_PAGE_SIZE);
    return ok({
      unit: this,
      // generic_pt AMDv1 with a 2 KiB page, PT_FEAT_DYNAMIC_TOP forced by the mock format
      // (iommu_mock.c) and starting_level 2: 3 levels (2^38) to start; the huge type's 56-bit
      // aperture lets the table grow to 5 levels on demand.
      table: { format: 'mock', levels: huge ? 5 : 3 },
      pgsizeBitmap,
      // Only the default table type gets the narrowed test aperture; the huge one keeps the
      // 56-bit AMDv1 input space generic_pt reports (hw_max_vasz_lg2 = 56).
      aperture: huge ? { start: 0n, last: (1n << 56n) - 1n } : { start: MOCK_APERTURE_START, last: MOCK_APERTURE_LAST },
      dirtyOps: dirty,
      nestParent: (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0,
      pasid: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
      attrs: { pagetable_type: pagetableType },
    });
  }

  /** mock_domain_alloc_nested (parent checks of the core are the core's). */
  allocNested(_dev: UnitDevice, parent: PagingDomainSpec, flags: number, data: UserData): Result<NestedDomain> {
    if (parent.unit.model !== this.model) return fail('EINVAL', 'parent is not a mock domain');
    return this.nested(flags, data, null);
  }

  /** __mock_domain_alloc_nested: shared by NEST_PARENT HWPTs and the selftest vIOMMU. */
  private nested(flags: number, data: UserData, viommu: MockViommuDriver | null): Result<NestedDomain> {
    if (flags & ~IOMMU_HWPT_ALLOC_PASID) return fail('EOPNOTSUPP', 'mock nested flags');
    if (data.type !== IOMMU_HWPT_DATA_SELFTEST) return fail('EOPNOTSUPP', 'mock nested data type');
    const cfg = copyUserData(data, IOMMU_HWPT_DATA_SELFTEST, HWPT_SELFTEST_SIZE, HWPT_SELFTEST_MIN);
    if (!cfg.ok) return cfg;
    return ok(new MockNested(this, u32le(cfg.value, 0), (flags & IOMMU_HWPT_ALLOC_PASID) !== 0, viommu));
  }

  /** struct mock_dev of `dev`. */
  devState(dev: UnitDevice): MockDevState {
    let st = this.devs.get(dev.name);
    if (st === undefined) {
      st = { cache: new Array<number>(MOCK_DEV_CACHE_NUM).fill(IOMMU_TEST_DEV_CACHE_DEFAULT), viommu: null, vdevId: 0n };
      this.devs.set(dev.name, st);
    }
    return st;
  }

  /** mock_dev_release: a device made by IOMMU_TEST_OP_MOCK_DOMAIN leaves; a later one of its name starts afresh. */
  forgetDevice(dev: UnitDevice): void {
    this.devs.delete(dev.name);
    this.pasid1024Armed.delete(dev.name);
  }

  viommuSupported(_dev: UnitDevice, type: number): boolean {
    return type === IOMMU_VIOMMU_TYPE_SELFTEST;
  }

  /** mock_viommu_init. */
  viommuInit(_dev: UnitDevice, _type: number, _parent: PagingDomainSpec, data: UserData | null, core: ViommuCore): Result<ViommuDriver> {
    return initMockViommu(this, data, core, (d) => this.devState(d), (f, d, v) => this.nested(f, d, v));
  }

  /**
   * mock_domain_nop_attach: a dirty-tracking domain refuses a no_dirty device; a nested domain
   * of a vIOMMU needs the device's vDEVICE there (ENOENT), and the device remembers that
   * vIOMMU and its virt_id until it attaches elsewhere.
   */
  checkAttach(dev: UnitDevice, domain: DomainSpec): Errno | null {
    if (isPagingSpec(domain) && domain.dirtyOps && dev.noDirty) return 'EINVAL';
    const viommu = !isPagingSpec(domain) && domain instanceof MockNested ? domain.viommu : null;
    let vdevId = 0n;
    if (viommu !== null) {
      const id = viommu.core.virtIdOf(dev);
      if (id === null) return 'ENOENT';
      vdevId = id;
    }
    const st = this.devState(dev);
    if (st.viommu !== viommu) {
      st.viommu = viommu;
      st.vdevId = vdevId;
    }
    return null;
  }

  /** mock_domain_set_dev_pasid_nop, with its PASID 1024 every-second-call ENOMEM hook. */
  setDevPasid(dev: UnitDevice, domain: DomainSpec | 'blocked', pasid: number): Errno | null {
    if (pasid === IOMMU_TEST_PASID_FAKE_ERROR) {
      if (domain === 'blocked') this.pasid1024Armed.delete(dev.name);
      else if (this.pasid1024Armed.has(dev.name)) {
        this.pasid1024Armed.delete(dev.name);
        return 'ENOMEM';
      } else this.pasid1024Armed.add(dev.name);
    }
    return null;
  }
}

export function createMockUnit(knobs: Record<string, unknown>): IommuUnit {
  return new MockUnit(knobs);
}
