/**
 * Object IDs come from a cyclic allocator (idr_alloc_cyclic / a counter) instead of an xarray
 * with lowest-free allocation: a destroyed ID is never handed out again.
 */
import { ObjectTable, type IommufdObject } from '../../../reference/iommufd/objects.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const idsNotReused: Mutant = {
  name: 'ids-not-reused',
  models: 'a new object gets the next never-used ID, not the lowest free one',
  violates: ['GEN-ID-2'],
  areas: ['general/ids/*', 'general/destroy/*'],
  install: () => Patches.install((p) => p.method(ObjectTable.prototype, 'add', (original) => function (this: ObjectTable, obj: IommufdObject): number {
    const free = (this as unknown as { freeIds: number[] }).freeIds;
    const hidden = free.splice(0); // BUG: freed IDs are never looked at
    try {
      return original.call(this, obj) as number;
    } finally {
      free.push(...hidden);
    }
  })),
};
