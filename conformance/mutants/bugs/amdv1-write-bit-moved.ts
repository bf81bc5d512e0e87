/**
 * An AMD-Vi v1 encoder that writes IW at bit 63 (ignored) instead of bit 62, read back from the
 * same place: real hardware would AND a clear IW down the walk and refuse every DMA write.
 */
import { bitSwap, installFormatRewrite } from '../format-patch.ts';
import type { Mutant } from '../mutant.ts';

export const amdv1WriteBitMoved: Mutant = {
  name: 'amdv1-write-bit-moved',
  models: 'AMD-Vi v1 IW written at bit 63 instead of bit 62 (encoder and walker agree)',
  violates: ['HW-PTE-AMD-1'],
  areas: ['hw/*'],
  install: () => installFormatRewrite('amd-v1', bitSwap(62, 63)),
};
