/**
 * UNMAP of a range that cuts through an area removes the whole area (VFIO type1 v1 semantics)
 * instead of failing with ENOENT: the caller loses more than it asked to unmap.
 */
import { IoPagetable } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const unmapPartialSucceeds: Mutant = {
  name: 'unmap-partial-succeeds',
  models: 'UNMAP of a partly covered area unmaps the whole area instead of ENOENT',
  violates: ['IOAS-UNMAP-6'],
  areas: ['ioas/unmap/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'unmapRange', (original) => function (this: IoPagetable, start: bigint, last: bigint) {
    // BUG: the range grows to the areas it touches instead of stopping at a crossing edge.
    const touched = this.areasIn(start, last);
    const lo = touched.length > 0 && touched[0].start < start ? touched[0].start : start;
    const hi = touched.length > 0 && touched[touched.length - 1].last > last ? touched[touched.length - 1].last : last;
    return original.call(this, lo, hi) as ReturnType<IoPagetable['unmapRange']>;
  })),
};
