/**
 * An Arm stage-1 encoder that exchanges AP[2] (bit 7, read-only) and AP[1] (bit 6, unprivileged
 * access), consistently with its walker: read-only leaves say "privileged only, writable" to
 * the SMMU and writeable ones "read-only".
 */
import { bitSwap, installFormatRewrite } from '../format-patch.ts';
import type { Mutant } from '../mutant.ts';

export const armS1ApBitsSwapped: Mutant = {
  name: 'arm-s1-ap-bits-swapped',
  models: 'Arm stage-1 AP[2] and AP[1] exchanged (encoder and walker agree)',
  violates: ['HW-PTE-ARM-1'],
  areas: ['hw/*'],
  install: () => installFormatRewrite('arm-lpae-s1', bitSwap(6, 7)),
};
