/**
 * The selftest vIOMMU of the mock driver (drivers/iommu/iommufd/selftest.c, v6.13+; driver
 * data and mmap v6.16+): IOMMU_VIOMMU_TYPE_SELFTEST on a mock NEST_PARENT, its nested domains
 * (IOMMU_HWPT_DATA_SELFTEST, as on a NEST_PARENT HWPT), its cache invalidation
 * (IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST entries {flags, vdev_id, cache_id} clearing the mock
 * device's four cache slots), the attach rule of its nested domains (the device needs a
 * vDEVICE on it: ENOENT), its HW queues (IOMMU_HW_QUEUE_TYPE_SELFTEST, indexes 0..1 in order) and the vEVENT the selftest triggers (IOMMU_VEVENTQ_TYPE_SELFTEST
 * with the virt_id the device had when it attached).
 *
 * Per device (mock_dev): `cache` (MOCK_DEV_CACHE_NUM slots, IOMMU_TEST_DEV_CACHE_DEFAULT until
 * invalidated) and `viommu`/`vdevId`, set when the device attaches to a nested domain of a
 * vIOMMU and cleared when it attaches to anything else (mock_domain_nop_attach).
 */

import type { Errno, InvalidateArray, InvalidateResult, IommuUnit, NestedDomain, Result, UnitDevice, UserData, ViommuCore, ViommuDriver } from './unit.ts';
import { copyUserData, fail, ok } from './unit.ts';

export const IOMMU_VIOMMU_TYPE_SELFTEST = 0xdeadbeef;
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
export const IOMMU_VEVENTQ_TYPE_SELFTEST = 0xbeefbeef;
export const MOCK_DEV_CACHE_NUM = 4;
export const MOCK_DEV_CACHE_ID_MAX = MOCK_DEV_CACHE_NUM - 1;
export const IOMMU_TEST_DEV_CACHE_DEFAULT = 0xbaddad;
export const IOMMU_HW_QUEUE_TYPE_SELFTEST = 0xdeadbeef;
export const IOMMU_TEST_HW_QUEUE_MAX = 2;
const IOMMU_TEST_INVALIDATE_FLAG_ALL = 1 << 0;
/** struct iommu_viommu_selftest {in_data, out_data, out_mmap_offset, out_mmap_length}; first version ends at out_data. */
const VIOMMU_SELFTEST_BYTES = 24;
const VIOMMU_SELFTEST_MIN_BYTES = 8;
/** struct iommu_viommu_invalidate_selftest. */
const VIOMMU_INVALIDATE_BYTES = 12;
/** Two CPU pages: the region the selftest vIOMMU offers for mmap. */
export const MOCK_VIOMMU_MMAP_BYTES = 2 * 4096;

/** The per-device state of the mock driver (struct mock_dev). */
export interface MockDevState {
  cache: number[];
  viommu: MockViommuDriver | null;
  vdevId: bigint;
}

/** copy_struct_from_user: short input is zero-extended; long input must be zero past the kernel struct (E2BIG). */
function copyStruct(bytes: Uint8Array, kernelBytes: number): Result<Uint8Array> {
  if (bytes.length > kernelBytes && bytes.subarray(kernelBytes).some((b) => b !== 0)) return fail('E2BIG', 'non-zero bytes past the struct');
  const out = new Uint8Array(kernelBytes);
  out.set(bytes.subarray(0, kernelBytes));
  return ok(out);
}

const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);

export class MockViommuDriver implements ViommuDriver {
  readonly type = IOMMU_VIOMMU_TYPE_SELFTEST;

  constructor(
    readonly unit: IommuUnit,
    readonly core: ViommuCore,
    private readonly devState: (dev: UnitDevice) => MockDevState,
    private readonly nestedFactory: (flags: number, data: UserData, viommu: MockViommuDriver) => Result<NestedDomain>,
    inData: number | null,
  ) {
    if (inData !== null) {
      // Two zeroed pages whose first word is in_data, and the data written back with the offset.
      const initial = new Uint8Array(4);
      new DataView(initial.buffer).setUint32(0, inData, true);
      this.mmapRegion = {
        lengthBytes: MOCK_VIOMMU_MMAP_BYTES,
        initial,
        withOffset: (offsetBytes: bigint) => {
          const out = new Uint8Array(VIOMMU_SELFTEST_BYTES);
          const dv = new DataView(out.buffer);
          dv.setUint32(0, inData, true);
          dv.setUint32(4, inData, true); // out_data: the loopback
          dv.setBigUint64(8, offsetBytes, true);
          dv.setBigUint64(16, BigInt(MOCK_VIOMMU_MMAP_BYTES), true);
          return out;
        },
      };
    }
  }

  readonly mmapRegion?: { lengthBytes: number; initial: Uint8Array; withOffset(offsetBytes: bigint): Uint8Array };

  /** mock_viommu->hw_queue[]: the queue objects by index. */
  private readonly hwQueues: Array<object | null> = new Array<object | null>(IOMMU_TEST_HW_QUEUE_MAX).fill(null);

  /** mock_viommu_get_hw_queue_size: only IOMMU_HW_QUEUE_TYPE_SELFTEST. */
  hwQueueSupported(type: number): boolean {
    return type === IOMMU_HW_QUEUE_TYPE_SELFTEST;
  }

  /**
   * mock_hw_queue_init_phys: index ≥ IOMMU_TEST_HW_QUEUE_MAX → EINVAL, a taken index → EEXIST,
   * an index whose predecessor is missing → EIO; a queue depends on its predecessor.
   */
  hwQueueInit(index: number, queue: object): Result<object | null> {
    if (index >= IOMMU_TEST_HW_QUEUE_MAX) return fail('EINVAL', 'index ≥ IOMMU_TEST_HW_QUEUE_MAX');
    if (this.hwQueues[index] !== null) return fail('EEXIST', 'index taken');
    const prev = index > 0 ? this.hwQueues[index - 1] : null;
    if (index > 0 && prev === null) return fail('EIO', 'queues start at index 0');
    this.hwQueues[index] = queue;
    return ok(prev);
  }

  hwQueueDestroy(index: number): void {
    this.hwQueues[index] = null;
  }

  /** mock_viommu_alloc_domain_nested. */
  allocNested(flags: number, data: UserData): Result<NestedDomain> {
    return this.nestedFactory(flags, data, this);
  }

  /** mock_viommu_cache_invalidate: entry_num = entries handled before the first error. */
  invalidate(array: InvalidateArray): InvalidateResult {
    // A zero-length array only validates the type.
    if (array.entryNum === 0 && array.dataType === IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST) return { handled: 0 };
    // iommu_copy_struct_from_full_user_array: the whole array is copied before any entry is used.
    if (array.dataType !== IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST || array.entryNum === 0) return { handled: 0, errno: 'EINVAL' };
    const entries: Uint8Array[] = [];
    for (let i = 0; i < array.entryNum; i++) {
      const raw = array.readEntry(i);
      if (raw === null) return { handled: 0, errno: 'EFAULT' };
      const e = copyStruct(raw, VIOMMU_INVALIDATE_BYTES);
      if (!e.ok) return { handled: 0, errno: e.errno };
      entries.push(e.value);
    }
    let handled = 0;
    for (const e of entries) {
      const flags = u32(e, 0);
      const vdevId = u32(e, 4);
      const cacheId = u32(e, 8);
      if (flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) return { handled, errno: 'EOPNOTSUPP' };
      if (cacheId > MOCK_DEV_CACHE_ID_MAX) return { handled, errno: 'EINVAL' };
      const dev = this.core.deviceOf(BigInt(vdevId));
      if (dev === null) return { handled, errno: 'EINVAL' };
      const st = this.devState(dev);
      if (flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) st.cache.fill(0);
      else st.cache[cacheId] = 0;
      handled++;
    }
    return { handled };
  }
}

/**
 * mock_viommu_init: optional driver data (type must be the vIOMMU type, at least up to
 * out_data, at most the 24-byte struct: EINVAL); out_data echoes in_data and a two-page mmap
 * region whose first word is in_data is published (the core gives it its offset).
 */
export function initMockViommu(
  unit: IommuUnit,
  data: UserData | null,
  core: ViommuCore,
  devState: (dev: UnitDevice) => MockDevState,
  nestedFactory: (flags: number, data: UserData, viommu: MockViommuDriver) => Result<NestedDomain>,
): Result<ViommuDriver> {
  let inData: number | null = null;
  if (data !== null) {
    const cfg = copyUserData(data, IOMMU_VIOMMU_TYPE_SELFTEST, VIOMMU_SELFTEST_BYTES, VIOMMU_SELFTEST_MIN_BYTES);
    if (!cfg.ok) return cfg;
    inData = u32(cfg.value, 0);
  }
  return ok(new MockViommuDriver(unit, core, devState, nestedFactory, inData));
}

/**
 * IOMMU_TEST_OP_TRIGGER_VEVENT: ENOENT unless the device attached to a nested domain of a
 * vIOMMU with a non-zero virt_id; then the event {virt_id u32} goes to the vIOMMU's
 * SELFTEST vEVENTQ (EOPNOTSUPP without one).
 */
export function triggerMockVevent(st: MockDevState): Errno | null {
  if (st.viommu === null || st.vdevId === 0n) return 'ENOENT';
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, Number(BigInt.asUintN(32, st.vdevId)), true);
  return st.viommu.core.reportEvent(IOMMU_VEVENTQ_TYPE_SELFTEST, payload);
}
