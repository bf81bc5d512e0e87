/**
 * Automatic IOVA allocation searches the whole address space and never looks at the list set
 * by IOMMU_IOAS_ALLOW_IOVAS: the kernel may hand out IOVAs userspace said it cannot use.
 */
import { IoPagetable, type IovaRange } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const autoIovaIgnoresAllowed: Mutant = {
  name: 'auto-iova-ignores-allowed',
  models: 'automatic IOVA allocation ignores the ALLOW_IOVAS list',
  violates: ['IOAS-ALLOW-7'],
  areas: ['ioas/allow/*', 'ioas/map-auto/*', 'ioas/copy/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'allocIova', (original) => function (this: IoPagetable, addr: bigint, length: bigint): bigint {
    const allowed: IovaRange[] = this.allowed;
    this.allowed = []; // BUG: the allowed list is not consulted
    try {
      return original.call(this, addr, length) as bigint;
    } finally {
      this.allowed = allowed;
    }
  })),
};
