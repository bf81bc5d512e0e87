/**
 * An in-kernel access (e.g. a mediated driver) ignores the unmap notification: UNMAP of an area
 * it pins can never make progress and fails with EDEADLOCK, where Linux's selftest access drops
 * its pins and lets the unmap finish.
 */
import { AccessObject } from '../../../reference/iommufd/access.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const accessIgnoresUnmap: Mutant = {
  name: 'access-ignores-unmap',
  models: 'the access unmap callback does not unpin: UNMAP over an access pin fails (EDEADLOCK)',
  violates: ['ACCESS-PIN-2'],
  areas: ['access/*'],
  install: () => Patches.install((p) => p.method(AccessObject.prototype, 'notifyUnmap', () => function (this: AccessObject, _iova: bigint, _lengthBytes: bigint): void {
    // BUG: the pins in the range are kept.
  })),
};
