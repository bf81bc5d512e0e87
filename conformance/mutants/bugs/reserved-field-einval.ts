/**
 * A non-zero `__reserved` field is refused with EINVAL, the errno most ports reach for, instead
 * of EOPNOTSUPP, which Linux returns for every "field the kernel does not support" so that
 * userspace can tell an old kernel from a bad argument.
 */
import { IommufdContext } from '../../../reference/iommufd/context.ts';
import { fail } from '../../../reference/iommufd/errors.ts';
import type { Args, Out } from '../../../reference/iommufd/hwpt.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

/** The IommufdContext handlers whose struct has a `__reserved` field. */
const WITH_RESERVED = ['ioasMap', 'iovaRanges', 'allowIovas', 'option', 'vfioIoasCmd', 'changeProcess'] as const;

export const reservedFieldEinval: Mutant = {
  name: 'reserved-field-einval',
  models: 'a non-zero __reserved answers EINVAL instead of EOPNOTSUPP',
  violates: ['GEN-ERRNO-1', 'IOAS-MAP-1', 'IOAS-RANGES-1', 'IOAS-ALLOW-1', 'OPT-1', 'VFIO-IOAS-1'],
  areas: ['ioas/*', 'options/*', 'vfio-compat/vfio-ioas/*', 'general/*'],
  install: () => Patches.install((p) => {
    for (const name of WITH_RESERVED) {
      p.method(IommufdContext.prototype, name, (original) => function (this: IommufdContext, a: Args): Out {
        if (a.__reserved !== 0n) fail('EINVAL', '__reserved'); // BUG: Linux says EOPNOTSUPP
        return original.call(this, a) as Out;
      });
    }
  }),
};
