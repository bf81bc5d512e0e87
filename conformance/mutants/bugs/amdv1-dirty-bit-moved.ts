/**
 * AMD-Vi v1 dirty tracking on the wrong bit: D kept in bit 7 (ignored by the hardware) instead of
 * bit 6, set by the simulated IOMMU and read and cleared by the walker at the same place. The
 * dirty bitmap comes out right; the PTEs do not hold what HAD=11b hardware writes.
 */
import { bitSwap, installFormatRewrite } from '../format-patch.ts';
import type { Mutant } from '../mutant.ts';

export const amdv1DirtyBitMoved: Mutant = {
  name: 'amdv1-dirty-bit-moved',
  models: 'AMD-Vi v1 D (dirty) at bit 7 instead of bit 6 (hardware model and walker agree)',
  violates: ['HW-PTE-DIRTY-1'],
  areas: ['hw/*', 'hwpt/dirty/*'],
  install: () => installFormatRewrite('amd-v1', bitSwap(6, 7)),
};
