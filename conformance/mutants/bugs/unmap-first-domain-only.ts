/**
 * UNMAP clears the IOPTEs of the first domain of the IOAS only (a `break` left in the domain
 * loop): with two domains the second one keeps translating the unmapped IOVA.
 */
import type { PagingDomain } from '../../../reference/iommufd/domain.ts';
import { IoPagetable, type Area } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const unmapFirstDomainOnly: Mutant = {
  name: 'unmap-first-domain-only',
  models: 'an unmapped area stays mapped in every domain but the first (stale PTE in domain 2)',
  violates: ['IOAS-UNMAP-7', 'DEV-DMA-1'],
  areas: ['ioas/unmap/*', 'devices/dma/*', 'ioas/copy/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'dismantleArea', (original) => function (this: IoPagetable, a: Area): void {
    const domains = this.domains as PagingDomain[];
    const rest = domains.splice(1); // BUG: only the first domain is walked
    try {
      original.call(this, a);
    } finally {
      domains.push(...rest);
    }
  })),
};
