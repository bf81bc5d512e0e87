/**
 * An SMMUv3 stall reported with the faulting page's address, as a PCIe page request would be,
 * instead of the event's input address as it is (arm_smmu_handle_event: addr = EVTQ_2_ADDR).
 * Seeded where the fault fd hands records out: every address loses its low 12 bits.
 */
import { FaultObject, PGFAULT_BYTES } from '../../../reference/iommufd/fault.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const stallAddressPageAligned: Mutant = {
  name: 'stall-address-page-aligned',
  models: 'an SMMUv3 stall reports the 4 KiB page of the faulting address, not the address',
  violates: ['FAULT-IOPF-SMMU-1'],
  areas: ['fault/iopf/smmuv3-*'],
  install: () => Patches.install((p) => p.method(FaultObject.prototype, 'read', (original) => function (this: FaultObject, countBytes: number): Uint8Array {
    const out = original.call(this, countBytes) as Uint8Array;
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    // BUG: the address is rounded down to its page.
    for (let at = 0; at < out.length; at += PGFAULT_BYTES) dv.setUint32(at + 24, dv.getUint32(at + 24, true) & ~0xfff, true);
    return out;
  })),
};
