/**
 * IOMMU_IOAS_CHANGE_PROCESS checks the areas and returns success without moving anything: the
 * single-process implementation, where the caller is always the owner. Charges stay with the
 * old process after another one called it.
 */
import { check } from '../../../reference/iommufd/errors.ts';
import { IommufdContext } from '../../../reference/iommufd/context.ts';
import type { Args, Out } from '../../../reference/iommufd/hwpt.ts';
import type { IoasObject } from '../../../reference/iommufd/objects.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const changeProcessIgnoresCaller: Mutant = {
  name: 'change-process-ignores-caller',
  models: 'CHANGE_PROCESS validates the areas but moves no charge to the calling process',
  violates: ['ACCT-PROC-4'],
  areas: ['accounting/change-process/*'],
  install: () => Patches.install((p) => p.method(IommufdContext.prototype, 'changeProcess', () => function (this: IommufdContext, a: Args): Out {
    check(a.__reserved === 0n, 'EOPNOTSUPP', '__reserved');
    for (const o of this.table.all()) {
      if (o.kind !== 'IOAS') continue;
      // BUG: after these checks nothing is charged, uncharged or re-pointed.
      for (const area of (o as IoasObject).iopt.areas) check(area.pages.source.kind === 'file', 'EINVAL', 'an area is not file-backed');
    }
    return {};
  })),
};
