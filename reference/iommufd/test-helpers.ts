/**
 * Helpers the engine's unit tests (and the benchmarks) share: handler arguments as bigints, a
 * call's errno (or 'OK') so that a test can assert the kernel's answer in one expression, and a
 * mock domain of the selftest's huge-page table type attached to an IOAS.
 */
import { IOMMU_HWPT_DATA_SELFTEST, MOCK_IOMMUPT_HUGE } from '../iommu/mock.ts';
import type { IommufdContext } from './context.ts';
import { attachDevice, bindDevice } from './device.ts';
import { UapiError } from './errors.ts';
import { createHwptPaging } from './hwpt.ts';

/** Handler arguments: every integer a bigint, as dispatch hands them over. */
export const big = (o: Record<string, number | bigint>): Record<string, bigint> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, BigInt(v)]));

/** The errno a call fails with, or 'OK'; anything but a UapiError is rethrown. */
export const errnoOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof UapiError) return e.errno;
    throw e;
  }
  return 'OK';
};

/**
 * Binds `device` and attaches it to a new paging HWPT of type MOCK_IOMMUPT_HUGE (2 MiB-capable
 * IOPTEs over a 56-bit aperture) on IOAS `ioasId`.
 */
export function attachHugeMockDomain(ctx: IommufdContext, ioasId: number, device: string): void {
  const data = new Uint8Array(8);
  data[4] = MOCK_IOMMUPT_HUGE;
  const dev = bindDevice(ctx, device);
  const hwpt = createHwptPaging(ctx, ctx.table.ioas(ioasId), dev, 0, { type: IOMMU_HWPT_DATA_SELFTEST, lengthBytes: 8, bytes: data });
  ctx.table.add(hwpt);
  attachDevice(ctx, dev, hwpt.id, 0, false);
}
