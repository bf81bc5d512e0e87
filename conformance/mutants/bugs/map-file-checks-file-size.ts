/**
 * IOMMU_IOAS_MAP_FILE that checks the file's size up front and refuses a range past its end with
 * EINVAL, before the IOVA is allocated and whether or not anything would pin the pages: Linux
 * looks at the size only when pages are pinned, so an IOVA conflict is EEXIST first and a map
 * into an IOAS without a domain succeeds.
 */
import { IommufdContext } from '../../../reference/iommufd/context.ts';
import { UapiError } from '../../../reference/iommufd/errors.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const mapFileChecksFileSize: Mutant = {
  name: 'map-file-checks-file-size',
  models: 'MAP_FILE refuses a range past the end of the file at once (EINVAL), not when pinning',
  violates: ['IOAS-MAPFILE-2'],
  areas: ['ioas/map-file/*'],
  install: () => Patches.install((p) => p.method(IommufdContext.prototype, 'ioasMapFile', (original) => function (this: IommufdContext, a: Record<string, bigint>) {
    const file = this.machine.files.get(Number(BigInt.asIntN(32, a.fd ?? 0n)));
    // BUG: the size check belongs to the pin, not to the map.
    if (file !== undefined && a.length !== 0n && a.start + a.length > BigInt(file.sizeBytes)) throw new UapiError('EINVAL', 'past the end of the file');
    return original.call(this, a);
  })),
};
