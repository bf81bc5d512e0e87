/**
 * IOMMU_IOAS_IOVA_RANGES fails with EMSGSIZE when the caller's array is too small but does not
 * copy the struct back, so `num_iovas` keeps the caller's capacity instead of telling it how
 * many entries it needs (the "probe with 0, then allocate" idiom breaks).
 */
import { IommufdContext } from '../../../reference/iommufd/context.ts';
import { UapiError } from '../../../reference/iommufd/errors.ts';
import type { Args, Out } from '../../../reference/iommufd/hwpt.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const iovaRangesNoCount: Mutant = {
  name: 'iova-ranges-no-count',
  models: 'IOVA_RANGES answers EMSGSIZE without writing back the needed num_iovas',
  violates: ['IOAS-RANGES-4'],
  areas: ['ioas/iova-ranges/*'],
  install: () => Patches.install((p) => p.method(IommufdContext.prototype, 'iovaRanges', (original) => function (this: IommufdContext, a: Args): Out {
    try {
      return original.call(this, a) as Out;
    } catch (e) {
      // BUG: the error path returns before copy_to_user of the struct.
      if (e instanceof UapiError && e.errno === 'EMSGSIZE') throw new UapiError('EMSGSIZE', 'more ranges than room');
      throw e;
    }
  })),
};
