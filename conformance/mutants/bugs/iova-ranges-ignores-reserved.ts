/**
 * IOMMU_IOAS_IOVA_RANGES reports the allowed list (or the whole address space) without cutting
 * out the reserved ranges — a domain's aperture, a device's MSI window — so userspace picks
 * IOVAs that MAP will then refuse.
 */
import { IoPagetable, ULONG_MAX, type IovaRange } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const iovaRangesIgnoresReserved: Mutant = {
  name: 'iova-ranges-ignores-reserved',
  models: 'IOVA_RANGES always reports [0, ULONG_MAX]: reserved ranges are not holes',
  violates: ['IOAS-RANGES-3', 'IOAS-RANGES-5', 'IOAS-RESV-2'],
  areas: ['ioas/iova-ranges/*', 'ioas/reserved/*', 'vfio-compat/get-info/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'iovaRanges', () => function (this: IoPagetable): IovaRange[] {
    return [{ start: 0n, last: ULONG_MAX }]; // BUG: this.reserved is not consulted
  })),
};
