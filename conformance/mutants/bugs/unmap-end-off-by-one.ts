/**
 * UNMAP takes `iova + length` as the range's last byte instead of `iova + length − 1` (the
 * classic end/last confusion), so the range reaches one byte into whatever follows it: an area
 * starting right after the range is then "partly covered" and the walk stops with ENOENT, after
 * the areas before it were already removed.
 */
import { check, UapiError } from '../../../reference/iommufd/errors.ts';
import { IoPagetable, ULONG_MAX } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const unmapEndOffByOne: Mutant = {
  name: 'unmap-end-off-by-one',
  models: 'IOMMU_IOAS_UNMAP computes last = iova + length (one byte, hence one page, too many)',
  violates: ['IOAS-UNMAP-7', 'IOAS-UNMAP-6'],
  areas: ['ioas/unmap/*', 'ioas/map/*', 'ioas/copy/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'unmap', () => function (this: IoPagetable, iova: bigint, length: bigint): bigint {
    check(length !== 0n, 'EINVAL', 'length 0');
    check(iova + length - 1n <= ULONG_MAX, 'EOVERFLOW', 'iova + length overflows');
    const last = iova + length > ULONG_MAX ? ULONG_MAX : iova + length; // BUG: should be iova + length - 1
    const r = this.unmapRange(iova, last);
    if (r.errno !== undefined) throw new UapiError(r.errno, 'unmap');
    return r.unmappedBytes;
  })),
};
