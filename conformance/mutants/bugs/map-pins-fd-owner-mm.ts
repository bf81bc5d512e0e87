/**
 * IOMMU_IOAS_MAP records the process that opened /dev/iommu as the owner of the new page store
 * instead of the process that made the call: a port that keeps one mm per context. A MAP by a
 * forked child then pins from, and charges, the parent.
 */
import { IommufdContext } from '../../../reference/iommufd/context.ts';
import type { Args, Out } from '../../../reference/iommufd/hwpt.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const mapPinsFdOwnerMm: Mutant = {
  name: 'map-pins-fd-owner-mm',
  models: "MAP pins from and charges the fd opener's mm, not the calling process's",
  violates: ['ACCT-PROC-1', 'ACCT-PROC-2'],
  areas: ['ioas/fork/*'],
  install: () => Patches.install((p) => p.method(IommufdContext.prototype, 'ioasMap', (original) => function (this: IommufdContext, a: Args): Out {
    const caller = this.machine.current;
    // BUG: the store is built as if the initial process (the fd's opener) had called.
    this.machine.current = this.machine.initial;
    try {
      return original.call(this, a) as Out;
    } finally {
      this.machine.current = caller;
    }
  })),
};
