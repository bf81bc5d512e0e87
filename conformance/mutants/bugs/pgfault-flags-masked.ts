/**
 * The fault fd hands out only the flags the uAPI names (PASID_VALID, LAST_PAGE) instead of the
 * driver's flags as they are: a VT-d request with a PASID reads 0x3 where Linux gives 0x7
 * (iommufd_compose_fault_message copies prm.flags, NEEDS_PASID included).
 */
import { FaultObject, PGFAULT_BYTES } from '../../../reference/iommufd/fault.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const pgfaultFlagsMasked: Mutant = {
  name: 'pgfault-flags-masked',
  models: 'struct iommu_hwpt_pgfault.flags masked to the two uAPI flags',
  violates: ['FAULT-IOPF-VTD-1'],
  areas: ['fault/iopf/*'],
  install: () => Patches.install((p) => p.method(FaultObject.prototype, 'read', (original) => function (this: FaultObject, countBytes: number): Uint8Array {
    const out = original.call(this, countBytes) as Uint8Array;
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    // BUG: the driver's other flag bits are dropped.
    for (let at = 0; at < out.length; at += PGFAULT_BYTES) dv.setUint32(at, dv.getUint32(at, true) & 0x3, true);
    return out;
  })),
};
