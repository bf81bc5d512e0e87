/**
 * Dirty tracking that takes the wrong bit for VT-d second-stage D: bit 10 instead of bit 9, set
 * by the simulated hardware and read and cleared by the walker at the same wrong place. The
 * dirty bitmap comes out right; the words in memory do not match what SSADE hardware writes.
 */
import { bitSwap, installFormatRewrite } from '../format-patch.ts';
import type { Mutant } from '../mutant.ts';

export const vtdssDirtyBitMoved: Mutant = {
  name: 'vtdss-dirty-bit-moved',
  models: 'VT-d second-stage D (dirty) at bit 10 instead of bit 9 (hardware model and walker agree)',
  violates: ['HW-PTE-DIRTY-1'],
  areas: ['hw/*', 'hwpt/dirty/*'],
  install: () => installFormatRewrite('vtd-ss', bitSwap(9, 10)),
};
