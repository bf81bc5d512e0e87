/**
 * The kernel test ops (drivers/iommu/iommufd/selftest.c) that both the protocol's separate test
 * hooks (ADD_RESERVED, CREATE_ACCESS, ACCESS_PIN, ACCESS_REPLACE_IOAS, SET_TEMP_MEMORY_LIMIT,
 * TRIGGER_VEVENT, MOCK_DEV_CACHE) and the one IOMMU_TEST_CMD hook (selftest-cmd.ts) run, so the
 * two paths cannot drift apart. Each checks in selftest.c's order and changes nothing when it
 * fails.
 */

import { AdapterError, RPC_INVALID_PARAMS } from '../../schemas/lib/adapter.ts';
import { MockUnit } from '../iommu/mock.ts';
import { triggerMockVevent } from '../iommu/mock-viommu.ts';
import { ACCESS_NEEDS_PIN_PAGES, ACCESS_PAGES_MAX_BYTES, AccessObject } from './access.ts';
import type { IommufdContext } from './context.ts';
import { check, fail } from './errors.ts';
import { ULONG_MAX } from './io-pagetable.ts';
import type { DeviceObject } from './objects.ts';

/** sizeof(unsigned long) + sizeof(u32) on a 64-bit kernel: one pfn_batch element. */
export const PFN_BATCH_ELEMENT_BYTES = 12;

/** iommufd_test_add_reserved: EINVAL for length 0, EOVERFLOW past ULONG_MAX, then the IOAS. */
export function addReserved(ctx: IommufdContext, ioasId: number, start: bigint, length: bigint): void {
  check(length !== 0n, 'EINVAL', 'length 0');
  check(start + length - 1n <= ULONG_MAX, 'EOVERFLOW', 'start + length');
  ctx.table.ioas(ioasId).iopt.reserve(start, start + length - 1n, null);
}

/**
 * iommufd_test_create_access up to the attach: flags (EOPNOTSUPP), the allocations, the IOAS
 * (ENOENT). `firstItemId` numbers its pin items (AccessObject).
 */
export function createAccess(ctx: IommufdContext, ioasId: number, flags: number, firstItemId = 1): AccessObject {
  check((flags & ~ACCESS_NEEDS_PIN_PAGES) === 0, 'EOPNOTSUPP', 'flags');
  const ioas = ctx.table.ioas(ioasId);
  // The selftest_access, its file, the fd and the access object are allocated before anything
  // is attached: one injection point for them.
  ctx.machine.failNth.point('access object');
  const access = new AccessObject(flags, ctx.machine.memory, firstItemId);
  ioas.iopt.addAccess(access);
  access.ioas = ioas;
  ioas.users++;
  ctx.table.add(access);
  return access;
}

/** The 16 MiB cap iommufd_test_access_pages and _access_rw put on a length before anything else (ENOMEM). */
export function checkAccessLength(lengthBytes: bigint): void {
  check(lengthBytes <= BigInt(ACCESS_PAGES_MAX_BYTES), 'ENOMEM', 'more than 16 MiB');
}

/** iommufd_access_replace: ENOENT for the IOAS; the same IOAS is a no-op; the old IOAS's pins are dropped. */
export function replaceAccessIoas(ctx: IommufdContext, access: AccessObject, ioasId: number): void {
  const ioas = ctx.table.ioas(ioasId);
  if (access.ioas === ioas) return;
  ioas.iopt.addAccess(access);
  access.notifyUnmap(0n, ULONG_MAX);
  if (access.ioas !== null) {
    access.ioas.iopt.removeAccess(access);
    access.ioas.users--;
  }
  access.ioas = ioas;
  ioas.users++;
}

/**
 * IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT: the limit must hold one pfn_batch element. The kernel
 * keeps the value in iommufd_test_memory_limit, which only sizes the temporary pfn_batch and
 * page-list buffers of pages.c; every user of them loops in chunks, so no result, errno, pin or
 * charge depends on it and the reference does not keep it.
 */
export function setTempMemoryLimit(limitBytes: number): void {
  check(limitBytes >= PFN_BATCH_ELEMENT_BYTES, 'EINVAL', 'limit below one pfn_batch element');
}

/** The mock driver behind `dev`; a device of another model is the caller's error (the ops are the mock's). */
export function mockUnitOf(dev: DeviceObject, op: string): MockUnit {
  const unit = dev.dev.unit;
  if (!(unit instanceof MockUnit)) throw new AdapterError(RPC_INVALID_PARAMS, `${op} is the mock driver's: device ${dev.id} is on a ${unit.model} unit`);
  return unit;
}

/** IOMMU_TEST_OP_TRIGGER_VEVENT on a mock device (mock-viommu.ts). */
export function triggerVevent(dev: DeviceObject): void {
  const errno = triggerMockVevent(mockUnitOf(dev, 'TRIGGER_VEVENT').devState(dev.dev));
  if (errno !== null) fail(errno);
}

/** The mock device's cache slots (IOMMU_TEST_OP_DEV_CHECK_CACHE reads one). */
export function mockDevCache(dev: DeviceObject): number[] {
  return [...mockUnitOf(dev, 'DEV_CHECK_CACHE').devState(dev.dev).cache];
}
