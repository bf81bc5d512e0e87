/**
 * Closing an access file descriptor (IOMMU_TEST_OP_CREATE_ACCESS) destroys the access without
 * first dropping what it pinned, as a release op that forgets iommufd_test_access_unmap would:
 * the pages stay pinned after the fd is gone.
 */
import type { AccessObject } from '../../../reference/iommufd/access.ts';
import { IommufdContext } from '../../../reference/iommufd/context.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const accessFdCloseKeepsPins: Mutant = {
  name: 'access-fd-close-keeps-pins',
  models: 'the access fd\'s release destroys the access but leaves its pinned pages pinned',
  violates: ['STCMD-ACCESS-3'],
  areas: ['selftest-cmd/*'],
  install: () => Patches.install((p) => p.method(IommufdContext.prototype, 'closeAccessFd', () => function (this: IommufdContext, fd: number): void {
    const access = this.accessFds.get(fd) as AccessObject;
    this.accessFds.delete(fd);
    // BUG: the pin items are forgotten, not unpinned.
    access.items.clear();
    this.destroyAccess(access);
  })),
};
