/**
 * IOMMU_DESTROY of an IOAS does not look at its users: an IOAS still used by a HWPT, a device's
 * automatic domain or an access is torn down (every area unmapped, the ID freed) instead of
 * failing with EBUSY. The users keep pointing at the orphaned io_pagetable.
 */
import { IommufdContext } from '../../../reference/iommufd/context.ts';
import type { Args, Out } from '../../../reference/iommufd/hwpt.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const destroyIoasIgnoresUsers: Mutant = {
  name: 'destroy-ioas-ignores-users',
  models: 'IOMMU_DESTROY of a referenced IOAS succeeds (no EBUSY)',
  violates: ['GEN-DESTROY-2', 'IOAS-DESTROY-1', 'ACCESS-1'],
  areas: ['general/destroy/*', 'ioas/lifetime/*', 'access/lifetime/*', 'devices/*'],
  install: () => Patches.install((p) => p.method(IommufdContext.prototype, 'destroy', (original) => function (this: IommufdContext, a: Args): Out {
    const obj = this.table.find(Number(a.id));
    if (obj.kind !== 'IOAS' || obj.users === 0) return original.call(this, a) as Out;
    // BUG: the users check is missing for IOAS objects.
    (this as unknown as { destroyObject(o: typeof obj): void }).destroyObject(obj);
    return {};
  })),
};
