/**
 * MAP with FIXED_IOVA accepts an IOVA that is not a multiple of the IOAS alignment (the check
 * was written for automatic allocation only), so an area can start in the middle of a domain's
 * smallest page.
 */
import { IoPagetable } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const fixedIovaAlignmentUnchecked: Mutant = {
  name: 'fixed-iova-alignment-unchecked',
  models: 'a FIXED_IOVA that is not aligned to the IOAS alignment is accepted',
  violates: ['IOAS-MAP-FIXED-1'],
  areas: ['ioas/map-fixed/*', 'options/huge-pages/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'checkFixedIova', (original) => function (this: IoPagetable, iova: bigint, length: bigint): bigint {
    const align = this.iovaAlignment;
    this.iovaAlignment = 1; // BUG: the alignment test is skipped; the other checks still run
    try {
      return original.call(this, iova, length) as bigint;
    } finally {
      this.iovaAlignment = align;
    }
  })),
};
